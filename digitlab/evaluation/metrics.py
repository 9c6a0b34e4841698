"""How good is a model on the 10,000 MNIST test images: metrics, confusion matrix, its mistakes.

Evaluating a model is a forward pass over the whole test set (seconds on a CPU), so its output, the
class probabilities, is kept on disk keyed by the sha256 of the model file: a second look at the same
model is instant, and a model file that changed is a different key, so it is evaluated afresh
(digitlab/evaluation/result_cache.py). Everything else (confusion matrix, per-class metrics, lists of
mistakes) is cheap and derived here; the counting is scikit-learn's. It is imported inside the
functions that count: `import sklearn.metrics` takes over a second on 2 cores, which a page or command
that only imports this module's types (the drawing bank's page, the CLI's parser) should not pay.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.evaluation.result_cache import cache_file, read_cached_arrays, write_cached_arrays

NUM_CLASSES = 10
CACHE_FORMAT = "v1"  # part of the cache file name: bump it when what is stored changes
SORT_ORDERS = ("confidence", "index")


def confusion_matrix(y_true, y_pred, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Counts of (true, predicted) pairs: rows are the true digit, columns the predicted one."""
    from sklearn import metrics

    y_true, y_pred = _checked_labels(y_true, y_pred, num_classes)
    if y_true.size == 0:  # scikit-learn refuses to count nothing; nothing counted is all zeros
        return np.zeros((num_classes, num_classes), np.int64)
    return metrics.confusion_matrix(y_true, y_pred, labels=range(num_classes))


def per_class_metrics(y_true, y_pred, num_classes: int = NUM_CLASSES) -> list[dict]:
    """Precision, recall, F1 and support of every class.

    A class never predicted has no precision, one never present no recall: they are reported as 0.0
    (zero_division=0) rather than NaN, which breaks tables, JSON and averages.
    """
    from sklearn import metrics

    y_true, y_pred = _checked_labels(y_true, y_pred, num_classes)
    if y_true.size == 0:
        precision = recall = f1 = support = np.zeros(num_classes)
    else:
        precision, recall, f1, support = metrics.precision_recall_fscore_support(
            y_true, y_pred, labels=range(num_classes), zero_division=0)
    return [{"digit": digit, "precision": float(precision[digit]), "recall": float(recall[digit]),
             "f1": float(f1[digit]), "support": int(support[digit])} for digit in range(num_classes)]


def macro_averages(y_true, y_pred, num_classes: int = NUM_CLASSES) -> dict:
    """Unweighted means of precision, recall and F1 over the classes that occur at all.

    A class absent from both labels and predictions says nothing about the model, so it is left out
    of the mean (scikit-learn's macro average over the labels present); support is the total.
    """
    from sklearn import metrics

    y_true, y_pred = _checked_labels(y_true, y_pred, num_classes)
    if y_true.size == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    precision, recall, f1, _ = metrics.precision_recall_fscore_support(y_true, y_pred, average="macro",
                                                                       zero_division=0)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1), "support": int(y_true.size)}


def _checked_labels(y_true, y_pred, num_classes: int = NUM_CLASSES) -> tuple[np.ndarray, np.ndarray]:
    """Both label arrays as flat int64, or a ValueError saying why they cannot be counted."""
    y_true = np.asarray(y_true).ravel().astype(np.int64)
    y_pred = np.asarray(y_pred).ravel().astype(np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"{y_true.size} true labels but {y_pred.size} predictions.")
    for name, values in (("true label", y_true), ("prediction", y_pred)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(f"Every {name} must be a class from 0 to {num_classes - 1}.")
    return y_true, y_pred


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
    from sklearn.metrics import accuracy_score

    predictions = probabilities.argmax(axis=1) if probabilities.size else np.zeros(0, np.int64)
    classes = probabilities.shape[1]
    return Evaluation(
        model_sha256=model_sha256,
        accuracy=float(accuracy_score(labels, predictions)) if labels.size else 0.0,
        errors=int((predictions != labels).sum()),
        confusion=confusion_matrix(labels, predictions, classes),
        per_class=per_class_metrics(labels, predictions, classes),
        macro=macro_averages(labels, predictions, classes),
        probabilities=probabilities,
        predictions=predictions,
        labels=labels,
    )


def cache_path(model_sha256: str, cache_dir: str | Path | None = None) -> Path:
    return cache_file(model_sha256, CACHE_FORMAT, cache_dir)


def _read_cached_probabilities(path: Path, expected_rows: int) -> np.ndarray | None:
    """The stored probabilities, or None when the file is missing, unreadable or the wrong shape."""
    stored = read_cached_arrays(path, "probabilities")
    if stored is None or stored[0].shape != (expected_rows, NUM_CLASSES):
        return None
    return stored[0].astype(np.float32, copy=False)


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
        write_cached_arrays(cache_path(model_sha256, cache_dir), probabilities=probabilities)
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
