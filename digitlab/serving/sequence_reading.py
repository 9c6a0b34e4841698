"""The learned number reader's interface: the strip of ink it is given, and how its output becomes digits.

The reader (digitlab/training/number_reader.py) reads a whole number at once instead of cutting it into
digits first, so digits that touch or cross are read as a person reads them. It looks at the number's ink
cropped to its own bounds, scaled to READER_HEIGHT pixels high with its proportions kept, laid at the
left of a READER_WIDTH-pixel strip. It answers, for every fourth column of the strip, which digit (or
none, the blank) that column shows; runs of the same answer are one digit. Where in the image each digit
was read comes from the column it peaked at (place_ink records how the strip maps back). A reader trained
to say "not a number" also gives, for the whole strip, the odds that its ink is no number. Plain numpy,
and the registered reader runs from its flatbuffer on LiteRT (SequenceReader), so serving it needs no
TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitlab.serving.litert import LiteModel

READER_HEIGHT = 32
READER_WIDTH = 256  # 8 digits of a usual width fit; a longer number is squeezed to fit
INK_LEVEL = 40  # a grey level above this is ink (the canvas's white ink on black)
PADDING_SHARE = 0.12  # room kept around the ink, as a share of its height
BLANK = 0  # the reader's "no digit here"; digit d is class d + 1
COLUMNS_PER_STEP = 4  # the network pools the strip's width by 4: one answer per 4 strip columns


@dataclass(frozen=True)
class Placement:
    """How the strip was cut from the image: image x = left + strip x / scale."""

    left: float
    scale: float  # strip columns per image column

    def image_x(self, step: float) -> float:
        """The image column at the middle of one of the reader's answers (a step of COLUMNS_PER_STEP columns)."""
        return self.left + (step + 0.5) * COLUMNS_PER_STEP / self.scale


def place_ink(ink: np.ndarray) -> tuple[np.ndarray, Placement | None]:
    """(the strip, how it maps back to the image) for a grey (height, width) uint8 image of bright ink:
    (READER_HEIGHT, READER_WIDTH) float32 in [0, 1]. An image without ink gives an empty strip and None."""
    inked = ink > INK_LEVEL
    rows, columns = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    strip = np.zeros((READER_HEIGHT, READER_WIDTH), np.float32)
    if len(rows) == 0:
        return strip, None
    top, bottom, left, right = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    padding = max(2, int(PADDING_SHARE * (bottom - top)))
    cropped = np.pad(ink[top:bottom, left:right], padding)
    width = min(READER_WIDTH, max(1, round(cropped.shape[1] * READER_HEIGHT / cropped.shape[0])))
    scaled = Image.fromarray(cropped).resize((width, READER_HEIGHT), Image.BILINEAR)
    strip[:, :width] = np.asarray(scaled, np.float32) / 255.0
    return strip, Placement(float(left - padding), width / cropped.shape[1])


def reader_input(ink: np.ndarray) -> np.ndarray:
    """The strip alone (place_ink)."""
    return place_ink(ink)[0]


@dataclass(frozen=True)
class ReadDigit:
    """One digit the reader read: the steps of its run and the ten digits' probabilities where it peaked."""

    digit: int
    first_step: int
    last_step: int
    peak_step: int
    probabilities: np.ndarray  # (10,), summing to 1


def digit_runs(best: np.ndarray) -> list[tuple[int, int, int]]:
    """(class, first step, step after the last) of each run of one class in a strip's best classes, blanks
    dropped: one run is one digit, and a blank between two equal classes keeps both ("11")."""
    runs, start = [], 0
    for step in range(1, len(best) + 1):
        if step < len(best) and best[step] == best[start]:
            continue
        if best[start] != BLANK:
            runs.append((int(best[start]), start, step))
        start = step
    return runs


def read_digits(probabilities: np.ndarray) -> list[ReadDigit]:
    """The digits one strip's answers (columns, 11 class probabilities) read, as decode_readings reads them,
    with where each was read."""
    digits = []
    for label, start, stop in digit_runs(np.argmax(probabilities, axis=-1)):
        peak = start + int(np.argmax(probabilities[start:stop, label]))
        digit_probabilities = probabilities[peak, 1:] / max(float(probabilities[peak, 1:].sum()), 1e-12)
        digits.append(ReadDigit(label - 1, start, stop - 1, peak, digit_probabilities))
    return digits


@dataclass(frozen=True)
class StripReading:
    """What the reader says of strips: each column's class probabilities, and the odds that each strip is
    no number (None from a reader never taught "not a number")."""

    probabilities: np.ndarray  # (n, columns, 11)
    not_a_number: np.ndarray | None  # (n,), 0..1


class SequenceReader:
    """A registered number reader's flatbuffer on LiteRT: strips in, each column's class probabilities
    (and, from a reader taught it, the odds of "not a number") out. refusal_level: the odds from which
    a strip may be no number, as its card says (chosen when it was trained); None where it cannot say.

    Thread-safe (LiteModel lends each call its own interpreter)."""

    def __init__(self, flatbuffer: bytes, refusal_level: float | None = None):
        self._forward = LiteModel(flatbuffer)
        self.refusal_level = refusal_level

    def read(self, strips: np.ndarray) -> StripReading:
        """What the reader says of (n, READER_HEIGHT, READER_WIDTH) strips."""
        outputs = self._forward.outputs(np.asarray(strips, np.float32)[..., None])
        # Told apart by shape, not order: the converter does not promise to keep the outputs' order.
        scores = next(output for output in outputs if output.ndim == 3)
        refusal = next((output for output in outputs if output.ndim == 2), None)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        return StripReading(scores / scores.sum(axis=-1, keepdims=True),
                            None if refusal is None else 1.0 / (1.0 + np.exp(-refusal[:, 0])))

    def probabilities(self, strips: np.ndarray) -> np.ndarray:
        """(n, columns, 11) probabilities for (n, READER_HEIGHT, READER_WIDTH) strips."""
        return self.read(strips).probabilities


def decode_readings(scores: np.ndarray) -> list[str]:
    """The digits each row of scores (batch, columns, 11 classes) reads: the best class per column, runs of
    one class taken once, blanks dropped. A blank between two equal classes keeps both ("11")."""
    return ["".join(str(label - 1) for label, _, _ in digit_runs(best)) for best in np.argmax(scores, axis=-1)]
