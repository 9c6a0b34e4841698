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

This module reads the number: it groups the parts and scores each grouping. Cutting the ink into
parts is digitlab/serving/ink_parts.py, and finding the seams to cut along digitlab/serving/seams.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from digitlab.serving.ink import ink_of_image
from digitlab.serving.ink_parts import (MARK_HEIGHT, MAX_PARTS, Part, Stroke, box_height, box_of, component_parts,
                                        digit_crop, separate_marks, sourced_by_ink, stroke_parts, writing_digit_height)
from digitlab.serving.predictor import Prediction
from digitlab.serving.preprocess import preprocess
from digitlab.serving.seams import with_cuts

# The Draw page's number canvas, about 3.5:1: room for a year, a price or a house number, and narrow
# enough to fit whole beside the sidebar on a 1280 px wide screen (the page's main column is 820 px).
NUMBER_CANVAS_SIZE = (800, 230)  # width, height in canvas pixels
NOISE_SIZE = 0.08  # parts smaller than this share of the digit height, both ways, are specks, ignored
MAX_DIGIT_WIDTH = 1.45  # a group wider than this many digit heights is never one digit
SIDE_BY_SIDE = 0.25  # inks overlapping less than this share of the narrower one lie side by side
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
MAX_PARTS_PER_DIGIT = 6  # a bound on the work one image can cause, with ink_parts.MAX_PARTS
TOO_MANY_PIECES = (f"There are too many separate pieces of ink to read as a number (more than {MAX_PARTS}). "
                   "Write the digits on one line, on plain paper.")


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
    def least_certain(self) -> tuple[int, ...]:
        """Indexes in digits of the digits the model is least sure of, as the page shows sureness (a whole percent).

        Every digit at the lowest percent shown, so of a 87% and an 87% neither is picked over the other; none
        where every digit shows the same percent (all 100%: none is less sure), or for fewer than two digits.
        """
        shown = [round(reading.prediction.confidence * 100) for reading in self.digits]
        if len(set(shown)) < 2:
            return ()
        return tuple(index for index, percent in enumerate(shown) if percent == min(shown))

    def to_json(self) -> dict:
        result = {"number": self.number, "digits": [reading.to_json() for reading in self.digits]}
        if self.others:
            result["not_digits"] = [mark.to_json() for mark in self.others]
        if self.number is None:
            result["message"] = self.message
        return result


def read_number(predictor, image, strokes: list[Stroke] | None = None) -> NumberReading:
    """Read every digit in an image (canvas RGBA, photo, array), using pen strokes where given."""
    return read_ink_number(predictor, ink_of_image(image), strokes)  # to_ink's values, on a canvas's strokes box


def read_ink_number(predictor, ink: np.ndarray, strokes: list[Stroke] | None = None) -> NumberReading:
    """read_number on an image's ink (ink_of_image), so a caller that needs the ink too computes it once."""
    if strokes and len(strokes) > MAX_PARTS:
        strokes = None  # read the pixels instead: their pieces are counted and bounded below
    parts = sourced_by_ink(ink, stroke_parts(ink, strokes)) if strokes else None
    if not parts:  # no strokes, or none of them over the image's ink: read the pixels alone
        strokes = None
        parts = component_parts(ink)
    if parts is None:
        return NumberReading([], [], TOO_MANY_PIECES)
    if not parts:
        return NumberReading([], [], "The image is blank." if not ink.any() else "There is too little ink to read.")
    digit_height = writing_digit_height(parts)
    parts = [part for part in parts if max(part.height, part.width) >= NOISE_SIZE * digit_height]
    if len(parts) > MAX_PARTS:
        return NumberReading([], [], TOO_MANY_PIECES)
    marks, parts = separate_marks(parts, digit_height)
    others = [OtherMark(box_of([mark]), "too small or flat for a digit") for mark in marks]
    if not parts:
        return NumberReading([], others, "Nothing here is tall enough to be a digit.")
    parts = with_cuts(parts, digit_height)
    parts.sort(key=lambda part: (part.x0 + part.x1) / 2)
    groups = _candidate_groups(parts, digit_height)
    # A group shorter than a digit (a crossbar or hat alone) is never read as one: it may only be
    # left over as a mark, at a cost that any reading joining it to its digit beats.
    tall = [group for group in groups if box_height(parts[group[0] : group[1]]) >= MARK_HEIGHT * digit_height]
    crops = {group: digit_crop(ink, parts[group[0] : group[1]], keep_faint=not strokes) for group in tall}
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
            others.append(OtherMark(box_of(members), "too small or flat for a digit"))
            continue
        probability = probabilities[group]
        # The same preprocessing and model as a single drawing, batched: Predictor.predict_image would
        # give this very Prediction for the digit's crop.
        digits.append(DigitReading(box_of(members), Prediction(int(probability.argmax()), probability,
                                                                prepared[group].mnist)))
    others.sort(key=lambda mark: mark.box[0])
    return NumberReading(digits, others, "" if digits else "Nothing here reads as a digit.")


def _candidate_groups(parts: list[Part], digit_height: float) -> list[tuple[int, int]]:
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


def _group_score(parts: list[Part], group: tuple[int, int], probabilities: np.ndarray, digit_height: float) -> float:
    """How likely it is that parts[start:end] are one digit: the model's probability and the layout's."""
    start, end = group
    members = parts[start:end]
    digit = int(probabilities.argmax())
    width = (max(p.x1 for p in members) - min(p.x0 for p in members)) / digit_height
    # Two touching digits often read confidently as one (a "44" as a 4), but wider than that digit is.
    score = (math.log(max(float(probabilities[digit]), 1e-9)) - DIGIT_COST
             - max(0.0, width - WIDEST_USUAL[digit]) * WIDE_COST
             - max(0.0, SHORTEST_USUAL - box_height(members) / digit_height) * SHORT_COST)
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
