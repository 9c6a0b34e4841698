"""Digit styles MNIST barely has, added to real pen strokes before they are drawn: Ø, a barred 7, a footed 1.

Many people cross their zeros, bar their sevens and give their ones a foot and a flag; MNIST and the
pen data have few of them (slashed zeros hardly at all). Each transform adds the stroke a person
would add, placed from the digit's own ink and with randomised geometry (angle, length, overshoot,
height, a little wobble), so the model learns the style rather than one drawing of it. Strokes are
(n, 2) points with y pointing down, in any units; each transform returns new strokes and leaves its
input alone. The same generator state gives the same strokes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Strokes = list[np.ndarray]
PLAIN_ONE_ASPECT = 0.25  # a one narrower than this (width / height) has no flag yet, so one may be added


def _box(strokes: Strokes) -> tuple[np.ndarray, np.ndarray]:
    points = np.concatenate(strokes)
    return points.min(axis=0), points.max(axis=0)


def _segment(start: np.ndarray, end: np.ndarray, rng: np.random.Generator, steps: int = 12) -> np.ndarray:
    """A hand-drawn straight stroke: evenly sampled, bowed by up to 3% of its length to one side."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    line = start + (end - start) * t
    direction = end - start
    normal = np.array([-direction[1], direction[0]])
    bow = rng.uniform(-0.03, 0.03) * np.sin(np.pi * t)
    return (line + bow * normal).astype(np.float32)


def _ink_x_at(strokes: Strokes, y: float, band: float) -> float:
    """The median x of the ink within band of height y (the middle of the box where there is none)."""
    points = np.concatenate(strokes)
    near = points[np.abs(points[:, 1] - y) <= band]
    if len(near) == 0:
        low, high = _box(strokes)
        return float((low[0] + high[0]) / 2)
    return float(np.median(near[:, 0]))


def slash_zero(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """Ø: a slash from above the zero's top right to below its bottom left, through its middle."""
    low, high = _box(strokes)
    size = high - low
    centre = (low + high) / 2 + rng.uniform(-0.05, 0.05, 2) * size
    half_height = size[1] * rng.uniform(0.55, 0.68)  # the slash overshoots the ring by 5-18% of its height
    half_width = max(size[0], size[1] * 0.4) * rng.uniform(0.35, 0.6)
    start = centre + np.array([half_width, -half_height])
    end = centre + np.array([-half_width, half_height])
    return [*strokes, _segment(start, end, rng)]


def bar_seven(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """A continental 7: a short bar across the stem, about halfway down."""
    low, high = _box(strokes)
    size = high - low
    y = low[1] + size[1] * rng.uniform(0.45, 0.6)
    x = _ink_x_at(strokes, y, band=size[1] * 0.08)
    half = max(size[0], size[1] * 0.5) * rng.uniform(0.18, 0.3)
    tilt = np.tan(np.radians(rng.uniform(-8, 8))) * half
    return [*strokes, _segment(np.array([x - half, y + tilt]), np.array([x + half, y - tilt]), rng)]


def foot_one(strokes: Strokes, rng: np.random.Generator, flag: bool | None = None) -> Strokes:
    """A one with a foot (a base line under the stem) and, on a plain stick, a flag from its top.

    flag None: a flag is added only where the one has none yet (it is narrower than PLAIN_ONE_ASPECT).
    """
    low, high = _box(strokes)
    size = high - low
    height = max(float(size[1]), 1e-6)
    foot_y = high[1] + height * rng.uniform(0.0, 0.03)
    foot_x = _ink_x_at(strokes, high[1], band=height * 0.08)
    half = height * rng.uniform(0.15, 0.28)
    added = [_segment(np.array([foot_x - half, foot_y]), np.array([foot_x + half, foot_y]), rng, steps=10)]
    if flag if flag is not None else size[0] / height < PLAIN_ONE_ASPECT:
        top = np.concatenate(strokes)
        top = top[np.argmin(top[:, 1])]
        tip = top + np.array([-height * rng.uniform(0.18, 0.3), height * rng.uniform(0.15, 0.25)])
        added.insert(0, _segment(tip, top, rng, steps=8))  # drawn first, as a person writes it
    return [*(added[:-1]), *strokes, added[-1]]


# The style each digit can be given, by digit.
STYLES: dict[int, Callable[[Strokes, np.random.Generator], Strokes]] = {0: slash_zero, 7: bar_seven, 1: foot_one}
STYLE_NAMES = {0: "slashed zero", 7: "barred seven", 1: "footed one"}


def with_style(label: int, strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """The strokes in the style added to this digit (unchanged for a digit without one)."""
    style = STYLES.get(label)
    return strokes if style is None else style(strokes, rng)
