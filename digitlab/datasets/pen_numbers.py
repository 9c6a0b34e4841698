"""Whole numbers written by real writers: pen digits laid out side by side as one person writes a number.

Each number takes its digits from one writer of the pen trajectories (digitlab/datasets/pendigits.py) and draws
them the way that person would write them in one go on the wide canvas: one pen width, one digit
height, gaps between digits anywhere from touching to wide, and a baseline that wanders a little. The true box of every digit comes with the drawing, so a reading can be checked
digit by digit, and so can the strokes, as the canvas would send them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from digitlab.serving.ink_parts import Stroke
from digitlab.serving.number_segmentation import NUMBER_CANVAS_SIZE
from digitlab.datasets.pendigits import PenDigit, as_canvas_rgba, draw_strokes

LENGTHS = (2, 3, 4, 5, 6)
HEIGHT_RANGE = (0.42, 0.72)  # digit height as a share of the canvas height
TALLEST_DIGIT = 1.05  # each digit's height varies up to this share of the number's (and down to 0.92)
BRUSH_RANGE = (8.0, 22.0)  # pen width in canvas pixels, shared by the whole number
# Gap between neighbours' ink boxes in digit heights: from touching (0) to wide apart.
GAP_RANGE = (0.0, 0.6)
# A harder set for the benchmark's stress row, beyond what the targets ask: boxes overlapping by up to
# 12% of the height, so strokes of neighbours often cross and one digit may reach into the next.
OVERLAPPING_GAP_RANGE = (-0.12, 0.6)
BASELINE_STEP = 0.04  # digit heights the baseline moves from one digit to the next (standard deviation)
BASELINE_LIMIT = 0.12  # and the most it strays from where it started
MARGIN = 12  # canvas pixels kept clear at the edges


@dataclass(frozen=True)
class PenNumber:
    """A number drawn on the wide canvas, with the truth about it."""

    text: str
    writer: int
    canvas: np.ndarray  # RGBA (height, width, 4): white strokes on a transparent layer
    strokes: list[Stroke]  # in canvas pixels, in the order written
    boxes: list[tuple[int, int, int, int]]  # each digit's ink, x0, y0, x1, y1


def digits_by_writer(digits: list[PenDigit]) -> dict[int, list[PenDigit]]:
    by_writer: dict[int, list[PenDigit]] = defaultdict(list)
    for digit in digits:
        by_writer[digit.writer].append(digit)
    return dict(by_writer)


def build_number(digits: list[PenDigit], rng: np.random.Generator, size: tuple[int, int] = NUMBER_CANVAS_SIZE,
                 gap_range: tuple[float, float] = GAP_RANGE) -> PenNumber:
    """Draw the given pen digits (one writer's) left to right as one number on a canvas of size (w, h)."""
    canvas_width, canvas_height = size
    brush = float(rng.uniform(*BRUSH_RANGE))
    tallest = (canvas_height - 2 * MARGIN - brush) / (TALLEST_DIGIT + 2 * BASELINE_LIMIT)  # wandering stays inside
    height = min(float(rng.uniform(*HEIGHT_RANGE)) * canvas_height, tallest)
    shapes = []  # each digit's strokes scaled to the shared height, at the origin
    for digit in digits:
        points = np.concatenate(digit.strokes)
        low, high = points.min(axis=0), points.max(axis=0)
        scale = height * float(rng.uniform(0.92, TALLEST_DIGIT)) / max(float(high[1] - low[1]), 1.0)
        shapes.append([(stroke - low) * scale for stroke in digit.strokes])
    widths = [max(float(np.concatenate(shape)[:, 0].max()), 0.0) for shape in shapes]
    gaps = [float(rng.uniform(*gap_range)) * height for _ in digits[1:]]
    # Centre lines are a pen width apart when the ink just touches; the pen keeps its width when a
    # number too long for the canvas is drawn smaller.
    pens = brush * len(digits)
    fit = min(1.0, (canvas_width - 2 * MARGIN - pens) / max(sum(widths) + sum(gaps), 1.0))
    if fit < 1.0:
        shapes = [[stroke * fit for stroke in shape] for shape in shapes]
        widths, gaps, height = [w * fit for w in widths], [g * fit for g in gaps], height * fit
    total = sum(widths) + sum(gaps) + pens
    x = float(rng.uniform(MARGIN, max(MARGIN, canvas_width - MARGIN - total))) + brush / 2
    highest = MARGIN + BASELINE_LIMIT * height
    lowest = canvas_height - MARGIN - height * (TALLEST_DIGIT + BASELINE_LIMIT) - brush
    top = float(rng.uniform(highest, max(highest, lowest))) + brush / 2
    drift = 0.0
    strokes: list[np.ndarray] = []
    boxes = []
    for index, shape in enumerate(shapes):
        placed = [stroke + (x, top + drift) for stroke in shape]
        strokes.extend(placed)
        points = np.concatenate(placed)
        low, high = points.min(axis=0) - brush / 2, points.max(axis=0) + brush / 2
        boxes.append((int(np.floor(low[0])), int(np.floor(low[1])), int(np.ceil(high[0])), int(np.ceil(high[1]))))
        if index < len(gaps):
            x += widths[index] + gaps[index] + brush
            drift = float(np.clip(drift + rng.normal(0, BASELINE_STEP) * height,
                                  -BASELINE_LIMIT * height, BASELINE_LIMIT * height))
    gray = draw_strokes(strokes, size, brush)
    return PenNumber("".join(str(d.label) for d in digits), digits[0].writer, as_canvas_rgba(gray),
                     [Stroke(stroke, brush) for stroke in strokes], boxes)


def write_numbers(digits: list[PenDigit], count: int, lengths: tuple[int, ...] = LENGTHS, seed: int = 0,
                  gap_range: tuple[float, float] = GAP_RANGE,
                  gap_mixture: tuple[tuple[tuple[float, float], float], ...] | None = None) -> Iterator[PenNumber]:
    """count numbers, one at a time, writers taken in turn, each number's length drawn from lengths and its
    digits drawn at random from its writer's digits. Gaps come from gap_range, or, given gap_mixture
    ((gap range, share of numbers), ...), from a range drawn for each number."""
    rng = np.random.default_rng(seed)
    by_writer = digits_by_writer(digits)
    writers = sorted(by_writer)
    if not writers:
        raise ValueError("there are no pen digits to build numbers from")
    ranges, shares = zip(*gap_mixture) if gap_mixture is not None else ((), ())
    for index in range(count):
        own = by_writer[writers[index % len(writers)]]
        length = int(rng.choice(lengths))
        chosen = [own[i] for i in rng.choice(len(own), size=length, replace=len(own) < length)]
        if gap_mixture is not None:  # drawn only then: a fixed range's numbers stay what they were
            gap_range = ranges[rng.choice(len(ranges), p=shares)]
        yield build_number(chosen, rng, gap_range=gap_range)


def build_numbers(digits: list[PenDigit], count: int, lengths: tuple[int, ...] = LENGTHS,
                  seed: int = 0, gap_range: tuple[float, float] = GAP_RANGE) -> list[PenNumber]:
    """write_numbers' numbers as a list (each holds its whole canvas: for benchmarks' few hundred)."""
    return list(write_numbers(digits, count, lengths, seed, gap_range))
