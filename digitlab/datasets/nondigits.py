"""Drawings that are not digits: scribbles, letters, symbols and doodles, as pen strokes.

The model learns an 11th answer, "not a digit", from these. Each family draws its shape from a few
hand-made strokes in a unit box, then wobbles it the way a hand does (random slant, squash, rotation,
jittered corners, bent lines), so no two drawings of a family are alike. The strokes are drawn on
the canvas exactly like the pen digits (digitlab.datasets.pendigits.render_on_canvas).

Shapes that double as digits are deliberately absent: O, I, S, Z, B, G, q, a plain circle and a
plain line are read as 0, 1, 5, 2, 8, 6, 9, 0 and 1 by people, so they must stay digits.

Training drawings and held-out drawings come from disjoint seeds, so a held-out drawing is never
one the model saw; held-out figures are measured on those alone.
"""

from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from digitlab.datasets.pendigits import PenDigit, render_on_canvas

NOT_A_DIGIT = 10  # the class index of "not a digit", after the ten digits
HELD_OUT_SEED_OFFSET = 1_000_003  # held-out drawings are made from seeds no training drawing uses

Strokes = list[np.ndarray]


def _line(*points: tuple[float, float], steps: int = 12) -> np.ndarray:
    """A polyline through points, resampled so later wobble bends its straight parts too."""
    points_array = np.asarray(points, np.float64)
    parts = [np.linspace(a, b, steps, endpoint=False) for a, b in zip(points_array[:-1], points_array[1:])]
    return np.concatenate([*parts, points_array[-1:]])


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, steps: int = 40) -> np.ndarray:
    angles = np.linspace(np.radians(start), np.radians(end), steps)
    return np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], axis=1)


# Letters no digit resembles, as a person writes them (y down, unit box).
LETTERS: dict[str, Callable[[np.random.Generator], Strokes]] = {
    "A": lambda r: [_line((0.1, 1), (0.5, 0), (0.9, 1)), _line((0.28, 0.6), (0.72, 0.6))],
    "E": lambda r: [_line((0.8, 0), (0.2, 0), (0.2, 1), (0.8, 1)), _line((0.2, 0.5), (0.65, 0.5))],
    "F": lambda r: [_line((0.8, 0), (0.2, 0), (0.2, 1)), _line((0.2, 0.48), (0.65, 0.48))],
    "H": lambda r: [_line((0.2, 0), (0.2, 1)), _line((0.8, 0), (0.8, 1)), _line((0.2, 0.5), (0.8, 0.5))],
    "K": lambda r: [_line((0.2, 0), (0.2, 1)), _line((0.8, 0), (0.22, 0.55), (0.85, 1))],
    "M": lambda r: [_line((0.05, 1), (0.15, 0), (0.5, 0.65), (0.85, 0), (0.95, 1))],
    "N": lambda r: [_line((0.2, 1), (0.2, 0), (0.8, 1), (0.8, 0))],
    "R": lambda r: [_line((0.2, 1), (0.2, 0)),
                    np.concatenate([_line((0.2, 0), (0.5, 0)), _arc(0.5, 0.25, 0.3, 0.25, -90, 90),
                                    _line((0.5, 0.5), (0.2, 0.5), (0.85, 1))])],
    "W": lambda r: [_line((0.0, 0), (0.22, 1), (0.5, 0.35), (0.78, 1), (1.0, 0))],
    "X": lambda r: [_line((0.15, 0), (0.85, 1)), _line((0.85, 0), (0.15, 1))],
    "k": lambda r: [_line((0.25, 0), (0.25, 1)), _line((0.75, 0.4), (0.27, 0.72), (0.8, 1))],
    "m": lambda r: [np.concatenate([_line((0.1, 1), (0.1, 0.4)), _arc(0.3, 0.5, 0.2, 0.15, 180, 360),
                                    _line((0.5, 0.5), (0.5, 1)), _arc(0.7, 0.5, 0.2, 0.15, 180, 360),
                                    _line((0.9, 0.5), (0.9, 1))])],
    "w": lambda r: [_line((0.0, 0.3), (0.25, 1), (0.5, 0.45), (0.75, 1), (1.0, 0.3))],
    "x": lambda r: [_line((0.2, 0.3), (0.8, 1)), _line((0.8, 0.3), (0.2, 1))],
}


def scribble(rng: np.random.Generator) -> Strokes:
    """A tangled scribble: a smooth random walk that turns back on itself many times."""
    # A short or gently curving walk can look like a 1, 2 or 7, which must stay a digit; only walks
    # whose heading winds round several times in total are kept.
    while True:
        n = int(rng.integers(100, 240))
        turns = rng.normal(rng.uniform(-0.25, 0.25), rng.uniform(0.4, 0.9), n)
        heading = rng.uniform(0, 2 * np.pi) + np.cumsum(turns)
        points = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], axis=1), axis=0)
        extent = np.ptp(points, axis=0)
        winds = np.abs(np.cumsum(turns)).max() > 4 * np.pi or np.abs(turns).sum() > 10 * np.pi
        if winds and extent.min() > 0.4 * extent.max():  # a long thin scribble reads as a 1
            return [points]


def zigzag(rng: np.random.Generator) -> Strokes:
    """Back-and-forth shading, as when someone crosses something out."""
    rows = int(rng.integers(5, 10))  # fewer rows draw a 3 or a Z
    points = []
    for row in range(rows):
        y = row / (rows - 1)
        points += [(0.0 + rng.uniform(0, 0.1), y), (1.0 - rng.uniform(0, 0.1), y + rng.uniform(0.05, 0.15))]
    return [_line(*points, steps=6)]


def hash_sign(rng: np.random.Generator) -> Strokes:
    return [_line((0.35, 0), (0.3, 1)), _line((0.7, 0), (0.65, 1)), _line((0, 0.35), (1, 0.33)),
            _line((0, 0.67), (1, 0.65))]


def grid(rng: np.random.Generator) -> Strokes:
    """A lattice of three or more lines each way (a # with more bars, or a drawn table)."""
    count = int(rng.integers(3, 6))
    positions = np.linspace(0, 1, count)
    return ([_line((p, 0), (p, 1)) for p in positions] + [_line((0, p), (1, p)) for p in positions])


def star(rng: np.random.Generator) -> Strokes:
    """A five-pointed star in one stroke (a pentagram) or drawn as an outline."""
    outer = [(-90 + 72 * k) for k in range(5)]
    if rng.random() < 0.5:
        order = [0, 2, 4, 1, 3, 0]
        points = [(0.5 + 0.5 * np.cos(np.radians(outer[k])), 0.5 + 0.5 * np.sin(np.radians(outer[k]))) for k in order]
    else:
        points = []
        for k in range(5):
            points.append((0.5 + 0.5 * np.cos(np.radians(outer[k])), 0.5 + 0.5 * np.sin(np.radians(outer[k]))))
            inner = np.radians(outer[k] + 36)
            points.append((0.5 + 0.2 * np.cos(inner), 0.5 + 0.2 * np.sin(inner)))
        points.append(points[0])
    return [_line(*points, steps=8)]


def asterisk(rng: np.random.Generator) -> Strokes:
    arms = int(rng.integers(3, 5))
    strokes = []
    for k in range(arms):
        angle = np.pi * k / arms + rng.uniform(-0.1, 0.1)
        dx, dy = 0.5 * np.cos(angle), 0.5 * np.sin(angle)
        strokes.append(_line((0.5 - dx, 0.5 - dy), (0.5 + dx, 0.5 + dy)))
    return strokes


def heart(rng: np.random.Generator) -> Strokes:
    t = np.linspace(0, 2 * np.pi, 80)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    return [np.stack([x, y], axis=1)]


def smiley(rng: np.random.Generator) -> Strokes:
    strokes = [_arc(0.5, 0.5, 0.5, 0.5, 0, 360, 60)]
    for x in (0.33, 0.67):
        if rng.random() < 0.5:
            strokes.append(_arc(x, 0.35, 0.05, 0.06, 0, 360, 12))
        else:
            strokes.append(_line((x, 0.28), (x, 0.42), steps=4))
    mouth = (0, 180) if rng.random() < 0.8 else (180, 360)
    strokes.append(_arc(0.5, 0.58 if mouth[0] == 0 else 0.8, 0.25, 0.15, *mouth, 24))
    return strokes


def arrow(rng: np.random.Generator) -> Strokes:
    """An arrow in one of eight directions, its head drawn as a separate chevron or in one stroke."""
    angle = np.radians(45 * int(rng.integers(0, 8)))
    direction = np.array([np.cos(angle), np.sin(angle)])
    normal = np.array([-direction[1], direction[0]])
    tail, tip = 0.5 - 0.5 * direction, 0.5 + 0.5 * direction
    head = rng.uniform(0.2, 0.35)
    left, right = tip - head * direction + head * 0.8 * normal, tip - head * direction - head * 0.8 * normal
    return [_line(tuple(tail), tuple(tip)), _line(tuple(left), tuple(tip), tuple(right))]


def house(rng: np.random.Generator) -> Strokes:
    roof = rng.uniform(0.25, 0.45)
    strokes = [_line((0.1, roof), (0.1, 1), (0.9, 1), (0.9, roof), (0.1, roof)),
               _line((0.0, roof + 0.03), (0.5, 0), (1.0, roof + 0.03))]
    if rng.random() < 0.7:
        strokes.append(_line((0.42, 1), (0.42, 0.7), (0.58, 0.7), (0.58, 1)))
    return strokes


def sun(rng: np.random.Generator) -> Strokes:
    rays = int(rng.integers(6, 11))
    strokes = [_arc(0.5, 0.5, 0.22, 0.22, 0, 360, 40)]
    for k in range(rays):
        angle = 2 * np.pi * k / rays
        strokes.append(_line((0.5 + 0.3 * np.cos(angle), 0.5 + 0.3 * np.sin(angle)),
                             (0.5 + 0.5 * np.cos(angle), 0.5 + 0.5 * np.sin(angle)), steps=4))
    return strokes


def flower(rng: np.random.Generator) -> Strokes:
    petals = int(rng.integers(5, 8))
    strokes = [_arc(0.5, 0.35, 0.08, 0.08, 0, 360, 16)]
    for k in range(petals):
        angle = 360 * k / petals
        cx, cy = 0.5 + 0.18 * np.cos(np.radians(angle)), 0.35 + 0.18 * np.sin(np.radians(angle))
        strokes.append(_arc(cx, cy, 0.1, 0.1, 0, 360, 16))
    strokes.append(_line((0.5, 0.55), (0.5, 1.0)))
    strokes.append(_arc(0.62, 0.8, 0.12, 0.05, 0, 360, 16))
    return strokes


def stick_figure(rng: np.random.Generator) -> Strokes:
    return [_arc(0.5, 0.15, 0.15, 0.15, 0, 360, 24), _line((0.5, 0.3), (0.5, 0.7)),
            _line((0.15, 0.45), (0.85, 0.45)), _line((0.2, 1), (0.5, 0.7), (0.8, 1))]


def tree(rng: np.random.Generator) -> Strokes:
    """A fir tree: stacked zigzag branches on a trunk."""
    return [_line((0.5, 0), (0.15, 0.4), (0.35, 0.4), (0.05, 0.75), (0.95, 0.75), (0.65, 0.4), (0.85, 0.4),
                  (0.5, 0)),
            _line((0.42, 0.75), (0.42, 1), (0.58, 1), (0.58, 0.75))]


def waves(rng: np.random.Generator) -> Strokes:
    """Two or three wavy lines, like water."""
    count = int(rng.integers(2, 4))
    x = np.linspace(0, 1, 60)
    cycles = rng.uniform(2, 3.5)
    return [np.stack([x, 0.3 * row + 0.06 * np.sin(2 * np.pi * cycles * x)], axis=1) for row in range(count)]


def letter(rng: np.random.Generator) -> Strokes:
    name = sorted(LETTERS)[int(rng.integers(0, len(LETTERS)))]
    return LETTERS[name](rng)


FAMILIES: dict[str, Callable[[np.random.Generator], Strokes]] = {
    "scribble": scribble, "zigzag": zigzag, "letter": letter, "hash": hash_sign, "grid": grid, "star": star,
    "asterisk": asterisk, "heart": heart, "smiley": smiley, "arrow": arrow, "house": house, "sun": sun,
    "flower": flower, "stick figure": stick_figure, "tree": tree, "waves": waves,
}


def wobble(strokes: Strokes, rng: np.random.Generator) -> Strokes:
    """The shape as a hand draws it: slanted, squashed, rotated, with bent lines and uneven points."""
    angle = np.radians(rng.uniform(-15, 15))
    shear = rng.uniform(-0.25, 0.25)
    aspect = np.exp(rng.uniform(-0.3, 0.3))
    matrix = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]) @ np.array(
        [[aspect, shear], [0.0, 1.0 / aspect]])
    everything = np.concatenate(strokes)
    span = max(float(np.ptp(everything, axis=0).max()), 1e-6)
    bend_phase, bend = rng.uniform(0, 2 * np.pi, 2), rng.uniform(0, 0.04)
    result = []
    for stroke in strokes:
        points = (stroke - everything.min(axis=0)) / span
        points = points + rng.normal(0, 0.008, points.shape)
        points = points + bend * np.sin(points[:, ::-1] * 3 + bend_phase)  # lines a hand bends slightly
        result.append((points @ matrix.T).astype(np.float32))
    return result


def draw_non_digit(family: str, rng: np.random.Generator) -> PenDigit:
    """One non-digit drawing of a family, as pen strokes (label NOT_A_DIGIT)."""
    return PenDigit(NOT_A_DIGIT, -1, wobble(FAMILIES[family](rng), rng))


def non_digit_canvases(count: int, seed: int = 0, held_out: bool = False,
                       families: list[str] | None = None) -> tuple[list[np.ndarray], list[str]]:
    """`count` non-digit canvas drawings (RGBA 280x280), cycling through the families, and each one's family.

    held_out=True draws from seeds no training set uses, for an honest refusal rate.
    """
    drawn = list(iter_non_digit_canvases(count, seed, held_out, families))
    return [canvas for canvas, _ in drawn], [family for _, family in drawn]


def iter_non_digit_canvases(count: int, seed: int = 0, held_out: bool = False,
                            families: list[str] | None = None) -> Iterator[tuple[np.ndarray, str]]:
    """The drawings non_digit_canvases makes, (canvas, family) one at a time: 6,000 canvases at once are 1.9 GB."""
    names = list(families or FAMILIES)
    rng = np.random.default_rng(seed + (HELD_OUT_SEED_OFFSET if held_out else 0))
    for index in range(count):
        family = names[index % len(names)]
        yield render_on_canvas(draw_non_digit(family, rng), rng), family
