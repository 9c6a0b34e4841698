"""Where a wide piece of ink may be cut into digits: the seams, top to bottom, that cross least ink.

A part as wide as most digits is also offered cut along these seams, so touching digits are split by
the same search that groups separate parts ("23" written in one stroke reads better as a 2 and a 3
than as one digit). A seam may slant between digits that lean into each other.
"""

from __future__ import annotations

import numpy as np

from digitlab.serving.ink_parts import Part

CUT_FROM_WIDTH = 0.8  # parts at least this many digit heights wide are also offered cut in two or more
MIN_CUT_PIECE = 0.2  # a cut leaves at least this many digit heights of ink on each side
MAX_CUTS = 4  # seams offered as cuts per part
MIN_CUT_INK = 0.1  # and each side of it keeps at least this share of the part's ink
SEAM_STEP_COST = 0.05  # ink pixels a seam would rather cross than step one column sideways


def with_cuts(parts: list[Part], digit_height: float) -> list[Part]:
    """Parts wide enough to hold two digits, also offered as slices along the seams that cross least ink."""
    result = []
    for part in parts:
        if part.width < CUT_FROM_WIDTH * digit_height:
            result.append(part)
            continue
        margin = max(1, int(MIN_CUT_PIECE * digit_height))
        seams = cheapest_seams(part.mask, margin)
        columns = np.arange(part.width)[None, :]
        edges = [np.zeros(part.height, int), *seams, np.full(part.height, part.width)]
        for left, right in zip(edges, edges[1:]):
            piece = part.mask & (columns >= left[:, None]) & (columns < right[:, None])
            rows, cols = np.flatnonzero(piece.any(axis=1)), np.flatnonzero(piece.any(axis=0))
            if rows.size == 0:
                continue
            result.append(Part(part.x0 + int(cols[0]), part.y0 + int(rows[0]),
                                piece[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], part.source))
    return result


def cheapest_seams(mask: np.ndarray, margin: int) -> list[np.ndarray]:
    """Up to MAX_CUTS top-to-bottom paths through mask (a column per row) that cross the least ink.

    Touching or overlapping digits seldom meet along a straight column: a 4's bar reaches under the
    next digit, a 0 leans into a 6. A seam may step one column sideways per row (at a small cost, so
    it stays straight where nothing is in the way) and so slips between them, crossing ink only where
    they touch. Seams run (on average) at least margin columns from the sides and from each other.
    """
    height, width = mask.shape
    ink = mask.astype(np.float32)
    total = ink[0].copy()
    came_from = np.zeros((height, width), np.int8)  # -1, 0, +1: the column step taken into each cell
    from_left, from_right = np.full(width, np.inf, np.float32), np.full(width, np.inf, np.float32)
    for row in range(1, height):
        np.add(total[:-1], SEAM_STEP_COST, out=from_left[1:])
        np.add(total[1:], SEAM_STEP_COST, out=from_right[:-1])
        best = np.minimum(np.minimum(from_left, from_right), total)
        steps = came_from[row]  # ties keep the straight step
        steps[best < total] = 1
        steps[best == from_left] = -1
        steps[best == total] = 0
        total = best + ink[row]
    # Every bottom column's seam traced back to the top at once: paths[row, end] is its column there.
    paths = np.empty((height, width), int)
    paths[-1] = np.arange(width)
    for row in range(height - 1, 0, -1):
        paths[row - 1] = paths[row] + came_from[row, paths[row]]
    middles = paths.mean(axis=0)  # a slanted seam is judged by where it runs, not where it ends
    # A seam through empty paper beside slanted ink cuts nothing off; each side must keep some ink.
    ink_before = np.concatenate([np.zeros((height, 1)), np.cumsum(ink, axis=1)], axis=1)
    left_ink = ink_before[np.arange(height)[:, None], paths].sum(axis=0)
    all_ink = float(ink_before[:, -1].sum())
    least_ink = MIN_CUT_INK * all_ink
    chosen: list[int] = []
    for end in np.argsort(total, kind="stable"):
        if len(chosen) == MAX_CUTS:
            break
        if not (margin <= middles[end] <= width - margin and least_ink <= left_ink[end] <= all_ink - least_ink):
            continue
        window = total[max(0, end - 3) : end + 4]
        if total[end] <= window.min() and all(abs(middles[end] - middles[other]) >= margin for other in chosen):
            chosen.append(int(end))
    seams = [paths[:, end].copy() for end in sorted(chosen)]
    for before, after in zip(seams, seams[1:]):  # seams never cross: each stays right of the one before
        np.maximum(after, before, out=after)
    return seams
