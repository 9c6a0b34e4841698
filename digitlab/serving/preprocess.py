"""Any image of one digit -> the 28x28 MNIST-style image the model sees.

MNIST digits were cropped to their ink, fitted into a 20x20 box keeping the aspect ratio (antialiased)
and placed in 28x28 by centre of mass. Resizing a whole canvas to 28x28 instead gives the model tiny,
off-centre, hairline or blobby digits it never saw, which is why most digit apps misread real drawings.
Stroke width is normalised too: a thin pen on a large digit or a fat brush on a small one would
otherwise reach the model far thinner or thicker than any MNIST stroke.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

MNIST_SIZE = 28
DIGIT_BOX = 20  # MNIST fits each digit's longer side into 20 px
WORK_SCALE = 4  # stroke width is adjusted at 4x the final resolution, where 1 px is a fine step
TARGET_STROKE_WIDTH = 3.2  # median MNIST stroke width in final pixels, measured on the training set
# Widths inside this range are left as drawn; only hairlines and marker blobs are changed. MNIST's own
# 10th-90th percentile is 2.4-4.3, but pulling every stroke into it cost accuracy on real pen digits
# once training varies the stroke width (97.2% left as drawn, 96.4% pulled into 2.4-4.3, 97.2% here).
STROKE_WIDTH_RANGE = (1.0, 6.0)

INK_THRESHOLD = 0.35  # ink strength (0..1) above which a pixel counts as ink
INK_LEVEL_THRESHOLD = 90  # the same on 8-bit levels: 90 / 255 is the first level above 0.35
MIN_CONTRAST = 40 / 255  # below this the image is treated as blank: sensor noise, paper texture
MIN_INK_FRACTION = 0.0005  # fewer ink pixels than this share of the image is a stray dot, not a digit
MIN_INK_EXTENT = 0.03  # ink spanning less than this share of the longer image side is a dot
ARRAY_READY_MODES = ("1", "L", "LA", "RGB", "RGBA", "I;16", "I", "F")  # PIL modes whose arrays are grey levels


@dataclass(frozen=True)
class Preprocessed:
    """What preprocessing made of an image: the model input, or None when there is no digit."""

    mnist: np.ndarray | None  # uint8 (28, 28), ink bright on black like MNIST; None for "no digit"
    reason: str = ""  # why there is no digit, for the user

    @property
    def has_digit(self) -> bool:
        return self.mnist is not None


def to_ink(image: Image.Image | np.ndarray) -> np.ndarray:
    """Return ink strength in [0, 1] (float32, HxW) from any image, detecting which side is ink.

    Transparent pixels are background (a canvas draws strokes on a transparent layer). For opaque
    images the background is the border's typical level, so both white-on-black canvases and
    dark-on-light photos and scans come out as bright ink on black.
    """
    if isinstance(image, Image.Image) and image.mode not in ARRAY_READY_MODES:
        image = image.convert("RGBA")  # palette indices or CMYK values are not grey levels
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (2, 3, 4)):
        raise ValueError(f"expected a grey, RGB or RGBA image, got an array of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"expected an image with pixels, got an empty array of shape {array.shape}")
    if not (array.dtype == bool or np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        raise ValueError(f"expected an image of numbers, got an array of {array.dtype}")
    if array.dtype != np.uint8:
        array = _to_uint8(array)

    # Work from the uint8 channels: converting the whole RGBA array to float first costs more than
    # the rest of preprocessing. Grey pixels (a canvas's white strokes, scans) skip the colour mix.
    channels = array.shape[2] if array.ndim == 3 else 1
    levels = array if channels == 1 else array[:, :, 0] if channels == 2 or _is_grey(array) else None
    if levels is not None:
        gray = levels.astype(np.float32) / np.float32(255)
    else:
        red, green, blue = (array[:, :, index].astype(np.float32) for index in range(3))
        gray = (red * np.float32(0.299) + green * np.float32(0.587) + blue * np.float32(0.114)) / np.float32(255)
    alpha_levels = array[:, :, channels - 1] if channels in (2, 4) else None

    if alpha_levels is not None and alpha_levels.min() < 0.99 * 255:
        # Strokes on a transparent layer: ink is where it is opaque and differs from the background.
        alpha = alpha_levels.astype(np.float32) / np.float32(255)
        opaque = alpha_levels > 127  # alpha > 0.5
        stroke_level = float(np.median(gray[opaque])) if opaque.any() else 1.0
        gray *= alpha
        if stroke_level < 0.5:  # dark strokes sit on white, white ones on black
            gray += 1.0 - alpha

    border = np.concatenate([gray[0, :], gray[-1, :], gray[:, 0], gray[:, -1]])
    # An empty border (a canvas, a crop with a margin) is background 0 without sorting it for a median.
    background = float(np.median(border)) if border.any() else 0.0
    if background > 0.5:
        gray = 1.0 - gray
        background = 1.0 - background
    peak = float(gray.max())
    if peak - background < MIN_CONTRAST:
        return np.zeros(gray.shape, np.float32)
    if background == 0.0 and peak == 1.0:
        return gray  # already ink in [0, 1]: a canvas drawing with full-strength strokes
    gray -= background  # in place: gray is this function's own array
    gray /= peak - background
    return np.clip(gray, 0.0, 1.0, out=gray)


def ink_of_image(image: Image.Image | np.ndarray) -> np.ndarray:
    """to_ink(image), the same values, computed on the strokes' box alone where image is a canvas
    drawing (a wide number canvas is mostly empty paper, and this runs on every stroke)."""
    layer = _ink_of_strokes_layer(image) if isinstance(image, np.ndarray) else None
    if layer is None:
        return to_ink(image)
    box, (top, left), shape = layer
    ink = np.zeros(shape, np.float32)
    ink[top : top + box.shape[0], left : left + box.shape[1]] = box
    return ink


def _is_grey(array: np.ndarray) -> bool:
    """Whether an RGB(A) array's colour channels are all equal, so any one of them is the grey level."""
    return bool(np.array_equal(array[:, :, 0], array[:, :, 1]) and np.array_equal(array[:, :, 1], array[:, :, 2]))


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ValueError("expected an image of finite numbers, got NaN or infinite pixel values")
        scale = 255.0 if array.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(array.astype(np.float64) * scale, 0, 255).astype(np.uint8)
    if array.dtype == np.uint16:
        return (array >> 8).astype(np.uint8)
    return np.clip(array, 0, 255).astype(np.uint8)


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
    found = _strokes_box(image) if isinstance(image, np.ndarray) else None
    alpha = _white_strokes_alpha(found) if found is not None else None
    # The Draw canvas's own case, white strokes at full strength: to_ink's ink is exactly alpha / 255,
    # so the alpha is the ink's 8-bit levels, with no float pass.
    levels = alpha if alpha is not None and alpha.max() == 255 else None
    if levels is not None:
        ink, (row_offset, col_offset), shape = levels, found.corner, found.shape
        mask = ink >= INK_LEVEL_THRESHOLD
    else:
        if alpha is not None:  # white strokes, none at full strength: their alpha is already read
            layer = _ink_of_white_alpha(alpha), found.corner, found.shape
        else:
            layer = _ink_of_strokes_layer(image, found) if found is not None else None
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


@dataclass(frozen=True)
class _StrokesBox:
    """Where a canvas drawing's strokes are: the box's RGBA pixels (and, read as little-endian uint32, the
    same pixels, or None where they cannot be viewed so), its top-left corner and the image's shape."""

    rgba: np.ndarray
    pixels: np.ndarray | None
    corner: tuple[int, int]
    shape: tuple[int, int]


def _strokes_box(array: np.ndarray) -> _StrokesBox | None:
    """The box a canvas drawing's strokes (on a transparent RGBA layer) cover, or None for any other image,
    which to_ink then reads whole. Where no stroke touches the image's edge, the edge is transparent,
    so to_ink's background is 0 and every pixel outside the box is 0 ink."""
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 4 or min(array.shape[:2]) < 3:
        return None
    pixels = None
    if array.flags.c_contiguous and sys.byteorder == "little":
        # Each RGBA pixel read as one 32-bit number, alpha its top byte: one pass over whole pixels
        # is cheaper than a strided pass over the alpha channel.
        pixels = array.view(np.uint32)[:, :, 0]
        drawn = pixels > 0x00FFFFFF
    else:
        drawn = array[:, :, 3] > 0
    rows = np.flatnonzero(drawn.any(axis=1))
    if len(rows) == 0 or rows[0] == 0 or rows[-1] == array.shape[0] - 1:
        return None  # nothing drawn (to_ink says blank), or strokes on the edge change the background
    cols = np.flatnonzero(drawn[rows[0] : rows[-1] + 1].any(axis=0))
    if cols[0] == 0 or cols[-1] == array.shape[1] - 1:
        return None
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    return _StrokesBox(array[top:bottom, left:right], None if pixels is None else pixels[top:bottom, left:right],
                       (top, left), array.shape[:2])


def _white_strokes_alpha(found: _StrokesBox) -> np.ndarray | None:
    """The alpha (uint8) of the strokes' box where every stroke is white, else None. It is read as each
    pixel's top byte: cheaper than a strided pass over the alpha channel."""
    if found.pixels is None or not _white_strokes(found.pixels):
        return None
    return (found.pixels >> 24).astype(np.uint8)


def _ink_of_white_alpha(alpha: np.ndarray) -> np.ndarray:
    """to_ink's ink of white strokes from their alpha: to_ink's grey level is exactly 1 wherever there is
    ink, so its ink is the alpha alone (the same float32 values)."""
    gray = alpha.astype(np.float32)
    gray /= np.float32(255)
    peak = float(gray.max())
    if peak != 1.0:
        if peak < MIN_CONTRAST:
            return np.zeros(gray.shape, np.float32)
        gray /= peak
        np.clip(gray, 0.0, 1.0, out=gray)
    return gray


def _ink_of_strokes_layer(array: np.ndarray, found: _StrokesBox | None = None
                          ) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]] | None:
    """to_ink of a canvas drawing (grey strokes on a transparent RGBA layer), computed on the strokes' box.

    Returns (ink inside the box, the box's top-left corner, the whole image's shape), or None for any
    other image, which to_ink then reads whole. Inside the box, the same arithmetic on the same pixels
    gives the same values as to_ink. (Only the box's pixels are checked for colour: transparent pixels
    carry no ink whatever their colour.)
    """
    found = found or _strokes_box(array)
    if found is None:
        return None
    box, (top, left) = found.rgba, found.corner
    alpha = _white_strokes_alpha(found)
    if alpha is not None:
        return _ink_of_white_alpha(alpha), (top, left), found.shape
    if not _is_grey(box):  # colour strokes: to_ink mixes the channels
        return None
    levels, alpha_levels = box[:, :, 0], box[:, :, 3]
    gray = levels.astype(np.float32) / np.float32(255)
    alpha = alpha_levels.astype(np.float32) / np.float32(255)
    opaque = alpha_levels > 127
    # to_ink's median stroke level, skipped where no stroke pixel is dark (white ink: the median is light).
    dark_strokes = bool((opaque & (levels < 128)).any()) and float(np.median(gray[opaque])) < 0.5
    gray *= alpha
    if dark_strokes:  # dark strokes sit on white, which to_ink then inverts against the white edge
        gray += 1.0 - alpha
        gray = 1.0 - gray  # the same float operations as to_ink's, so the same values
    peak = float(gray.max())
    if peak < MIN_CONTRAST:
        return np.zeros(gray.shape, np.float32), (top, left), found.shape
    if peak != 1.0:
        gray /= peak
        np.clip(gray, 0.0, 1.0, out=gray)
    return gray, (top, left), found.shape


def _white_strokes(pixels: np.ndarray) -> bool:
    """Whether every pixel (RGBA read as little-endian uint32) is white or fully transparent."""
    return bool((((pixels & 0x00FFFFFF) == 0x00FFFFFF) | (pixels <= 0x00FFFFFF)).all())


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
