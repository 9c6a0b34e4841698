"""Drawings as the Draw page's canvas sends them, for the benchmarks: pen digits, MNIST digits, PNG bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from digitlab.datasets.pendigits import CANVAS_SIZE, as_canvas_rgba, read_pendigits, render_on_canvas


def render_pendigits(path: Path, seed: int = 0, limit: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """All pen digits drawn as canvas images (seeded), with their labels."""
    digits = read_pendigits(path)
    if limit is not None:
        digits = digits[:limit]
    rng = np.random.default_rng(seed)
    return [render_on_canvas(digit, rng) for digit in digits], np.array([d.label for d in digits])


def mnist_digit_canvas(digit: np.ndarray, size: int = CANVAS_SIZE) -> np.ndarray:
    """A 28x28 MNIST digit filling a size x size canvas: white ink on a transparent layer, as the canvas sends it.

    The stand-in drawings for the speed figures where the pen digits are not on the machine.
    """
    from PIL import Image

    ink = Image.fromarray(np.asarray(digit, np.uint8)).resize((size, size), Image.Resampling.BILINEAR)
    return as_canvas_rgba(np.asarray(ink))


def canvas_png(canvas: np.ndarray) -> bytes:
    """A drawing as the canvas component sends it to the server."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()
