"""Evaluation: metrics against hand-computed cases, the per-model cache, and a real model on real MNIST."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from digitlab.evaluation.metrics import (Evaluation, cache_path, confusion_matrix, disagreements, evaluate_model,
                                         evaluate_probabilities, macro_averages, misclassified, per_class_metrics)
from digitlab.evaluation.result_cache import default_cache_dir

# Six samples of three classes, counted by hand:
#   true 0 -> predicted 0, 1      true 1 -> predicted 1      true 2 -> predicted 2, 0, 2
SMALL_TRUE = [0, 0, 1, 2, 2, 2]
SMALL_PRED = [0, 1, 1, 2, 0, 2]
SMALL_CONFUSION = [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def one_hot_probabilities(predictions, confidences, num_classes=10) -> np.ndarray:
    """Probabilities whose top class is each prediction, with the given confidence, the rest spread evenly."""
    probabilities = np.zeros((len(predictions), num_classes), np.float32)
    for row, (digit, confidence) in enumerate(zip(predictions, confidences)):
        probabilities[row] = (1 - confidence) / (num_classes - 1)
        probabilities[row, digit] = confidence
    return probabilities


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    """Test that cell [t, p] counts the samples of true class t predicted as p."""
    confusion = confusion_matrix(SMALL_TRUE, SMALL_PRED, num_classes=3)

    assert confusion.tolist() == SMALL_CONFUSION
    assert confusion.sum() == len(SMALL_TRUE)
    assert confusion.sum(axis=1).tolist() == [2, 1, 3]  # how many of each true class
    assert confusion.sum(axis=0).tolist() == [2, 2, 2]  # how many predictions of each class


def test_confusion_matrix_is_ten_by_ten_for_digits_even_when_some_are_absent():
    """Test that digits that never occur still get a row and a column of zeros."""
    confusion = confusion_matrix([3, 3, 7], [3, 8, 7])

    assert confusion.shape == (10, 10)
    assert confusion[3, 3] == 1 and confusion[3, 8] == 1 and confusion[7, 7] == 1
    assert confusion.sum() == 3


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([0, 1], [0], "2 true labels but 1 predictions"),
    ([0, 10], [0, 1], "true label must be a class from 0 to 9"),
    ([0, 1], [0, -1], "prediction must be a class from 0 to 9"),
])
def test_confusion_matrix_rejects_labels_it_cannot_count(y_true, y_pred, message):
    """Test that mismatched lengths and labels outside 0-9 raise a clear ValueError."""
    with pytest.raises(ValueError, match=message):
        confusion_matrix(y_true, y_pred)


def test_per_class_metrics_match_hand_computed_values():
    """Test precision, recall, F1 and support of each class of the small case."""
    metrics = per_class_metrics(SMALL_TRUE, SMALL_PRED, num_classes=3)

    # class 0: 1 of its 2 predictions right, 1 of its 2 samples found
    assert metrics[0] == pytest.approx({"digit": 0, "precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    # class 1: 1 of 2 predictions right, its only sample found; F1 = 2 * 0.5 * 1 / 1.5
    assert metrics[1] == pytest.approx({"digit": 1, "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "support": 1})
    # class 2: both predictions right, 2 of 3 samples found; F1 = 2 * 1 * (2/3) / (5/3)
    assert metrics[2] == pytest.approx({"digit": 2, "precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})


def test_macro_average_is_the_unweighted_mean_of_the_classes():
    """Test that macro averages weigh every class equally, whatever its support."""
    macro = macro_averages(SMALL_TRUE, SMALL_PRED, num_classes=3)

    assert macro["precision"] == pytest.approx((0.5 + 0.5 + 1.0) / 3)
    assert macro["recall"] == pytest.approx((0.5 + 1.0 + 2 / 3) / 3)
    assert macro["f1"] == pytest.approx((0.5 + 2 / 3 + 0.8) / 3)
    assert macro["support"] == 6


def test_empty_classes_score_zero_not_nan_and_stay_out_of_the_macro_average():
    """Test that a class never seen nor predicted, or never predicted, gives 0.0 instead of NaN or a crash."""
    # class 0 perfect; class 1 present but never predicted (all called 0); class 2 absent altogether
    metrics = per_class_metrics([0, 0, 1], [0, 0, 0], num_classes=3)

    assert metrics[1] == {"digit": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert metrics[2] == {"digit": 2, "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert all(not math.isnan(row[name]) for row in metrics for name in ("precision", "recall", "f1"))
    macro = macro_averages([0, 0, 1], [0, 0, 0], num_classes=3)
    assert macro["recall"] == pytest.approx((1.0 + 0.0) / 2)  # the absent class 2 is not averaged in
    assert macro_averages([], [])["f1"] == 0.0


def test_evaluate_probabilities_counts_errors_and_writes_plain_json():
    """Test accuracy, errors and the JSON report the CLI prints for a tiny set of predictions."""
    labels = np.array([0, 1, 2, 3])
    evaluation = evaluate_probabilities(one_hot_probabilities([0, 1, 2, 5], [0.9, 0.8, 0.7, 0.6]), labels)

    assert evaluation.accuracy == 0.75 and evaluation.errors == 1 and evaluation.n == 4
    assert evaluation.predictions.tolist() == [0, 1, 2, 5]
    assert evaluation.confusion[3, 5] == 1
    report = json.loads(json.dumps(evaluation.to_json()))  # must survive a round trip through JSON
    assert report["accuracy"] == 0.75 and report["errors"] == 1 and report["n"] == 4
    assert report["confusion_matrix"][3][5] == 1 and len(report["confusion_matrix"]) == 10
    assert report["per_class"][3] == {"digit": 3, "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert set(report["macro"]) == {"precision", "recall", "f1", "support"}


def test_misclassified_lists_the_most_confident_mistakes_first_and_filters_by_digits():
    """Test that mistakes come most-confident first and filter by true and predicted digit."""
    labels = np.array([4, 4, 4, 9, 7, 4])
    predictions = [9, 9, 4, 4, 1, 9]
    evaluation = evaluate_probabilities(one_hot_probabilities(predictions, [0.6, 0.95, 0.99, 0.7, 0.8, 0.95]), labels)

    assert misclassified(evaluation).tolist() == [1, 5, 4, 3, 0]  # 0.95 (tie kept in test order), 0.8, 0.7, 0.6
    assert misclassified(evaluation, true_digit=4, predicted_digit=9).tolist() == [1, 5, 0]
    assert misclassified(evaluation, predicted_digit=4).tolist() == [3]
    assert misclassified(evaluation, true_digit=7, predicted_digit=9).size == 0
    assert misclassified(evaluation, sort="index").tolist() == [0, 1, 3, 4, 5]
    with pytest.raises(ValueError, match="sort must be one of"):
        misclassified(evaluation, sort="loss")


def test_disagreements_are_the_images_two_models_answer_differently():
    """Test that disagreements lists exactly the test images where two models' digits differ."""
    labels = np.array([1, 2, 3, 4])
    first = evaluate_probabilities(one_hot_probabilities([1, 2, 3, 5], [0.9] * 4), labels)
    second = evaluate_probabilities(one_hot_probabilities([1, 7, 3, 4], [0.9] * 4), labels)

    assert disagreements(first, second).tolist() == [1, 3]
    assert disagreements(first, first).size == 0
    other_images = evaluate_probabilities(one_hot_probabilities([1, 2, 3], [0.9] * 3), labels[:3])
    with pytest.raises(ValueError, match="not of the same test images"):
        disagreements(first, other_images)


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    """Test that DIGITLAB_CACHE moves the evaluation cache."""
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "elsewhere"))
    assert default_cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("DIGITLAB_CACHE")
    assert default_cache_dir().parts[-3:] == (".cache", "digitlab", "evaluations")


class CountingPredictor:
    """A Predictor that counts the images it is asked about."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.calls = 0
        self.images = 0

    def predict_mnist(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        self.images += len(images)
        return self.predictor.predict_mnist(images)


@pytest.fixture(scope="module")
def small_model_file(small_run):
    return small_run / "model.keras"


@pytest.fixture(scope="module")
def small_predictor(small_model_file):
    from digitlab.serving.predictor import Predictor
    from digitlab.store.atomic import file_sha256

    return Predictor.from_file(small_model_file, file_sha256(small_model_file))


def test_evaluate_model_agrees_with_the_accuracy_the_trainer_recorded(small_run, small_predictor, mnist, tmp_path):
    """Test that a real model on the real 10,000 MNIST test images scores what its training run reported."""
    from digitlab.store.atomic import read_json

    evaluation = evaluate_model(small_predictor, mnist, cache_dir=tmp_path)

    recorded = read_json(small_run / "status.json")["test_accuracy"]
    assert evaluation.n == 10_000
    assert evaluation.accuracy == pytest.approx(recorded, abs=2e-4)
    assert evaluation.accuracy > 0.9
    assert evaluation.errors == int(evaluation.confusion.sum() - np.trace(evaluation.confusion))
    assert [row["support"] for row in evaluation.per_class] == np.bincount(mnist.y_test).tolist()
    assert evaluation.probabilities.shape == (10_000, 10) and evaluation.probabilities.dtype == np.float32
    assert list(tmp_path.iterdir()) == [], "nothing is cached without the model's sha256 as the key"


def test_second_evaluation_of_the_same_model_file_comes_from_the_cache(small_predictor, small_model_file, mnist, tmp_path):
    """Test that the same model file is evaluated once: the second call asks the model nothing."""
    from digitlab.store.atomic import file_sha256

    sha256 = file_sha256(small_model_file)
    counting = CountingPredictor(small_predictor)

    first = evaluate_model(counting, mnist, cache_dir=tmp_path, model_sha256=sha256)
    assert counting.images == 10_000 and counting.calls == 1
    assert cache_path(sha256, tmp_path).is_file()

    second = evaluate_model(counting, mnist, cache_dir=tmp_path, model_sha256=sha256)
    assert counting.calls == 1, "the cached evaluation ran the model again"
    assert isinstance(second, Evaluation) and second.model_sha256 == sha256
    np.testing.assert_array_equal(second.probabilities, first.probabilities)
    assert second.accuracy == first.accuracy and second.confusion.tolist() == first.confusion.tolist()


def test_a_changed_model_file_is_evaluated_afresh(small_model_file, mnist, tmp_path):
    """Test that retraining over the same file name (a new sha256) re-runs the model instead of reusing results."""
    import keras

    from digitlab.serving.predictor import Predictor
    from digitlab.store.atomic import file_sha256

    model_file = tmp_path / "model.keras"
    shutil.copyfile(small_model_file, model_file)
    before = CountingPredictor(Predictor.from_file(model_file, file_sha256(model_file)))
    old = evaluate_model(before, mnist, cache_dir=tmp_path / "cache", model_sha256=file_sha256(model_file))

    model = keras.models.load_model(model_file, safe_mode=True, compile=False)
    last_layer = model.layers[-1]
    kernel, bias = last_layer.get_weights()
    last_layer.set_weights([kernel, bias + np.eye(10, dtype=np.float32)[3] * 5])  # now leans hard towards 3
    model.save(model_file)
    after = CountingPredictor(Predictor.from_file(model_file, file_sha256(model_file)))
    new = evaluate_model(after, mnist, cache_dir=tmp_path / "cache", model_sha256=file_sha256(model_file))

    assert after.images == 10_000, "the changed model was not evaluated"
    assert new.model_sha256 != old.model_sha256
    assert new.confusion[:, 3].sum() > old.confusion[:, 3].sum()  # its own answers, not the old file's
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2


def test_a_damaged_or_unwritable_cache_costs_a_re_evaluation_not_an_error(small_predictor, mnist, tmp_path):
    """Test that a corrupt cache file is ignored and a cache folder that cannot be created is skipped."""
    sha256 = "0" * 64
    cache_path(sha256, tmp_path).write_bytes(b"not an npz file")
    counting = CountingPredictor(small_predictor)

    evaluation = evaluate_model(counting, mnist, cache_dir=tmp_path, model_sha256=sha256)
    assert counting.images == 10_000 and evaluation.accuracy > 0.9
    assert evaluate_model(counting, mnist, cache_dir=tmp_path, model_sha256=sha256).accuracy == evaluation.accuracy
    assert counting.images == 10_000, "the rewritten cache file was not used"

    blocked = tmp_path / "a-file-not-a-folder"
    blocked.write_text("")
    unwritable = evaluate_model(counting, mnist, cache_dir=blocked, model_sha256=sha256)
    assert unwritable.accuracy == evaluation.accuracy
