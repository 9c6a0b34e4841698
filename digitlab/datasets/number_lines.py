"""Whole numbers for the learned number reader: what it learns from and what measures it.

Each number is one writer's pen digits laid out as digitlab/datasets/pen_numbers.py writes them (one pen,
one height, a baseline that wanders), turned into the strip the reader is given
(digitlab/serving/sequence_reading.py). To learn from, the gaps between neighbours come from the way people
write: many pairs touching or overlapping by up to a tenth of a digit height, many close, some wide.
Writing that is no number (words, rows of doodles: digitlab/datasets/not_numbers.py) comes as lines too,
with no digits, so the reader also learns to say "not a number". MNIST's scanned digits, written on paper
by hundreds of other people, are laid side by side the same way (mnist_number_lines); MNIST does not say
who wrote which digit, so one number may mix writers, and its test digits (other writers) measure.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain

import numpy as np

from digitlab.datasets.not_numbers import doodle_rows, written_words
from digitlab.datasets.pen_numbers import BASELINE_LIMIT, BASELINE_STEP, TALLEST_DIGIT, PenNumber, write_numbers
from digitlab.datasets.pendigits import PenDigit
from digitlab.datasets.unipen import UnipenCharacter
from digitlab.serving.sequence_reading import READER_HEIGHT, READER_WIDTH, reader_input

MAX_DIGITS = 8
# (gap range in digit heights, share of numbers): touching or overlapping, close, wide.
GAP_MIXTURE = (((-0.1, 0.05), 0.4), ((0.0, 0.35), 0.4), ((0.2, 0.6), 0.2))
TIGHT_GAPS = (-0.1, 0.35)  # the way people write a year or a price: about a third of the pairs touch
WIDE_GAPS = (0.0, 0.6)  # the number benchmark's spacing, from touching to wide apart
WORD_SHARE = 2 / 3  # of the lines that are no number, words; the rest rows of doodles


@dataclass(frozen=True)
class NumberLines:
    """Numbers as the reader sees them, with the truth about them."""

    strips: np.ndarray  # (n, READER_HEIGHT, READER_WIDTH) float32
    labels: np.ndarray  # (n, MAX_DIGITS) int32: digit + 1 for each digit, 0 after the last
    texts: list[str]  # "" for writing that is no number

    @property
    def is_number(self) -> np.ndarray:
        return np.array([text != "" for text in self.texts])


def number_lines(digits: list[PenDigit], count: int, seed: int, lengths: tuple[int, ...] = tuple(range(1, 9)),
                 gap_range: tuple[float, float] | None = None) -> NumberLines:
    """count numbers, writers taken in turn, each of a length drawn from lengths, with gaps from gap_range
    (or, where it is None, from GAP_MIXTURE)."""
    if max(lengths) > MAX_DIGITS:
        raise ValueError(f"numbers of up to {MAX_DIGITS} digits")
    numbers = write_numbers(digits, count, lengths, seed, gap_mixture=GAP_MIXTURE) if gap_range is None else \
        write_numbers(digits, count, lengths, seed, gap_range)
    return lines_of(canvas_inks(numbers), count)


MNIST_INK = 40  # an MNIST grey level above this is ink, for a digit's box
MNIST_HEIGHT = 64  # pixels: each MNIST digit's ink is scaled to about this height (the strip scales it again)


def mnist_number_lines(images: np.ndarray, labels: np.ndarray, count: int, seed: int,
                       lengths: tuple[int, ...] = tuple(range(1, 9)),
                       gap_range: tuple[float, float] | None = None) -> NumberLines:
    """count numbers of MNIST digits (mnist_numbers) as the reader sees them."""
    return lines_of(mnist_numbers(images, labels, count, seed, lengths, gap_range), count)


def mnist_numbers(images: np.ndarray, labels: np.ndarray, count: int, seed: int,
                  lengths: tuple[int, ...] = tuple(range(1, 9)),
                  gap_range: tuple[float, float] | None = None) -> Iterator[tuple[np.ndarray, str]]:
    """count (picture, its digits) of MNIST digits (uint8 (n, 28, 28) bright on black, with their labels) side
    by side on black: one height per number, each digit's ink scaled to it, gaps from gap_range or
    GAP_MIXTURE (touching digits overlap where their ink meets, the brighter pixel kept), a baseline that
    wanders as pen numbers' does (digitlab/datasets/pen_numbers.py)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    ranges, shares = zip(*GAP_MIXTURE)
    drift_limit = math.ceil(BASELINE_LIMIT * MNIST_HEIGHT)  # pixels
    for _ in range(count):
        chosen = rng.integers(0, len(images), size=int(rng.choice(lengths)))
        gaps = gap_range if gap_range is not None else ranges[int(rng.choice(len(ranges), p=shares))]
        pieces = []
        for image in images[chosen]:
            inked = image > MNIST_INK
            rows, columns = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
            ink = image[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1] if len(rows) else image
            height = int(round(MNIST_HEIGHT * rng.uniform(0.92, TALLEST_DIGIT)))
            width = max(1, int(round(ink.shape[1] * height / ink.shape[0])))
            pieces.append(np.asarray(Image.fromarray(ink).resize((width, height), Image.BILINEAR)))
        spacing = [int(round(rng.uniform(*gaps) * MNIST_HEIGHT)) for _ in pieces[1:]]
        drift = np.clip(np.cumsum(rng.normal(0, BASELINE_STEP * MNIST_HEIGHT, len(pieces))),
                        -drift_limit, drift_limit).astype(int)
        margin = MNIST_HEIGHT // 4
        canvas = np.zeros((2 * MNIST_HEIGHT, sum(piece.shape[1] for piece in pieces) + max(0, sum(spacing)) + 2 * margin),
                          np.uint8)
        x = margin
        for piece, y, gap in zip(pieces, drift, [*spacing, 0]):
            top = margin + int(y) + MNIST_HEIGHT // 2 - piece.shape[0] // 2
            region = canvas[top : top + piece.shape[0], x : x + piece.shape[1]]
            np.maximum(region, piece[: region.shape[0], : region.shape[1]], out=region)
            x = max(0, x + piece.shape[1] + gap)
        yield canvas, "".join(str(int(label)) for label in labels[chosen])


def not_number_lines(letters: list[UnipenCharacter], count: int, seed: int, held_out: bool) -> NumberLines:
    """count lines that are no number: WORD_SHARE words by these letters' writers, the rest rows of doodles
    (held_out: from the doodle seeds kept for measuring). Without letters, all are doodle rows."""
    words = round(count * WORD_SHARE) if letters else 0
    # written_words refuses outright where no writer wrote enough letters, even when asked for none.
    written = chain(written_words(letters, words, seed) if words else (), doodle_rows(count - words, seed, held_out))
    # Their pen digits stand in for letters and doodles and say "0": these lines read no digit at all.
    return lines_of(((ink, "") for ink, _ in canvas_inks(written)), count)


def canvas_inks(numbers: Iterator[PenNumber]) -> Iterator[tuple[np.ndarray, str]]:
    """(ink, digits) of each drawn number: a canvas's ink is its alpha."""
    return ((number.canvas[:, :, 3], number.text) for number in numbers)


def lines_of(pictures: Iterator[tuple[np.ndarray, str]], count: int) -> NumberLines:
    """The strips of count (bright ink on black, its digits), taken one at a time: 30,000 whole canvases
    would take about 22 GB."""
    strips = np.zeros((count, READER_HEIGHT, READER_WIDTH), np.float32)
    labels = np.zeros((count, MAX_DIGITS), np.int32)
    texts = []
    for index, (ink, text) in enumerate(pictures):
        strips[index] = reader_input(ink)
        labels[index, :len(text)] = [int(character) + 1 for character in text]
        texts.append(text)
    return NumberLines(strips, labels, texts)


def joined(parts: list[NumberLines]) -> NumberLines:
    """Several sets of numbers as one, in order."""
    return NumberLines(np.concatenate([part.strips for part in parts]), np.concatenate([part.labels for part in parts]),
                       [text for part in parts for text in part.texts])
