"""Accuracy benchmarks: pen drawings (with and without DigitLab's preprocessing), held-out writers, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitlab.datasets.pendigits import read_pendigits, render_on_canvas
from digitlab.serving.predictor import Predictor
from digitlab.serving.preprocess import preprocess


def naive_resize(canvas: np.ndarray) -> np.ndarray:
    """What most digit apps do: the whole canvas squashed to 28x28."""
    from PIL import Image

    return np.asarray(Image.fromarray(canvas[:, :, 3]).resize((28, 28), Image.Resampling.BILINEAR))


def drawing_accuracy(predictor: Predictor, canvases: list[np.ndarray], labels: np.ndarray) -> dict:
    """Accuracy on canvas drawings: DigitLab's preprocessing vs resizing the whole canvas."""
    prepared = [preprocess(canvas) for canvas in canvases]
    readable = np.array([p.has_digit for p in prepared])
    batch = np.stack([p.mnist if p.has_digit else np.zeros((28, 28), np.uint8) for p in prepared])
    predicted = predictor.predict_mnist(batch).argmax(axis=1)
    correct = (predicted == labels) & readable
    naive = predictor.predict_mnist(np.stack([naive_resize(c) for c in canvases])).argmax(axis=1)
    # The same drawings without stroke-width normalisation, to show what that step is worth.
    unnormalized = [preprocess(canvas, normalize_stroke=False) for canvas in canvases]
    plain = predictor.predict_mnist(np.stack([p.mnist if p.has_digit else np.zeros((28, 28), np.uint8)
                                              for p in unnormalized])).argmax(axis=1)
    per_digit = {int(d): round(float(correct[labels == d].mean()), 4) for d in range(10)}
    return {"accuracy": round(float(correct.mean()), 4), "n": len(labels), "no_digit": int((~readable).sum()),
            "per_digit": per_digit, "naive_resize_accuracy": round(float((naive == labels).mean()), 4),
            "without_stroke_normalization_accuracy": round(float((plain == labels).mean()), 4)}


def held_out_writers_accuracy(predictor: Predictor, path: Path, seed: int = 0, limit: int | None = None) -> dict:
    """The headline real-drawing figure: digits by writers never trained on nor used to choose a model.

    A refused digit counts as wrong. Also per-digit accuracy and the most common confusions.
    """
    from digitlab.datasets.pendigits import split_by_writer

    _, held_out = split_by_writer(read_pendigits(path))
    held_out = held_out[:limit] if limit is not None else held_out
    rng = np.random.default_rng(seed)
    labels = np.array([digit.label for digit in held_out])
    predictions = [predictor.predict_image(render_on_canvas(digit, rng)) for digit in held_out]
    read = np.array([-1 if p.digit is None else p.digit for p in predictions])
    correct = read == labels
    confusions: dict[tuple[int, int], int] = {}
    for truth, answer in zip(labels[~correct], read[~correct]):
        confusions[(int(truth), int(answer))] = confusions.get((int(truth), int(answer)), 0) + 1
    common = sorted(confusions.items(), key=lambda item: -item[1])[:8]
    return {"accuracy": round(float(correct.mean()), 4), "n": len(labels),
            "writers": sorted({digit.writer for digit in held_out}),
            "refused": int(sum(p.refused for p in predictions)),
            "per_digit": {int(d): round(float(correct[labels == d].mean()), 4) for d in range(10) if (labels == d).any()},
            "confusions": [{"digit": truth, "read_as": "not a digit" if answer == -1 else answer, "count": count}
                           for (truth, answer), count in common]}


def refusal_rates(predictor: Predictor, mnist_images: np.ndarray, n_non_digits: int = 1600, seed: int = 0) -> dict:
    """How often "not a digit" is answered: for held-out non-digit drawings (should be high) and for MNIST
    test digits (should be near zero; held_out_writers_accuracy counts refused pen digits)."""
    from digitlab.datasets.nondigits import non_digit_canvases
    from digitlab.serving.predictor import NOT_A_DIGIT_THRESHOLD

    canvases, families = non_digit_canvases(n_non_digits, seed=seed, held_out=True)
    refused = np.array([predictor.predict_image(canvas).refused for canvas in canvases])
    per_family = {family: round(float(refused[np.array(families) == family].mean()), 4)
                  for family in sorted(set(families))}
    _, mnist_not_a_digit = predictor.predict_with_refusal(mnist_images)
    return {"non_digits_refused": round(float(refused.mean()), 4), "non_digits": len(canvases),
            "non_digits_refused_per_family": per_family,
            "mnist_test_refused": round(float((mnist_not_a_digit >= NOT_A_DIGIT_THRESHOLD).mean()), 4),
            "mnist_test_images": len(mnist_images)}
