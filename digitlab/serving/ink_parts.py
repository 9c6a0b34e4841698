"""A wide drawing's ink cut into parts: pen strokes or connected components, marks told from digits, crops.

The canvas's pen strokes are parts where it sends them (strokes of different digits may cross; their
pixels still belong to their own stroke); photos and files give connected ink components. Strokes whose
inks touch share a source, as the pieces of one cut component do (digitlab/serving/seams.py). Flat or
small parts beside the digits (a dash, a dot) are marks; marks over a digit (a 5's hat, a 7's crossbar)
stay with it. A group of parts is cut out as one digit's image for preprocessing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from digitlab.serving.ink import INK_THRESHOLD

MARK_HEIGHT = 0.45  # a part this much shorter than the digits is a mark unless it sits over a digit
MARK_OVERLAP = 0.3  # share of a mark's width over a digit's ink that makes it part of that digit
HAT_GAP = 0.12  # a flat mark this close (in digit heights) to a digit's top or foot is part of it
PAD = 4  # pixels of empty border around a digit's crop, so preprocessing sees the background
# Bounds on the work one image can cause (uploads come from anonymous visitors): pieces of ink read,
# and the smallest component looked at.
MAX_PARTS = 60
MIN_COMPONENT_PIXELS = 4


@dataclass(frozen=True)
class Stroke:
    """One pen stroke in image pixels: the path's points (n, 2) as x, y and the pen's width."""

    points: np.ndarray
    width: float


@dataclass
class Part:
    """A piece of ink: its mask over a box of the image (a stroke, a component, or a slice of one)."""

    x0: int
    y0: int
    mask: np.ndarray  # bool (h, w)
    source: int  # parts cut from the same ink share a source
    cuts: list[int] = field(default_factory=list)  # image columns where this part may be cut

    @property
    def x1(self) -> int:
        return self.x0 + self.mask.shape[1]

    @property
    def y1(self) -> int:
        return self.y0 + self.mask.shape[0]

    @property
    def height(self) -> int:
        return self.mask.shape[0]

    @property
    def width(self) -> int:
        return self.mask.shape[1]


def component_parts(ink: np.ndarray) -> list[Part] | None:
    """Connected ink (8-neighbours) as parts, leaving out specks; None when there are too many to read."""
    from scipy import ndimage

    labels, count = ndimage.label(ink > INK_THRESHOLD, structure=np.ones((3, 3), bool))
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    sizeable = np.flatnonzero(areas >= MIN_COMPONENT_PIXELS)
    sizeable = sizeable[sizeable > 0]  # label 0 is the background
    if len(sizeable) > 2 * MAX_PARTS:  # a texture or noise, not handwriting; stop before the work grows
        return None
    boxes = ndimage.find_objects(labels)
    return [Part(boxes[label - 1][1].start, boxes[label - 1][0].start, labels[boxes[label - 1]] == label,
                  source=int(label)) for label in sizeable]


def stroke_parts(ink: np.ndarray, strokes: list[Stroke]) -> list[Part]:
    """Each stroke as a part: the pixels under its pen (widened by a pixel for antialiasing)."""
    from PIL import Image, ImageDraw

    height, width = ink.shape
    parts = []
    for index, stroke in enumerate(strokes):
        points = np.asarray(stroke.points, np.float64).reshape(-1, 2)
        if len(points) == 0 or not np.isfinite(points).all():
            continue
        reach = stroke.width / 2 + 1
        x0, y0 = (int(max(0, math.floor(v))) for v in points.min(axis=0) - reach)
        x1, y1 = int(min(width, math.ceil(points[:, 0].max() + reach))), int(min(height, math.ceil(points[:, 1].max() + reach)))
        if x1 <= x0 or y1 <= y0:
            continue
        canvas = Image.new("1", (x1 - x0, y1 - y0), 0)
        draw = ImageDraw.Draw(canvas)
        local = [tuple(p) for p in (points - (x0, y0)).tolist()]
        pen = max(1, round(stroke.width + 2))  # a pixel wider each side: the mask only picks out ink
        if len(local) > 1:
            draw.line(local, fill=1, width=pen)  # no round joints: they cost more than the rest of the read
        for x, y in (local[0], local[-1]):
            draw.ellipse((x - pen / 2, y - pen / 2, x + pen / 2, y + pen / 2), fill=1)
        mask = np.asarray(canvas, bool) & (ink[y0:y1, x0:x1] > INK_THRESHOLD)
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        if rows.size == 0:
            continue  # a stroke the image does not show (erased, or off the canvas)
        mask = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        parts.append(Part(x0 + int(cols[0]), y0 + int(rows[0]), mask, source=index))
    return parts


def sourced_by_ink(ink: np.ndarray, parts: list[Part]) -> list[Part]:
    """Strokes whose inks touch share a source, as the pieces of one cut component do: telling them
    apart as digits then costs a cut. Strokes are the better guide to which ink is which digit, but
    the strokes of one digit (a 4's two, a 0 in two halves) usually touch and those of neighbours
    seldom do, so splitting touching strokes must make the digits more probable to be chosen."""
    from scipy import ndimage

    labels, _ = ndimage.label(ink > INK_THRESHOLD, structure=np.ones((3, 3), bool))
    for part in parts:
        under = labels[part.y0 : part.y1, part.x0 : part.x1][part.mask]
        under = under[under > 0]
        part.source = -1 - int(np.bincount(under).argmax()) if under.size else part.source
    return parts


def writing_digit_height(parts: list[Part]) -> float:
    """The writing's digit height: the median height of the taller parts (hats and dots are short)."""
    heights = np.array([part.height for part in parts], float)
    tall = heights[heights >= 0.5 * heights.max()]
    return float(np.median(tall))


def separate_marks(parts: list[Part], digit_height: float) -> tuple[list[Part], list[Part]]:
    """(marks, digit parts): short parts are marks unless they sit over a digit or at its top or foot."""
    tall = [part for part in parts if part.height >= MARK_HEIGHT * digit_height]
    marks, kept = [], []
    for part in parts:
        if part.height >= MARK_HEIGHT * digit_height:
            kept.append(part)
            continue
        over = max((min(part.x1, other.x1) - max(part.x0, other.x0) for other in tall), default=0)
        # A 5's hat drawn off to the side, a 1's base: next to a digit, level with its top or bottom.
        hat = any(_gap(part, other) <= HAT_GAP * digit_height
                  and (part.y1 <= other.y0 + 0.35 * other.height or part.y0 >= other.y1 - 0.35 * other.height)
                  for other in tall)
        (kept if over >= MARK_OVERLAP * part.width or hat else marks).append(part)
    return marks, kept


def _gap(a: Part, b: Part) -> int:
    return max(a.x0, b.x0) - min(a.x1, b.x1)


def box_height(parts: list[Part]) -> int:
    return max(p.y1 for p in parts) - min(p.y0 for p in parts)


def box_of(parts: list[Part]) -> tuple[int, int, int, int]:
    return (min(p.x0 for p in parts), min(p.y0 for p in parts), max(p.x1 for p in parts), max(p.y1 for p in parts))


def digit_crop(ink: np.ndarray, parts: list[Part], keep_faint: bool) -> np.ndarray:
    """The parts' ink alone, cut out with an empty border, as a uint8 image for preprocessing.

    keep_faint keeps the faint antialiased edge pixels around components (below the ink threshold,
    so they belong to no component); other parts' ink inside the box is left out.
    """
    x0, y0, x1, y1 = box_of(parts)
    mine = np.zeros((y1 - y0, x1 - x0), bool)
    for part in parts:
        mine[part.y0 - y0 : part.y1 - y0, part.x0 - x0 : part.x1 - x0] |= part.mask
    window = ink[y0:y1, x0:x1]
    keep = mine | (window <= INK_THRESHOLD) if keep_faint else _grow(mine)
    crop = np.zeros((y1 - y0 + 2 * PAD, x1 - x0 + 2 * PAD), np.uint8)
    crop[PAD:-PAD, PAD:-PAD] = np.round(np.where(keep, window, 0.0) * 255)
    return crop


def _grow(mask: np.ndarray) -> np.ndarray:
    """A mask widened by one pixel each way, to take in the antialiased edge of a stroke."""
    grown = mask.copy()
    grown[1:, :] |= mask[:-1, :]
    grown[:-1, :] |= mask[1:, :]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown
