"""Training images beyond MNIST: real pen digits and non-digit drawings, as the Draw page would see them.

MNIST alone leaves the model reading new writers' canvas drawings about 96% right; real drawings in
training are what closes the gap. Each pen trajectory (UCI pendigits, training writers only) is
drawn on a canvas several times with a different size, place and brush, and passed through the very
`preprocess` the Draw page uses, so training sees exactly what serving will. Non-digit drawings
(digitlab.datasets.nondigits) are made the same way and labelled NOT_A_DIGIT.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from digitlab.datasets.nondigits import NOT_A_DIGIT, iter_non_digit_canvases
from digitlab.datasets.pendigits import PenDigit, read_pendigits, render_on_canvas, split_by_writer
from digitlab.serving.preprocess import preprocess

PEN_DATA_SOURCE = ("UCI pendigits (Alpaydin & Alimoglu), pendigits-orig.tra, "
                   "https://archive.ics.uci.edu/dataset/81, CC BY 4.0")


def canvases_to_mnist(canvases: Iterable[np.ndarray], labels: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """The 28x28 images preprocessing makes of canvas drawings; drawings it finds blank are dropped.

    canvases may be a generator: each 280x280 RGBA canvas (313 KB) is dropped once preprocessed, where
    a list of 11,000 pen-digit canvases held 3.4 GB.
    """
    images, kept = [], []
    for canvas, label in zip(canvases, labels):
        prepared = preprocess(canvas)
        if prepared.has_digit:
            images.append(prepared.mnist)
            kept.append(label)
    if not images:
        return np.zeros((0, 28, 28), np.uint8), np.zeros((0,), np.int64)
    return np.stack(images), np.asarray(kept, np.int64)


def pen_digit_images(digits: list[PenDigit], copies: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each pen digit drawn `copies` times (varied size, place, brush) and preprocessed."""
    rng = np.random.default_rng(seed)
    drawn = (digit for _ in range(copies) for digit in digits)
    return canvases_to_mnist((render_on_canvas(digit, rng) for digit in drawn),
                             [digit.label for _ in range(copies) for digit in digits])


def training_writers_digits(path: str | Path) -> list[PenDigit]:
    """The pen digits of the training writers only: held-out writers are never trained on."""
    training, _ = split_by_writer(read_pendigits(path))
    return training


def non_digit_images(count: int, seed: int = 0, held_out: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`count` non-digit drawings, preprocessed, all labelled NOT_A_DIGIT."""
    canvases = (canvas for canvas, _ in iter_non_digit_canvases(count, seed=seed, held_out=held_out))
    return canvases_to_mnist(canvases, np.full(count, NOT_A_DIGIT, np.int64))


def extra_training_images(pen_digits: str | Path | None, pen_copies: int, non_digits: int,
                          seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """The images to add to MNIST for a run, and a description of them for the model card."""
    parts_x, parts_y = [np.zeros((0, 28, 28), np.uint8)], [np.zeros((0,), np.int64)]
    description: dict = {}
    if pen_digits:
        digits = training_writers_digits(pen_digits)
        x, y = pen_digit_images(digits, pen_copies, seed=seed)
        parts_x.append(x)
        parts_y.append(y)
        description["pen_digits"] = {"source": PEN_DATA_SOURCE, "file": Path(pen_digits).name,
                                     "writers": sorted({digit.writer for digit in digits}),
                                     "digits": len(digits), "copies": pen_copies, "images": len(y)}
    if non_digits:
        x, y = non_digit_images(non_digits, seed=seed)
        parts_x.append(x)
        parts_y.append(y)
        description["non_digits"] = {"source": "digitlab.datasets.nondigits (generated; training seeds)", "images": len(y)}
    return np.concatenate(parts_x), np.concatenate(parts_y), description
