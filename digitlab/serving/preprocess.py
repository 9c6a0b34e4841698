"""Any image of one digit -> the 28x28 MNIST-style image the model sees.

MNIST digits were cropped to their ink, fitted into a 20x20 box keeping the aspect ratio (antialiased)
and placed in 28x28 by centre of mass. Resizing a whole canvas to 28x28 instead gives the model tiny,
off-centre, hairline or blobby digits it never saw, which is why most digit apps misread real drawings.
Stroke width is normalised too: a thin pen on a large digit or a fat brush on a small one would
otherwise reach the model far thinner or thicker than any MNIST stroke. Which pixels are ink, and how
strongly, is read first (digitlab/serving/ink.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from digitlab.serving.ink import (INK_LEVEL_THRESHOLD, INK_THRESHOLD, ink_of_strokes_layer, ink_of_white_alpha,
                                  strokes_box, to_ink, white_strokes_alpha)

MNIST_SIZE = 28
DIGIT_BOX = 20  # MNIST fits each digit's longer side into 20 px
WORK_SCALE = 4  # stroke width is adjusted at 4x the final resolution, where 1 px is a fine step
TARGET_STROKE_WIDTH = 3.2  # median MNIST stroke width in final pixels, measured on the training set
# Widths inside this range are left as drawn; only hairlines and marker blobs are changed. MNIST's own
# 10th-90th percentile is 2.4-4.3, but pulling every stroke into it cost accuracy on real pen digits
# once training varies the stroke width (97.2% left as drawn, 96.4% pulled into 2.4-4.3, 97.2% here).
STROKE_WIDTH_RANGE = (1.0, 6.0)

MIN_INK_FRACTION = 0.0005  # fewer ink pixels than this share of the image is a stray dot, not a digit
MIN_INK_EXTENT = 0.03  # ink spanning less than this share of the longer image side is a dot


@dataclass(frozen=True)
class Preprocessed:
    """What preprocessing made of an image: the model input, or None when there is no digit."""

    mnist: np.ndarray | None  # uint8 (28, 28), ink bright on black like MNIST; None for "no digit"
    reason: str = ""  # why there is no digit, for the user

    @property
    def has_digit(self) -> bool:
        return self.mnist is not None


def stroke_width(mask: np.ndarray) -> float:
    """Estimate the stroke width of a binary ink mask in pixels.

    A stroke of length L and width w covers about w*L pixels and has about 2*L boundary pixels,
    so w is about 2 * area / boundary.
    """
    area = int(np.count_nonzero(mask))
    if area == 0:
        return 0.0
    # Interior pixels have all four neighbours inked; pixels on the mask's edge never do (beyond it is paper).
    interior = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    boundary = area - int(np.count_nonzero(interior))
    return 2.0 * area / max(boundary, 1)


def preprocess(image: Image.Image | np.ndarray, normalize_stroke: bool = True) -> Preprocessed:
    """Turn any digit image into MNIST's 28x28 layout, or say why there is no digit.

    An image without contrast has no digit: an empty canvas, a fully transparent one, and one inked
    edge to edge all come back as blank. Arrays that are not an image (wrong shape, empty, NaN,
    not numbers) raise ValueError.
    """
    # A canvas drawing is mostly empty transparent paper: its ink is found on the strokes' bounding box
    # alone (about a fifth of the canvas), the same values to_ink gives there, and zero around it.
    found = strokes_box(image) if isinstance(image, np.ndarray) else None
    alpha = white_strokes_alpha(found) if found is not None else None
    # The Draw canvas's own case, white strokes at full strength: to_ink's ink is exactly alpha / 255,
    # so the alpha is the ink's 8-bit levels, with no float pass.
    levels = alpha if alpha is not None and alpha.max() == 255 else None
    if levels is not None:
        ink, (row_offset, col_offset), shape = levels, found.corner, found.shape
        mask = ink >= INK_LEVEL_THRESHOLD
    else:
        if alpha is not None:  # white strokes, none at full strength: their alpha is already read
            layer = ink_of_white_alpha(alpha), found.corner, found.shape
        else:
            layer = ink_of_strokes_layer(image, found) if found is not None else None
        ink, (row_offset, col_offset), shape = layer if layer is not None else (to_ink(image), (0, 0), None)
        shape = shape or ink.shape
        mask = ink > INK_THRESHOLD
    ink_pixels = int(np.count_nonzero(mask))
    if ink_pixels == 0:
        return Preprocessed(None, "The image is blank.")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    extent = max(bottom - top, right - left)
    if ink_pixels < MIN_INK_FRACTION * shape[0] * shape[1] or extent < MIN_INK_EXTENT * max(shape):
        return Preprocessed(None, "There is too little ink to read a digit.")

    crop = ink[top:bottom, left:right]
    if levels is None:
        crop = _as_levels(crop)
    crop_mask = mask[top:bottom, left:right]
    height, width = crop.shape
    # The longer side becomes DIGIT_BOX * WORK_SCALE pixels at the working resolution. Resizing and
    # the stroke-width filters work on 8-bit levels: a quarter of the memory float images take, and
    # the levels' rounding is far below what the final 20x20 box can show.
    work_scale = DIGIT_BOX * WORK_SCALE / max(height, width)
    work_size = (max(1, round(width * work_scale)), max(1, round(height * work_scale)))
    work = Image.fromarray(crop).resize(work_size, Image.Resampling.BOX if work_scale < 1 else Image.Resampling.BILINEAR)

    if normalize_stroke:
        drawn_width = stroke_width(crop_mask) * work_scale  # in working pixels
        work = _normalize_stroke_width(work, drawn_width)

    final_size = (max(1, round(work.width / WORK_SCALE)), max(1, round(work.height / WORK_SCALE)))
    digit = np.asarray(work.resize(final_size, Image.Resampling.BOX), dtype=np.float32)
    return Preprocessed(_place_by_centre_of_mass(digit))


def _as_levels(ink: np.ndarray) -> np.ndarray:
    """Ink strength (float, 0..1) as 8-bit levels 0..255."""
    levels = ink * np.float32(255)
    return np.rint(levels, out=levels).astype(np.uint8)


def _normalize_stroke_width(work: Image.Image, drawn_width: float) -> Image.Image:
    """Grow or shrink strokes (at working resolution) into MNIST's range of widths."""
    low, high = (w * WORK_SCALE for w in STROKE_WIDTH_RANGE)
    if low <= drawn_width <= high:
        return work
    target = TARGET_STROKE_WIDTH * WORK_SCALE
    # A rank filter of size 2r+1 moves each edge by r pixels, so the width changes by 2r.
    radius = round(abs(target - drawn_width) / 2)
    if radius == 0:
        return work
    if drawn_width < low:
        return work.filter(ImageFilter.MaxFilter(2 * radius + 1))
    # Never erode more than leaves a stroke about one working pixel wide.
    radius = min(radius, max(0, int((drawn_width - 1) // 2)))
    return work.filter(ImageFilter.MinFilter(2 * radius + 1)) if radius else work


def _place_by_centre_of_mass(digit: np.ndarray) -> np.ndarray:
    """Place a digit (float, at most 20x20) in 28x28 so its centre of mass is at the centre."""
    canvas = np.zeros((MNIST_SIZE, MNIST_SIZE), np.float32)
    height, width = digit.shape
    # The centre of mass from the row and column sums: the same sums as weighting every pixel by its
    # coordinates, at a fraction of the cost (this runs on every stroke).
    row_mass, column_mass = digit.sum(axis=1, dtype=np.float64), digit.sum(axis=0, dtype=np.float64)
    total = float(row_mass.sum())
    if total > 0:
        com_y = float(row_mass @ np.arange(height)) / total
        com_x = float(column_mass @ np.arange(width)) / total
    else:
        com_y, com_x = (height - 1) / 2, (width - 1) / 2
    centre = (MNIST_SIZE - 1) / 2
    top = min(max(round(centre - com_y), 0), MNIST_SIZE - height)  # Python's min/max: np.clip costs
    left = min(max(round(centre - com_x), 0), MNIST_SIZE - width)  # more than the rest on one number
    canvas[top : top + height, left : left + width] = digit
    peak = float(digit.max())
    if peak > 0:
        canvas *= np.float32(255.0 / peak)
    return np.clip(np.round(canvas), 0, 255, out=canvas).astype(np.uint8)
