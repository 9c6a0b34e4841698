"""A wide drawing or photo -> digit boxes -> a number.

The ink is cut into parts first: the canvas's pen strokes where it sends them (strokes of different
digits may cross; their pixels still belong to their own stroke), connected ink components for
photos and files. Parts are ordered left to right and grouped into digits by trying every grouping
of neighbouring parts that could be one digit, reading each group with the same preprocessing and
model as a single drawing, and keeping the grouping whose digits are most probable together. A part
as wide as most digits is also offered cut along the seams that cross least ink (a seam may slant
between digits that lean into each other), so touching digits are split by the same search: "23"
written in one stroke reads better as a 2 and a 3 than as one digit. Strokes whose inks touch pay
for being told apart as a cut does, since the strokes of one digit (a 4's two) usually touch and
those of neighbours seldom do. Flat or small marks beside the digits (a dash, a dot) are reported as
not digits; marks over a digit (a 5's hat, a 7's crossbar) stay with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from digitlab.serving.predictor import Prediction
from digitlab.serving.preprocess import INK_THRESHOLD, ink_of_image, preprocess

# The Draw page's number canvas, about 3.5:1: room for a year, a price or a house number, and narrow
# enough to fit whole beside the sidebar on a 1280 px wide screen (the page's main column is 820 px).
NUMBER_CANVAS_SIZE = (800, 230)  # width, height in canvas pixels
NOISE_SIZE = 0.08  # parts smaller than this share of the digit height, both ways, are specks, ignored
MARK_HEIGHT = 0.45  # a part this much shorter than the digits is a mark unless it sits over a digit
MARK_OVERLAP = 0.3  # share of a mark's width over a digit's ink that makes it part of that digit
HAT_GAP = 0.12  # a flat mark this close (in digit heights) to a digit's top or foot is part of it
MAX_DIGIT_WIDTH = 1.45  # a group wider than this many digit heights is never one digit
SIDE_BY_SIDE = 0.25  # inks overlapping less than this share of the narrower one lie side by side
CUT_FROM_WIDTH = 0.8  # parts at least this many digit heights wide are also offered cut in two or more
MIN_CUT_PIECE = 0.2  # a cut leaves at least this many digit heights of ink on each side
MAX_CUTS = 4  # seams offered as cuts per part
MIN_CUT_INK = 0.1  # and each side of it keeps at least this share of the part's ink
SEAM_STEP_COST = 0.05  # ink pixels a seam would rather cross than step one column sideways
# Costs in log-probability, added to the model's log-probability of each candidate digit, chosen on
# numbers by the training writers (never the held-out ones). A split must make the digits more
# probable than one reading by DIGIT_COST per extra digit and CUT_COST per cut. DIGIT_COST is a small
# bonus: the model reads two touching digits confidently as one wide digit ("44" as a 4) far more
# often than it reads one digit's pieces confidently as two.
DIGIT_COST = -0.3
CUT_COST = 0.3  # cutting connected ink: touching digits are rarer than separate ones
# Width in digit heights that 97.5% of each digit stay within, written by the training writers as
# numbers (digitlab/datasets/pen_numbers.py); each digit height beyond costs WIDE_COST.
WIDEST_USUAL = (1.31, 1.06, 1.34, 0.91, 0.89, 1.23, 0.86, 1.08, 0.84, 0.93)
WIDE_COST = 2.0
# The digits of one number share a height: a group much shorter than the writing's digit height is
# more likely a piece of a digit (a 4's first stroke, half a 0) than a digit. Each digit height short
# of SHORTEST_USUAL costs SHORT_COST.
SHORTEST_USUAL = 0.8
SHORT_COST = 5.0
LEFT_OVER_MARK_COST = 3.0  # a short part over a digit that no reading takes in
PAD = 4  # pixels of empty border around a digit's crop, so preprocessing sees the background
# Bounds on the work one image can cause (uploads come from anonymous visitors): pieces of ink read,
# pieces in one digit, and the smallest component looked at.
MAX_PARTS = 60
MAX_PARTS_PER_DIGIT = 6
MIN_COMPONENT_PIXELS = 4
TOO_MANY_PIECES = (f"There are too many separate pieces of ink to read as a number (more than {MAX_PARTS}). "
                   "Write the digits on one line, on plain paper.")


@dataclass(frozen=True)
class Stroke:
    """One pen stroke in image pixels: the path's points (n, 2) as x, y and the pen's width."""

    points: np.ndarray
    width: float


@dataclass(frozen=True)
class DigitReading:
    """One digit of a number: where it is and what the model read."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels, x1 and y1 exclusive
    prediction: Prediction

    @property
    def digit(self) -> int | None:
        return self.prediction.digit

    def to_json(self) -> dict:
        return {"digit": self.digit, "box": list(self.box), **{k: v for k, v in self.prediction.to_json().items()
                                                               if k != "digit"}}


@dataclass(frozen=True)
class OtherMark:
    """Ink that is not a digit: where it is and why."""

    box: tuple[int, int, int, int]
    reason: str

    def to_json(self) -> dict:
        return {"box": list(self.box), "reason": self.reason}


@dataclass(frozen=True)
class NumberReading:
    """What was read in a wide image: its digits left to right, and ink that is not a digit."""

    digits: list[DigitReading]
    others: list[OtherMark] = field(default_factory=list)
    message: str = ""  # why there is no number

    @property
    def number(self) -> str | None:
        """The digits as text, or None where nothing reads as a digit."""
        read = [str(reading.digit) for reading in self.digits if reading.digit is not None]
        return "".join(read) or None

    @property
    def least_certain(self) -> int | None:
        """Index in digits of the digit the model is least sure of (None for fewer than two digits)."""
        if len(self.digits) < 2:
            return None
        return int(np.argmin([reading.prediction.confidence for reading in self.digits]))

    def to_json(self) -> dict:
        result = {"number": self.number, "digits": [reading.to_json() for reading in self.digits]}
        if self.others:
            result["not_digits"] = [mark.to_json() for mark in self.others]
        if self.number is None:
            result["message"] = self.message
        return result


@dataclass
class _Part:
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


def read_number(predictor, image, strokes: list[Stroke] | None = None) -> NumberReading:
    """Read every digit in an image (canvas RGBA, photo, array), using pen strokes where given."""
    ink = ink_of_image(image)  # to_ink's values, read on a canvas drawing's strokes box alone
    if strokes and len(strokes) > MAX_PARTS:
        strokes = None  # read the pixels instead: their pieces are counted and bounded below
    parts = _sourced_by_ink(ink, _stroke_parts(ink, strokes)) if strokes else None
    if not parts:  # no strokes, or none of them over the image's ink: read the pixels alone
        strokes = None
        parts = _component_parts(ink)
    if parts is None:
        return NumberReading([], [], TOO_MANY_PIECES)
    if not parts:
        return NumberReading([], [], "The image is blank." if not ink.any() else "There is too little ink to read.")
    digit_height = _digit_height(parts)
    parts = [part for part in parts if max(part.height, part.width) >= NOISE_SIZE * digit_height]
    if len(parts) > MAX_PARTS:
        return NumberReading([], [], TOO_MANY_PIECES)
    marks, parts = _separate_marks(parts, digit_height)
    others = [OtherMark(_box_of([mark]), "too small or flat for a digit") for mark in marks]
    if not parts:
        return NumberReading([], others, "Nothing here is tall enough to be a digit.")
    parts = _with_cuts(parts, digit_height)
    parts.sort(key=lambda part: (part.x0 + part.x1) / 2)
    groups = _candidate_groups(parts, digit_height)
    # A group shorter than a digit (a crossbar or hat alone) is never read as one: it may only be
    # left over as a mark, at a cost that any reading joining it to its digit beats.
    tall = [group for group in groups if _box_height(parts[group[0] : group[1]]) >= MARK_HEIGHT * digit_height]
    crops = {group: _crop(ink, parts[group[0] : group[1]], keep_faint=not strokes) for group in tall}
    prepared = {group: preprocess(crop) for group, crop in crops.items()}
    readable = [group for group in tall if prepared[group].has_digit]
    batch = predictor.predict_mnist(np.stack([prepared[group].mnist for group in readable])) if readable else []
    probabilities = dict(zip(readable, batch))
    scores = {group: -LEFT_OVER_MARK_COST for group in groups if group not in crops}
    scores.update({group: _group_score(parts, group, probabilities[group], digit_height) for group in readable})
    best = _best_grouping(len(parts), scores)
    if best is None:
        return NumberReading([], others, "No grouping of the ink reads as digits.")
    digits = []
    for group in best:
        members = parts[group[0] : group[1]]
        if group not in probabilities:
            others.append(OtherMark(_box_of(members), "too small or flat for a digit"))
            continue
        probability = probabilities[group]
        # The same preprocessing and model as a single drawing, batched: Predictor.predict_image would
        # give this very Prediction for the digit's crop.
        digits.append(DigitReading(_box_of(members), Prediction(int(probability.argmax()), probability,
                                                                prepared[group].mnist)))
    others.sort(key=lambda mark: mark.box[0])
    return NumberReading(digits, others, "" if digits else "Nothing here reads as a digit.")


def _component_parts(ink: np.ndarray) -> list[_Part] | None:
    """Connected ink (8-neighbours) as parts, leaving out specks; None when there are too many to read."""
    from scipy import ndimage

    labels, count = ndimage.label(ink > INK_THRESHOLD, structure=np.ones((3, 3), bool))
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    sizeable = np.flatnonzero(areas >= MIN_COMPONENT_PIXELS)
    sizeable = sizeable[sizeable > 0]  # label 0 is the background
    if len(sizeable) > 2 * MAX_PARTS:  # a texture or noise, not handwriting; stop before the work grows
        return None
    boxes = ndimage.find_objects(labels)
    return [_Part(boxes[label - 1][1].start, boxes[label - 1][0].start, labels[boxes[label - 1]] == label,
                  source=int(label)) for label in sizeable]


def _stroke_parts(ink: np.ndarray, strokes: list[Stroke]) -> list[_Part]:
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
        parts.append(_Part(x0 + int(cols[0]), y0 + int(rows[0]), mask, source=index))
    return parts


def _sourced_by_ink(ink: np.ndarray, parts: list[_Part]) -> list[_Part]:
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


def _digit_height(parts: list[_Part]) -> float:
    """The writing's digit height: the median height of the taller parts (hats and dots are short)."""
    heights = np.array([part.height for part in parts], float)
    tall = heights[heights >= 0.5 * heights.max()]
    return float(np.median(tall))


def _separate_marks(parts: list[_Part], digit_height: float) -> tuple[list[_Part], list[_Part]]:
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


def _gap(a: _Part, b: _Part) -> int:
    return max(a.x0, b.x0) - min(a.x1, b.x1)


def _with_cuts(parts: list[_Part], digit_height: float) -> list[_Part]:
    """Parts wide enough to hold two digits, also offered as slices along the seams that cross least ink."""
    result = []
    for part in parts:
        if part.width < CUT_FROM_WIDTH * digit_height:
            result.append(part)
            continue
        margin = max(1, int(MIN_CUT_PIECE * digit_height))
        seams = _cheapest_seams(part.mask, margin)
        columns = np.arange(part.width)[None, :]
        edges = [np.zeros(part.height, int), *seams, np.full(part.height, part.width)]
        for left, right in zip(edges, edges[1:]):
            piece = part.mask & (columns >= left[:, None]) & (columns < right[:, None])
            rows, cols = np.flatnonzero(piece.any(axis=1)), np.flatnonzero(piece.any(axis=0))
            if rows.size == 0:
                continue
            result.append(_Part(part.x0 + int(cols[0]), part.y0 + int(rows[0]),
                                piece[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], part.source))
    return result


def _cheapest_seams(mask: np.ndarray, margin: int) -> list[np.ndarray]:
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


def _candidate_groups(parts: list[_Part], digit_height: float) -> list[tuple[int, int]]:
    """(start, end) runs of neighbouring parts that could together be one digit.

    Separate inks lying side by side (overlapping less than SIDE_BY_SIDE of the narrower) are never
    one digit: the parts of one digit (a 4's two strokes, a 5's hat, a 7's bar, a broken 0) lie over
    one another. Slices of one cut ink may always join again.
    """
    groups = []
    for start in range(len(parts)):
        x0, x1 = parts[start].x0, parts[start].x1
        sources = {parts[start].source}
        for end in range(start + 1, min(len(parts), start + MAX_PARTS_PER_DIGIT) + 1):
            if end > start + 1:
                part = parts[end - 1]
                if part.source not in sources:
                    overlap = min(x1, part.x1) - max(x0, part.x0)
                    if overlap < SIDE_BY_SIDE * min(part.width, x1 - x0):
                        break
                    sources.add(part.source)
                x0, x1 = min(x0, part.x0), max(x1, part.x1)
                if x1 - x0 > MAX_DIGIT_WIDTH * digit_height:
                    break
            groups.append((start, end))
    return groups


def _group_score(parts: list[_Part], group: tuple[int, int], probabilities: np.ndarray, digit_height: float) -> float:
    """How likely it is that parts[start:end] are one digit: the model's probability and the layout's."""
    start, end = group
    members = parts[start:end]
    digit = int(probabilities.argmax())
    width = (max(p.x1 for p in members) - min(p.x0 for p in members)) / digit_height
    # Two touching digits often read confidently as one (a "44" as a 4), but wider than that digit is.
    score = (math.log(max(float(probabilities[digit]), 1e-9)) - DIGIT_COST
             - max(0.0, width - WIDEST_USUAL[digit]) * WIDE_COST
             - max(0.0, SHORTEST_USUAL - _box_height(members) / digit_height) * SHORT_COST)
    # Pieces of one ink run cut apart: each cut is paid half by the group on either side of it.
    inside = {p.source for p in members}
    outside = {p.source for i, p in enumerate(parts) if not start <= i < end}
    score -= CUT_COST / 2 * len(inside & outside)
    return score


def _best_grouping(count: int, scores: dict[tuple[int, int], float]) -> list[tuple[int, int]] | None:
    """The runs covering parts 0..count-1 whose digits are most probable together (dynamic programming)."""
    best = [-math.inf] * (count + 1)
    back = [0] * (count + 1)
    best[0] = 0.0
    for end in range(1, count + 1):
        for start in range(end):
            score = scores.get((start, end))
            if score is not None and best[start] + score > best[end]:
                best[end], back[end] = best[start] + score, start
    if best[count] == -math.inf:
        return None
    runs, end = [], count
    while end > 0:
        runs.append((back[end], end))
        end = back[end]
    return runs[::-1]


def _box_height(parts: list[_Part]) -> int:
    return max(p.y1 for p in parts) - min(p.y0 for p in parts)


def _box_of(parts: list[_Part]) -> tuple[int, int, int, int]:
    return (min(p.x0 for p in parts), min(p.y0 for p in parts), max(p.x1 for p in parts), max(p.y1 for p in parts))


def _crop(ink: np.ndarray, parts: list[_Part], keep_faint: bool) -> np.ndarray:
    """The parts' ink alone, cut out with an empty border, as a uint8 image for preprocessing.

    keep_faint keeps the faint antialiased edge pixels around components (below the ink threshold,
    so they belong to no component); other parts' ink inside the box is left out.
    """
    x0, y0, x1, y1 = _box_of(parts)
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
