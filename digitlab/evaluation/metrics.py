"""How good is a model on the 10,000 MNIST test images: metrics, confusion matrix, its mistakes.

Evaluating a model is a forward pass over the whole test set (seconds on a CPU), so its output, the
class probabilities, is kept on disk keyed by the sha256 of the model file: a second look at the same
model is instant, and a model file that changed is a different key, so it is evaluated afresh.
Everything else (confusion matrix, per-class metrics, lists of mistakes) is cheap and derived here.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.store.atomic import write_atomic

NUM_CLASSES = 10
CACHE_ENV_VAR = "DIGITLAB_CACHE"
CACHE_FORMAT = "v1"  # part of the cache file name: bump it when what is stored changes
SORT_ORDERS = ("confidence", "index")


def default_cache_dir() -> Path:
    """Where evaluations are kept: $DIGITLAB_CACHE, else ~/.cache/digitlab/evaluations."""
    configured = os.environ.get(CACHE_ENV_VAR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "digitlab" / "evaluations"


def confusion_matrix(y_true, y_pred, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts of (true, predicted) pairs: rows are the true digit, columns the predicted one."""
    y_true = np.asarray(y_true).ravel().astype(np.int64)
    y_pred = np.asarray(y_pred).ravel().astype(np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.size} true labels but {y_pred.size} predictions.")
    for name, values in (("true label", y_true), ("prediction", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"Every {name} must be a class from 0 to {num_classes - 1}.")
    pair_codes = y_true * num_classes + y_pred
    return np.bincount(pair_codes, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _ratio(numerator: float, denominator: float) -> float:
    # A class never predicted has no precision, one never present no recall: report 0.0, as
    # scikit-learn does (zero_division=0), rather than NaN that breaks tables, JSON and averages.
    return float(numerator / denominator) if denominator else 0.0


def per_class_metrics(confusion: np.ndarray) -> list[dict]:
    """Precision, recall, F1 and support of every class, from a confusion matrix."""
    confusion = np.asarray(confusion)
    metrics = []
    for digit in range(confusion.shape[0]):
        hits = float(confusion[digit, digit])
        precision = _ratio(hits, confusion[:, digit].sum())
        recall = _ratio(hits, confusion[digit, :].sum())
        metrics.append({
            "digit": digit,
            "precision": precision,
            "recall": recall,
            "f1": _ratio(2 * precision * recall, precision + recall),
            "support": int(confusion[digit, :].sum()),
        })
    return metrics


def macro_averages(per_class: list[dict], confusion: np.ndarray) -> dict:
    """Unweighted means of precision, recall and F1 over the classes that occur at all.

    A class absent from both labels and predictions says nothing about the model, so it is left out
    of the mean (scikit-learn's macro average does the same); support is the total.
    """
    confusion = np.asarray(confusion)
    present = [row for row in per_class
               if confusion[row["digit"], :].sum() or confusion[:, row["digit"]].sum()]
    averages = {name: float(np.mean([row[name] for row in present])) if present else 0.0
                for name in ("precision", "recall", "f1")}
    return {**averages, "support": int(confusion.sum())}


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One model's results on a labelled test set; every array is indexed by test image."""

    model_sha256: str | None  # the model file evaluated, None when not known
    accuracy: float  # share of test images predicted right
    errors: int  # number of test images predicted wrong
    confusion: np.ndarray  # (10, 10) counts, rows true digit, columns predicted digit
    per_class: list[dict]  # {digit, precision, recall, f1, support} per digit
    macro: dict  # {precision, recall, f1, support}: unweighted means over the digits
    probabilities: np.ndarray  # (n, 10) float32 class probabilities
    predictions: np.ndarray  # (n,) the most probable digit
    labels: np.ndarray  # (n,) the true digit

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    @property
    def confidence(self) -> np.ndarray:
        """(n,) the probability the model gave its own prediction."""
        return self.probabilities[np.arange(self.n), self.predictions]

    @property
    def correct(self) -> np.ndarray:
        """(n,) True where the prediction is right."""
        return self.predictions == self.labels

    def to_json(self) -> dict:
        """A plain-JSON report: the figures a person or a script compares, not the per-image arrays."""
        return {
            "model_sha256": self.model_sha256,
            "n": self.n,
            "accuracy": _rounded(self.accuracy),
            "errors": self.errors,
            "per_class": [_rounded_scores(row) for row in self.per_class],
            "macro": _rounded_scores(self.macro),
            "confusion_matrix": self.confusion.tolist(),
        }


def _rounded(value: float) -> float:
    return round(float(value), 6)  # a millionth is far below any difference that matters on 10,000 images


def _rounded_scores(row: dict) -> dict:
    return {**row, **{name: _rounded(row[name]) for name in ("precision", "recall", "f1")}}


def evaluate_probabilities(probabilities: np.ndarray, labels: np.ndarray, model_sha256: str | None = None) -> Evaluation:
    """All the metrics of a set of predicted class probabilities against the true labels."""
    probabilities = np.asarray(probabilities, np.float32)
    labels = np.asarray(labels).astype(np.int64).ravel()
    if probabilities.ndim != 2 or probabilities.shape[0] != labels.shape[0]:
        raise ValueError(f"Probabilities {list(probabilities.shape)} do not match {labels.shape[0]} labels.")
    predictions = probabilities.argmax(axis=1) if probabilities.size else np.zeros(0, np.int64)
    confusion = confusion_matrix(labels, predictions, probabilities.shape[1])
    per_class = per_class_metrics(confusion)
    errors = int((predictions != labels).sum())
    return Evaluation(
        model_sha256=model_sha256,
        accuracy=_ratio(labels.shape[0] - errors, labels.shape[0]),
        errors=errors,
        confusion=confusion,
        per_class=per_class,
        macro=macro_averages(per_class, confusion),
        probabilities=probabilities,
        predictions=predictions,
        labels=labels,
    )


def cache_path(model_sha256: str, cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or default_cache_dir()) / f"{model_sha256}.{CACHE_FORMAT}.npz"


def _read_cached_probabilities(path: Path, expected_rows: int) -> np.ndarray | None:
    """The stored probabilities, or None when the file is missing, unreadable or the wrong shape."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            probabilities = stored["probabilities"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if probabilities.shape != (expected_rows, NUM_CLASSES):
        return None
    return probabilities.astype(np.float32, copy=False)


def _write_cached_probabilities(path: Path, probabilities: np.ndarray) -> None:
    def write(temp: Path) -> None:
        with open(temp, "wb") as file:  # a file object, so numpy cannot append a second .npz suffix
            np.savez_compressed(file, probabilities=probabilities)

    try:
        write_atomic(path, write)
    except OSError:
        pass  # a read-only or full disk costs the next visit a re-evaluation, nothing more


def cached_evaluation(model_sha256: str, mnist=None, cache_dir: str | Path | None = None) -> Evaluation | None:
    """The stored evaluation of a model file, or None when it has not been evaluated yet."""
    mnist = mnist if mnist is not None else _load_mnist()
    probabilities = _read_cached_probabilities(cache_path(model_sha256, cache_dir), mnist.y_test.shape[0])
    if probabilities is None:
        return None
    return evaluate_probabilities(probabilities, mnist.y_test, model_sha256)


def evaluate_model(
    predictor,
    mnist=None,
    cache_dir: str | Path | None = None,
    model_sha256: str | None = None,
) -> Evaluation:
    """Evaluate a Predictor on the MNIST test set, reusing the stored result for this model file.

    model_sha256 (the model file's hash) is the cache key; without it nothing is cached.
    """
    mnist = mnist if mnist is not None else _load_mnist()
    if model_sha256:
        stored = cached_evaluation(model_sha256, mnist, cache_dir)
        if stored is not None:
            return stored
    # The predictor cuts the 10,000 images into batches small enough for a small container's memory.
    probabilities = np.asarray(predictor.predict_mnist(mnist.x_test), np.float32)
    if model_sha256:
        _write_cached_probabilities(cache_path(model_sha256, cache_dir), probabilities)
    return evaluate_probabilities(probabilities, mnist.y_test, model_sha256)


def _load_mnist():
    from digitlab.datasets.mnist import load_mnist

    return load_mnist()


def misclassified(
    evaluation: Evaluation,
    true_digit: int | None = None,
    predicted_digit: int | None = None,
    sort: str = "confidence",
) -> np.ndarray:
    """Test indices of the wrong predictions, optionally of one true and/or predicted digit.

    sort="confidence" puts the most confident mistakes first (the most telling ones: often a
    mislabelled or genuinely ambiguous image); sort="index" keeps test-set order.
    """
    if sort not in SORT_ORDERS:
        raise ValueError(f"sort must be one of {', '.join(SORT_ORDERS)}, not {sort!r}.")
    wrong = ~evaluation.correct
    if true_digit is not None:
        wrong &= evaluation.labels == true_digit
    if predicted_digit is not None:
        wrong &= evaluation.predictions == predicted_digit
    indices = np.flatnonzero(wrong)
    if sort == "confidence":
        # stable sort on the negated confidence: ties keep test-set order, so the order is reproducible
        indices = indices[np.argsort(-evaluation.confidence[indices], kind="stable")]
    return indices


def disagreements(eval_a: Evaluation, eval_b: Evaluation) -> np.ndarray:
    """Test indices, in test-set order, where two models predict different digits."""
    if eval_a.n != eval_b.n or not np.array_equal(eval_a.labels, eval_b.labels):
        raise ValueError("The two evaluations are not of the same test images.")
    return np.flatnonzero(eval_a.predictions != eval_b.predictions)
