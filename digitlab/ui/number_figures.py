"""Figures for a number reading: the input with a box over each digit, and each digit's probabilities."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from digitlab.numbers import NumberReading
from digitlab.preprocess import to_ink

DIGIT_BOX_COLOR = (80, 200, 120)  # green: a digit read
UNSURE_BOX_COLOR = (255, 170, 0)  # amber: the least certain digit
OTHER_BOX_COLOR = (150, 150, 160)  # grey: ink that is not a digit
BOX_WIDTH = 3


def reading_overlay(image, reading: NumberReading) -> np.ndarray:
    """The input as ink on black (RGB) with a labelled box over each digit and each non-digit mark."""
    ink = np.round(to_ink(image) * 255).astype(np.uint8)
    picture = Image.fromarray(ink).convert("RGB")
    draw = ImageDraw.Draw(picture)
    least = reading.least_certain
    label_size = max(14, picture.height // 12)
    for index, digit in enumerate(reading.digits):
        color = UNSURE_BOX_COLOR if index == least else DIGIT_BOX_COLOR
        x0, y0, x1, y1 = digit.box
        draw.rectangle((x0 - 4, y0 - 4, x1 + 3, y1 + 3), outline=color, width=BOX_WIDTH)
        draw.text((x0 - 2, max(0, y0 - 6 - label_size)), f"{digit.digit} {digit.prediction.confidence:.0%}",
                  fill=color, font_size=label_size)
    for mark in reading.others:
        x0, y0, x1, y1 = mark.box
        draw.rectangle((x0 - 4, y0 - 4, x1 + 3, y1 + 3), outline=OTHER_BOX_COLOR, width=1)
        draw.text((x0, y1 + 6), "?", fill=OTHER_BOX_COLOR, font_size=label_size)
    return np.asarray(picture)
