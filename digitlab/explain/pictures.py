"""Pictures for an explanation, as numpy arrays (no Streamlit): saliency overlay, feature maps, hidden units.

Built here rather than as plotly figures: a PNG of a few kilobytes per picture is quicker to make and
to send on every stroke than a chart, and is all a small multiple needs.
"""

from __future__ import annotations

import numpy as np

FEATURE_CHANNELS = 16  # the most active channels of each layer; all 128 would be a wall of noise
FEATURE_COLUMNS = 8
FEATURE_SCALE = 2


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(np.asarray(image), scale, axis=0), scale, axis=1)


def saliency_image(mnist: np.ndarray, saliency: np.ndarray, scale: int) -> np.ndarray:
    """RGB: the input in dim grey, red where saliency is positive and blue where negative.

    Pixel-level gradients alternate sign from one pixel to the next along a stroke; averaged over
    each 3x3 neighbourhood they show which parts of a stroke argued for or against the answer.
    """
    grey = np.asarray(mnist, np.float32) / 255 * 0.45
    saliency = _box_blur(np.asarray(saliency, np.float32))
    saliency = saliency / (float(np.abs(saliency).max()) or 1.0)
    positive = np.clip(saliency, 0, 1) ** 0.6  # a gentle gamma: weak evidence stays visible
    negative = np.clip(-saliency, 0, 1) ** 0.6
    red = np.clip(grey * (1 - negative) + positive, 0, 1)  # each colour replaces the grey under it
    green = np.clip(grey * (1 - np.maximum(positive, negative)), 0, 1)
    blue = np.clip(grey * (1 - positive) + negative, 0, 1)
    rgb = (np.stack([red, green, blue], axis=-1) * 255).astype(np.uint8)
    return enlarge(rgb, scale)


def _box_blur(values: np.ndarray) -> np.ndarray:
    padded = np.pad(values, 1)
    return sum(padded[dy : dy + values.shape[0], dx : dx + values.shape[1]] for dy in range(3) for dx in range(3)) / 9


def feature_grid(values: np.ndarray, channels: int = FEATURE_CHANNELS, columns: int = FEATURE_COLUMNS,
                 scale: int = FEATURE_SCALE) -> np.ndarray:
    """The most active channels of a (h, w, c) feature map as a grid of small grey images, one scale for all."""
    values = np.maximum(np.asarray(values, np.float32), 0)
    height, width, total = values.shape
    chosen = np.argsort(-values.mean(axis=(0, 1)), kind="stable")[: min(channels, total)]
    peak = float(values[..., chosen].max()) or 1.0
    rows = -(-chosen.size // columns)
    gap = 1
    grid = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap), 40, np.uint8)
    for position, channel in enumerate(chosen):
        top, left = (position // columns) * (height + gap), (position % columns) * (width + gap)
        grid[top : top + height, left : left + width] = (values[..., channel] / peak * 255).astype(np.uint8)
    return enlarge(grid, max(1, scale * 28 // max(height, 1) // 2))


def unit_strip(values: np.ndarray, columns: int = 32, scale: int = 8) -> np.ndarray:
    """Hidden units as a grid of grey squares, one per unit."""
    values = np.maximum(np.asarray(values, np.float32).ravel(), 0)
    rows = -(-values.size // columns)
    padded = np.zeros(rows * columns, np.float32)
    padded[: values.size] = values / (float(values.max()) or 1.0)
    return enlarge((padded.reshape(rows, columns) * 255).astype(np.uint8), scale)
