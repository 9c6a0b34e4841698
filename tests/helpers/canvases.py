"""MNIST digits drawn as the Draw page's canvas sends a drawing, at any size and place on the canvas."""

from __future__ import annotations

import numpy as np
from PIL import Image

from digitlab.bench.canvases import mnist_digit_canvas
from digitlab.datasets.pendigits import CANVAS_SIZE, as_canvas_rgba


def canvas_from_digit(digit: np.ndarray, size: int = CANVAS_SIZE, scale: float | None = None,
                      offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Draw a 28x28 MNIST digit as the canvas sends a drawing: white ink on a transparent layer.

    scale is canvas pixels per MNIST pixel (by default the digit's 28x28 box fills the canvas); offset
    moves it (rows, columns) from the centre, and whatever then falls off the canvas is cut off.
    """
    side = size if scale is None else round(28 * scale)
    ink = Image.fromarray(mnist_digit_canvas(digit, side)[:, :, 3])
    alpha = Image.new("L", (size, size), 0)
    alpha.paste(ink, ((size - side) // 2 + offset[1], (size - side) // 2 + offset[0]))  # cut off at the edges
    return as_canvas_rgba(np.asarray(alpha))
