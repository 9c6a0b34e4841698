"""How far a model's confidence can be trusted: reliability bins, expected calibration error, per-image loss.

A model is calibrated when, of all the answers it gives with 80% confidence, 80% are right. The
reliability diagram bins answers by confidence and compares each bin's accuracy with its mean
confidence; the expected calibration error (ECE) is the gap averaged over the bins, weighted by how
many answers fall in each (Guo et al., 2017, "On Calibration of Modern Neural Networks").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RELIABILITY_BINS = 15  # Guo et al.'s choice; with 10,000 images most bins near 100% stay well filled
LOSS_FLOOR = 1e-7  # a probability of exactly 0 for the true digit counts as this, so the loss stays finite


@dataclass(frozen=True)
class ReliabilityBin:
    low: float  # confidence range (low, high]; the first bin also holds exactly low
    high: float
    count: int  # answers in the bin
    confidence: float  # their mean confidence (0 when empty)
    accuracy: float  # share of them that are right (0 when empty)


def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> list[ReliabilityBin]:
    """Answers grouped by the confidence of the predicted class into equal-width bins over 0..1."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels).ravel()
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    # bin k holds (edges[k], edges[k+1]]: searchsorted on the right edges, with 0 falling into the first bin
    which = np.clip(np.searchsorted(edges[1:], confidence, side="left"), 0, bins - 1)
    result = []
    for k in range(bins):
        members = which == k
        count = int(members.sum())
        result.append(ReliabilityBin(float(edges[k]), float(edges[k + 1]), count,
                                     float(confidence[members].mean()) if count else 0.0,
                                     float(right[members].mean()) if count else 0.0))
    return result


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = RELIABILITY_BINS) -> float:
    """ECE: |accuracy - confidence| per bin, weighted by the bin's share of the answers."""
    table = reliability_bins(probabilities, labels, bins)
    total = sum(row.count for row in table)
    if total == 0:
        return 0.0
    return float(sum(row.count / total * abs(row.accuracy - row.confidence) for row in table))


def per_image_loss(probabilities: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each image: -log of the probability the model gave the true digit."""
    probabilities = np.asarray(probabilities, np.float64)
    labels = np.asarray(labels).astype(np.int64).ravel()
    return -np.log(np.maximum(probabilities[np.arange(labels.size), labels], LOSS_FLOOR))


def hardest_examples(probabilities: np.ndarray, labels: np.ndarray, count: int = 24) -> np.ndarray:
    """Indices of the images with the highest loss, highest first (ties keep test-set order)."""
    loss = per_image_loss(probabilities, labels)
    return np.argsort(-loss, kind="stable")[:count]
