"""The what-if strip: the model's input shifted, rotated, thickened and thinned, and how each variant reads.

The changes are made to the 28x28 the model sees, not to the drawing: preprocessing would centre a
shifted drawing again. Each variant is read with the fast Predictor, all in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter


@dataclass(frozen=True)
class WhatIf:
    name: str  # "shifted right 3 px", "rotated 20° left", ...
    image: np.ndarray  # the changed 28x28 uint8 input
    digit: int
    probability: float


def _shift(image: Image.Image, dx: int, dy: int) -> Image.Image:
    return image.transform(image.size, Image.Transform.AFFINE, (1, 0, -dx, 0, 1, -dy), fillcolor=0)


def _stroke(image: Image.Image, thicker: bool) -> Image.Image:
    # At 2x, so a step is half a model pixel: MNIST strokes are 2-4 px, and a whole pixel off each side erases them.
    large = image.resize((56, 56), Image.Resampling.BILINEAR)
    changed = large.filter(ImageFilter.MaxFilter(3) if thicker else ImageFilter.MinFilter(3))
    return changed.resize((28, 28), Image.Resampling.BILINEAR)


WHAT_IF_CHANGES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "shifted 4 px left": lambda image: _shift(image, -4, 0),
    "shifted 4 px right": lambda image: _shift(image, 4, 0),
    "shifted 4 px up": lambda image: _shift(image, 0, -4),
    "rotated 25° left": lambda image: image.rotate(25, resample=Image.Resampling.BILINEAR),
    "rotated 25° right": lambda image: image.rotate(-25, resample=Image.Resampling.BILINEAR),
    "thicker": lambda image: _stroke(image, thicker=True),
    "thinner": lambda image: _stroke(image, thicker=False),
}


def what_if_images(mnist: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The input shifted, rotated, thickened and thinned, each as the 28x28 uint8 the model would see."""
    image = Image.fromarray(np.asarray(mnist, np.uint8))
    return [(name, np.asarray(change(image), np.uint8)) for name, change in WHAT_IF_CHANGES.items()]


def what_if_strip(mnist: np.ndarray, predictor) -> list[WhatIf]:
    """The reading of each what-if variant of the input, all in one batch."""
    variants = what_if_images(mnist)
    probabilities = predictor.predict_mnist(np.stack([image for _, image in variants]))
    return [WhatIf(name, image, int(p.argmax()), float(p.max())) for (name, image), p in zip(variants, probabilities)]
