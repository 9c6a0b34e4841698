"""The learned number reader's interface: the strip of ink it is given, and how its output becomes digits.

The reader (digitlab/training/number_reader.py) reads a whole number at once instead of cutting it into
digits first, so digits that touch or cross are read as a person reads them. It looks at the number's ink
cropped to its own bounds, scaled to READER_HEIGHT pixels high with its proportions kept, laid at the
left of a READER_WIDTH-pixel strip. It answers, for every fourth column of the strip, which digit (or
none, the blank) that column shows; runs of the same answer are one digit. Plain numpy, so serving it
needs no TensorFlow.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

READER_HEIGHT = 32
READER_WIDTH = 256  # 8 digits of a usual width fit; a longer number is squeezed to fit
INK_LEVEL = 40  # a grey level above this is ink (the canvas's white ink on black)
PADDING_SHARE = 0.12  # room kept around the ink, as a share of its height
BLANK = 0  # the reader's "no digit here"; digit d is class d + 1


def reader_input(ink: np.ndarray) -> np.ndarray:
    """(READER_HEIGHT, READER_WIDTH) float32 in [0, 1] from a grey (height, width) uint8 image of bright ink.

    An image without ink gives an empty strip.
    """
    rows, columns = np.nonzero(ink > INK_LEVEL)
    strip = np.zeros((READER_HEIGHT, READER_WIDTH), np.float32)
    if len(rows) == 0:
        return strip
    top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    padding = max(2, int(PADDING_SHARE * (bottom - top)))
    cropped = np.pad(ink[top:bottom, left:right], padding)
    width = min(READER_WIDTH, max(1, round(cropped.shape[1] * READER_HEIGHT / cropped.shape[0])))
    scaled = Image.fromarray(cropped).resize((width, READER_HEIGHT), Image.BILINEAR)
    strip[:, :width] = np.asarray(scaled, np.float32) / 255.0
    return strip


def decode_readings(scores: np.ndarray) -> list[str]:
    """The digits each row of scores (batch, columns, 11 classes) reads: the best class per column, runs of
    one class taken once, blanks dropped. A blank between two equal classes keeps both ("11")."""
    readings = []
    for best in np.argmax(scores, axis=-1):
        digits, previous = [], BLANK
        for label in best.tolist():
            if label != previous and label != BLANK:
                digits.append(str(label - 1))
            previous = label
        readings.append("".join(digits))
    return readings
