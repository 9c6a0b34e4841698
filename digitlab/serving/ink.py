"""Any image -> how strongly each pixel is ink (0..1), bright ink on black whichever side was ink in the image.

to_ink reads any grey, RGB or RGBA image or array. An opaque picture (a photo, a scan) whose paper is
lit unevenly is read against its own paper at each place (digitlab/serving/paper_background.py), so a
shadow is not ink; other pictures by one threshold for the whole image. A canvas drawing (strokes on a
transparent RGBA layer) is mostly empty paper and is read on every stroke, so it is read on its strokes'
bounding box alone, with the same arithmetic on the same pixels and so the very same values (tests pin
this): preprocessing and number reading both start here.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from PIL import Image

from digitlab.serving.paper_background import local_contrast_ink

INK_THRESHOLD = 0.35  # ink strength (0..1) above which a pixel counts as ink
INK_LEVEL_THRESHOLD = 90  # the same on 8-bit levels: 90 / 255 is the first level above 0.35
MIN_CONTRAST = 40 / 255  # below this the image is treated as blank: sensor noise, paper texture
ARRAY_READY_MODES = ("1", "L", "LA", "RGB", "RGBA", "I;16", "I", "F")  # PIL modes whose arrays are grey levels


def to_ink(image: Image.Image | np.ndarray) -> np.ndarray:
    """Return ink strength in [0, 1] (float32, HxW) from any image, detecting which side is ink.

    Transparent pixels are background (a canvas draws strokes on a transparent layer). An opaque photo
    is read against its own paper at each place, so a shadow is not ink; for other opaque images the
    background is the border's typical level. Either way white-on-black canvases and dark-on-light
    photos and scans come out as bright ink on black.
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

    if alpha_levels is None or alpha_levels.min() >= 0.99 * 255:
        # A photo or scan: its paper may be lit unevenly, so ink is read against the paper at each place.
        local = local_contrast_ink(gray)
        if local is not None:
            return local
    else:
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
    layer = ink_of_strokes_layer(image) if isinstance(image, np.ndarray) else None
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


@dataclass(frozen=True)
class StrokesBox:
    """Where a canvas drawing's strokes are: the box's RGBA pixels (and, read as little-endian uint32, the
    same pixels, or None where they cannot be viewed so), its top-left corner and the image's shape."""

    rgba: np.ndarray
    pixels: np.ndarray | None
    corner: tuple[int, int]
    shape: tuple[int, int]


def strokes_box(array: np.ndarray) -> StrokesBox | None:
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
    return StrokesBox(array[top:bottom, left:right], None if pixels is None else pixels[top:bottom, left:right],
                       (top, left), array.shape[:2])


def white_strokes_alpha(found: StrokesBox) -> np.ndarray | None:
    """The alpha (uint8) of the strokes' box where every stroke is white, else None. It is read as each
    pixel's top byte: cheaper than a strided pass over the alpha channel."""
    if found.pixels is None or not _white_strokes(found.pixels):
        return None
    return (found.pixels >> 24).astype(np.uint8)


def ink_of_white_alpha(alpha: np.ndarray) -> np.ndarray:
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


def ink_of_strokes_layer(array: np.ndarray, found: StrokesBox | None = None
                          ) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]] | None:
    """to_ink of a canvas drawing (grey strokes on a transparent RGBA layer), computed on the strokes' box.

    Returns (ink inside the box, the box's top-left corner, the whole image's shape), or None for any
    other image, which to_ink then reads whole. Inside the box, the same arithmetic on the same pixels
    gives the same values as to_ink. (Only the box's pixels are checked for colour: transparent pixels
    carry no ink whatever their colour.)
    """
    found = found or strokes_box(array)
    if found is None:
        return None
    box, (top, left) = found.rgba, found.corner
    alpha = white_strokes_alpha(found)
    if alpha is not None:
        return ink_of_white_alpha(alpha), (top, left), found.shape
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
