"""Training images beyond MNIST: real pen digits and non-digit drawings, as the Draw page would see them.

MNIST alone leaves the model reading new writers' canvas drawings about 96% right; real drawings in
training are what closes the gap. Each pen trajectory (UCI pendigits, training writers only) is
drawn on a canvas several times with a different size, place and brush, and passed through the very
`preprocess` the Draw page uses, so training sees exactly what serving will. Non-digit drawings
(digitlab.datasets.nondigits) are made the same way and labelled NOT_A_DIGIT.

UNIPEN adds hundreds more hands from the training institutions only (digitlab.datasets.unipen): their
digits, and as "not a digit" their letters that no digit resembles. Styled copies (digitlab.datasets.
pen_styles) give the zeros, sevens and ones of the pen sources a slash, a bar and a foot. Every part
is described for the model card with its source, counts, writers or institutions and the sha256 of
its source file and of the images it became, so two runs can be compared image for image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from digitlab.datasets.mnist import array_sha256
from digitlab.datasets.nondigits import NOT_A_DIGIT, iter_non_digit_canvases
from digitlab.datasets.pen_styles import STYLES, with_style
from digitlab.datasets.pendigits import (PenDigit, read_pendigits, render_on_canvas, render_strokes_on_canvas,
                                         split_by_writer)
from digitlab.serving.preprocess import preprocess
from digitlab.store.atomic import file_sha256

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


def strokes_images(strokes: list[list[np.ndarray]], labels: list[int], copies: int,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Each pen drawing drawn `copies` times (varied size, place, brush) and preprocessed."""
    rng = np.random.default_rng(seed)
    drawn = (one for _ in range(copies) for one in strokes)
    return canvases_to_mnist((render_strokes_on_canvas(one, rng) for one in drawn), list(labels) * copies)


def styled_images(strokes: list[list[np.ndarray]], labels: list[int], copies: int,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`copies` styled drawings of each zero, seven and one among the pen drawings (slash, bar, foot)."""
    rng = np.random.default_rng([seed, 7])
    chosen = [(one, label) for one, label in zip(strokes, labels) if label in STYLES]
    styled = [with_style(label, one, rng) for _ in range(copies) for one, label in chosen]
    return strokes_images(styled, [label for _ in range(copies) for _, label in chosen], 1, seed=seed + 1)


def _images_sha256(x: np.ndarray, y: np.ndarray) -> str:
    return array_sha256(np.concatenate([np.ascontiguousarray(x).ravel(), y.astype(np.uint8)]))


def extra_training_images(pen_digits: str | Path | None, pen_copies: int, non_digits: int, seed: int = 0,
                          unipen: str | Path | None = None, unipen_copies: int = 1, letter_copies: int = 0,
                          style_copies: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """The images to add to MNIST for a run, and a description of them for the model card."""
    parts_x, parts_y = [np.zeros((0, 28, 28), np.uint8)], [np.zeros((0,), np.int64)]
    description: dict = {}
    pen_strokes: list[list[np.ndarray]] = []  # the training writers' digits of every pen source, for styles
    pen_labels: list[int] = []

    def add(name: str, x: np.ndarray, y: np.ndarray, **about) -> None:
        parts_x.append(x)
        parts_y.append(y)
        description[name] = {**about, "images": len(y), "images_sha256": _images_sha256(x, y)}

    if pen_digits:
        digits = training_writers_digits(pen_digits)
        x, y = pen_digit_images(digits, pen_copies, seed=seed)
        add("pen_digits", x, y, source=PEN_DATA_SOURCE, file=Path(pen_digits).name,
            file_sha256=file_sha256(pen_digits), writers=sorted({digit.writer for digit in digits}),
            digits=len(digits), copies=pen_copies)
        pen_strokes += [digit.strokes for digit in digits]
        pen_labels += [digit.label for digit in digits]
    if unipen:
        from digitlab.datasets.unipen import (HELD_OUT_INSTITUTIONS, NOT_DIGIT_LETTERS, UNIPEN_SOURCE,
                                              unipen_digits, unipen_letters)

        about = {"source": UNIPEN_SOURCE, "file": Path(unipen).name, "file_sha256": file_sha256(unipen),
                 "held_out_institutions": sorted(HELD_OUT_INSTITUTIONS)}
        digits = unipen_digits(unipen, held_out=False)
        x, y = strokes_images([digit.strokes for digit in digits], [digit.digit for digit in digits],
                              unipen_copies, seed=seed + 2)
        add("unipen_digits", x, y, **about, **_who(digits), digits=len(digits), copies=unipen_copies)
        pen_strokes += [digit.strokes for digit in digits]
        pen_labels += [digit.digit for digit in digits]
        if letter_copies:
            letters = unipen_letters(unipen, held_out=False)
            x, y = strokes_images([letter.strokes for letter in letters], [NOT_A_DIGIT] * len(letters),
                                  letter_copies, seed=seed + 3)
            add("unipen_letters", x, y, **about, **_who(letters), letters="".join(sorted(NOT_DIGIT_LETTERS)),
                characters=len(letters), copies=letter_copies)
    if style_copies and pen_strokes:
        x, y = styled_images(pen_strokes, pen_labels, style_copies, seed=seed + 4)
        add("pen_styles", x, y, source="digitlab.datasets.pen_styles on the pen digits above (training writers)",
            styles={"0": "slash", "7": "bar", "1": "foot and flag"}, copies=style_copies,
            per_digit={str(digit): int((y == digit).sum()) for digit in sorted(STYLES)})
    if non_digits:
        x, y = non_digit_images(non_digits, seed=seed)
        add("non_digits", x, y, source="digitlab.datasets.nondigits (generated; training seeds)")
    return np.concatenate(parts_x), np.concatenate(parts_y), description


def _who(characters) -> dict:
    """Institutions with their writer and character counts, for the model card."""
    institutions: dict[str, dict] = {}
    for character in characters:
        entry = institutions.setdefault(character.institution, {"writers": set(), "characters": 0})
        entry["writers"].add(character.writer)
        entry["characters"] += 1
    return {"institutions": {name: {"writers": len(entry["writers"]), "characters": entry["characters"]}
                             for name, entry in sorted(institutions.items())},
            "writers": len({character.writer for character in characters})}
