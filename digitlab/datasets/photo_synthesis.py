"""Real pen digits photographed: written in pen or pencil on paper, then taken with a phone in uneven light.

A person's photo of a digit is not a canvas drawing. The ink is a pen's or a pencil's (thin or thick,
black, blue or graphite grey, a pencil's grainy), the paper has a texture and a tint, the page lies a
few degrees askew, the light falls off across it and a soft shadow (the phone's, a hand's) darkens one
side, the table sometimes shows past the paper's edge, and the phone saves a JPEG. Each of these is
drawn here from the real trajectories of digitlab/datasets/pendigits.py (numbers laid out by
digitlab/datasets/pen_numbers.py), so the photo benchmark and tests read the held-out writers'
handwriting as a camera would bring it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitlab.datasets.pen_numbers import GAP_RANGE, build_number
from digitlab.datasets.pendigits import PenDigit, draw_strokes

SIDES = ("left", "right", "top", "bottom")
PEN_COLOURS = ((0.08, 0.08, 0.10), (0.10, 0.14, 0.45), (0.12, 0.12, 0.16))  # black, blue, blue-black
GRAPHITE = (0.28, 0.28, 0.31)
JPEG_QUALITY = (60, 90)
ROTATION_DEGREES = 4.0  # the page lies up to this much askew
PAPER_EDGE_CHANCE = 0.3  # how often the table shows past one edge of the paper
TABLE_TILT = 0.08  # the paper's edge runs askew by up to this share of the picture


@dataclass(frozen=True)
class Lighting:
    """How the light falls on the paper."""

    falloff: float  # the light drops by this share from one side of the picture to the other
    shadow_side: str | None  # the side a soft shadow darkens, or None
    shadow_depth: float = 0.0  # share of the light the shadow takes away at its darkest
    shadow_reach: float = 0.0  # share of the picture the shadow covers, from its side
    shadow_softness: float = 0.0  # width of its soft edge, as a share of the picture

    @classmethod
    def even(cls, rng: np.random.Generator) -> "Lighting":
        return cls(falloff=float(rng.uniform(0.0, 0.1)), shadow_side=None)

    @classmethod
    def shadowed(cls, rng: np.random.Generator, side: str | None = None) -> "Lighting":
        return cls(falloff=float(rng.uniform(0.1, 0.3)), shadow_side=side or str(rng.choice(SIDES)),
                   shadow_depth=float(rng.uniform(0.35, 0.65)), shadow_reach=float(rng.uniform(0.15, 0.45)),
                   shadow_softness=float(rng.uniform(0.03, 0.2)))


@dataclass(frozen=True)
class Photo:
    """A photographed digit or number, with the truth about it."""

    text: str
    writer: int
    jpeg: bytes  # the file as a phone saves it
    boxes: list[tuple[int, int, int, int]]  # each digit's ink, x0, y0, x1, y1 in the photo's pixels
    pencil: bool
    lighting: Lighting
    paper_edge: str | None  # the side past which the table shows, or None


def photograph_digit(digit: PenDigit, rng: np.random.Generator, lighting: Lighting,
                     pencil: bool | None = None, inverted: bool = False) -> Photo:
    """One pen digit written on paper and photographed (about 300-450 pixels a side)."""
    width, height = (int(rng.uniform(300, 450)) for _ in range(2))
    points = np.concatenate(digit.strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    digit_height = float(rng.uniform(0.45, 0.7)) * height
    scale = digit_height / max(float(high[1] - low[1]), 1.0)
    extent = (high - low) * scale
    margin = 0.12 * min(width, height)  # room for a paper edge that never crosses the digit
    x = float(rng.uniform(margin, max(margin, width - margin - extent[0])))
    y = float(rng.uniform(margin, max(margin, height - margin - extent[1])))
    strokes = [(stroke - low) * scale + (x, y) for stroke in digit.strokes]
    return _photograph(strokes, str(digit.label), digit.writer, (width, height), digit_height, rng, lighting,
                       pencil, inverted, outlines=[np.concatenate(strokes)])


def photograph_number(digits: list[PenDigit], rng: np.random.Generator, lighting: Lighting,
                      pencil: bool | None = None, inverted: bool = False,
                      gap_range: tuple[float, float] = GAP_RANGE) -> Photo:
    """One writer's digits written as a number on paper (laid out as on the number canvas, gap_range
    apart in digit heights) and photographed."""
    number = build_number(digits, rng, gap_range=gap_range)
    canvas_width, canvas_height = number.canvas.shape[1], number.canvas.shape[0]
    scale = float(rng.uniform(0.9, 1.25))
    border = int(rng.uniform(20, 60))  # paper above and below the strip the number was laid out on
    size = (round(canvas_width * scale), round(canvas_height * scale) + 2 * border)
    strokes = [stroke.points * scale + (0, border) for stroke in number.strokes]
    digit_height = float(np.median([box[3] - box[1] for box in number.boxes])) * scale
    corners = [np.array([(x0, y0), (x1, y0), (x0, y1), (x1, y1)], np.float64) * scale + (0, border)
               for x0, y0, x1, y1 in number.boxes]
    return _photograph(strokes, number.text, number.writer, size, digit_height, rng, lighting, pencil, inverted,
                       outlines=corners)


def _photograph(strokes: list[np.ndarray], text: str, writer: int, size: tuple[int, int], digit_height: float,
                rng: np.random.Generator, lighting: Lighting, pencil: bool | None, inverted: bool,
                outlines: list[np.ndarray]) -> Photo:
    """Write strokes (picture pixels) on paper and photograph them; outlines are points around each digit."""
    width, height = size
    light_rng = np.random.default_rng(int(rng.integers(2**32)))  # the light's draws leave the rest as they were
    pencil = bool(rng.random() < 0.5) if pencil is None else pencil
    # The page lies askew: the writing turns about the picture's centre.
    angle = np.radians(rng.uniform(-ROTATION_DEGREES, ROTATION_DEGREES))
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    centre = np.array([width / 2, height / 2])
    turned = [(stroke - centre) @ turn.T + centre for stroke in strokes]
    pen_width = digit_height * float(rng.uniform(0.03, 0.06) if pencil else rng.uniform(0.04, 0.1))
    coverage = draw_strokes(turned, size, max(pen_width, 1.5)).astype(np.float32) / 255
    if pencil:  # graphite leaves grain: the paper's tooth shows through the stroke
        grain = _smooth_noise(rng, (height, width), 0.8)
        coverage *= np.clip(0.75 + 0.6 * grain, 0.3, 1.0) * float(rng.uniform(0.5, 0.8))
        ink_colour = np.array(GRAPHITE)
    else:
        coverage *= float(rng.uniform(0.85, 1.0))
        ink_colour = np.array(PEN_COLOURS[int(rng.integers(len(PEN_COLOURS)))])
    paper = np.array([rng.uniform(0.82, 0.95)] * 3) * (1 + rng.uniform(-0.03, 0.03, 3))
    texture = 0.03 * _smooth_noise(rng, (height, width), 12.0) + 0.012 * rng.standard_normal((height, width))
    reflectance = (paper[None, None, :] * (1 + texture[:, :, None])) * (1 - coverage[:, :, None]) \
        + ink_colour[None, None, :] * coverage[:, :, None]
    paper_edge = str(rng.choice(SIDES)) if rng.random() < PAPER_EDGE_CHANCE else None
    # Nobody writes past the paper: the table shows only in the clear margin beside the writing.
    clearance = _margin_share(paper_edge, turned, pen_width, size) if paper_edge is not None else 0.0
    depth = min(float(rng.uniform(0.03, 0.09)), clearance - TABLE_TILT / 2 - 0.01)
    if depth < 0.02:
        paper_edge = None
    if paper_edge is not None:
        table = _side_distance(paper_edge, size, float(rng.uniform(-TABLE_TILT, TABLE_TILT))) < depth
        table_colour = rng.uniform(0.15, 0.5) * np.array([1.0, rng.uniform(0.75, 1.0), rng.uniform(0.5, 0.9)])
        grain = 1 + 0.08 * _smooth_noise(rng, (height, width), 3.0)
        reflectance = np.where(table[:, :, None], table_colour[None, None, :] * grain[:, :, None], reflectance)
    light = _light(lighting, size, light_rng) * float(rng.uniform(0.85, 1.0))
    picture = reflectance * light[:, :, None] + rng.normal(0, 0.01, (height, width, 1))
    if inverted:  # light ink on a dark ground: chalk on a board, or a photo shown as a negative
        picture = 1.0 - picture
    levels = np.clip(np.round(picture * 255), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(levels).save(buffer, format="JPEG", quality=int(rng.integers(*JPEG_QUALITY, endpoint=True)))
    boxes = [_box((outline - centre) @ turn.T + centre, pen_width) for outline in outlines]
    return Photo(text, writer, buffer.getvalue(), boxes, pencil, lighting, paper_edge)


def _box(points: np.ndarray, pen_width: float) -> tuple[int, int, int, int]:
    low, high = points.min(axis=0) - pen_width / 2, points.max(axis=0) + pen_width / 2
    return int(np.floor(low[0])), int(np.floor(low[1])), int(np.ceil(high[0])), int(np.ceil(high[1]))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Noise blurred over about sigma pixels, scaled to a standard deviation of 1."""
    from scipy import ndimage

    noise = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma)
    return noise / max(float(noise.std()), 1e-6)


def _side_distance(side: str, size: tuple[int, int], tilt: float) -> np.ndarray:
    """Each pixel's distance from a side of the picture, as a share of the picture across that way,
    measured along a line tilted by tilt (a share of the picture's other side)."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    across, along = {"left": (xs / width, ys / height), "right": (1 - xs / width, ys / height),
                     "top": (ys / height, xs / width), "bottom": (1 - ys / height, xs / width)}[side]
    return across + tilt * (along - 0.5)


def _margin_share(side: str, strokes: list[np.ndarray], pen_width: float, size: tuple[int, int]) -> float:
    """How far the writing stays from a side of the picture, as a share of the picture across that way."""
    width, height = size
    points = np.concatenate(strokes)
    low, high = points.min(axis=0) - pen_width / 2, points.max(axis=0) + pen_width / 2
    return {"left": low[0] / width, "right": (width - high[0]) / width,
            "top": low[1] / height, "bottom": (height - high[1]) / height}[side]


def _light(lighting: Lighting, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The light over the picture: a falloff from one side, times a soft shadow over another."""
    light = 1 - lighting.falloff * _side_distance(str(rng.choice(SIDES)), size, float(rng.uniform(-0.3, 0.3)))
    if lighting.shadow_side is not None:
        distance = _side_distance(lighting.shadow_side, size, float(rng.uniform(-0.3, 0.3)))
        into_shadow = (lighting.shadow_reach - distance) / max(lighting.shadow_softness, 1e-3)
        light = light * (1 - lighting.shadow_depth / (1 + np.exp(-4 * np.clip(into_shadow, -20, 20))))
    return light.astype(np.float32)
