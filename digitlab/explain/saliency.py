"""Where the model looked: integrated gradients from a black image, and how much of it lies on the ink.

Saliency is integrated gradients from a black image (the paper's choice for MNIST): the gradient of
the answer's logit, averaged along the straight path from black to the input, times the input. Each
pixel's value is its share of the logit's rise from black, so they add up (nearly: the path is
sampled at a few points) to what the ink as a whole contributed: positive where ink argued for the
answer, negative where it argued against. It says nothing about where ink is *missing* (a black
pixel gets exactly zero), which the what-if strip shows instead. SmoothGrad (noisy gradients) was
tried: on the default model about 60% of its mass lies off the ink, in the background, where it
mostly says "ink here would change the logit", which reads as noise to a learner.

The gradient itself is taken by the Explainer (digitlab/explain/explainer.py), in the same pass that
reads the embedding and the layers; this module builds the path and turns the gradient into saliency.
"""

from __future__ import annotations

import numpy as np

# Points on the black-to-input path; each costs a forward and backward pass. On the default model
# 3 points give saliency that correlates 0.94 on average with 32 points (4 points: 0.95, 8 points:
# 0.98 at twice the cost), and keep the open panel near its time budget per stroke (BENCHMARKS.md).
PATH_STEPS = 3


def path_batch(image: np.ndarray, steps: int = PATH_STEPS) -> np.ndarray:
    """The input (1, 28, 28, 1) float32 followed by `steps` points on the straight path from black to it."""
    # Midpoints of equal steps: the midpoint rule is exact for the straight parts of a ReLU network's path.
    alphas = (np.arange(steps, dtype=np.float32) + 0.5) / steps
    return np.concatenate([image, alphas[:, None, None, None] * image])


def saliency_from_gradient(mean_gradient: np.ndarray, image: np.ndarray) -> np.ndarray:
    """(28, 28) float32 in -1..1: the path's mean gradient (28, 28) times the input (1, 28, 28, 1), scaled
    so the strongest pixel is 1 or -1."""
    attribution = mean_gradient * image[0, ..., 0]
    scale = float(np.abs(attribution).max())
    return (attribution / scale if scale > 0 else attribution).astype(np.float32)


def ink_neighbourhood(mnist: np.ndarray, within: int = 2, threshold: int = 64) -> np.ndarray:
    """(28, 28) bool: pixels with ink (above threshold) or within `within` px of it (a square neighbourhood)."""
    ink = np.asarray(mnist) > threshold
    grown = ink.copy()
    padded = np.pad(ink, within)
    for dy in range(2 * within + 1):
        for dx in range(2 * within + 1):
            grown |= padded[dy : dy + 28, dx : dx + 28]
    return grown


def saliency_on_ink(saliency: np.ndarray, mnist: np.ndarray, within: int = 2) -> float:
    """Share of the absolute saliency that lies on the ink or within `within` px of it."""
    magnitude = np.abs(np.asarray(saliency, np.float64))
    total = magnitude.sum()
    return float(magnitude[ink_neighbourhood(mnist, within)].sum() / total) if total > 0 else 0.0
