"""The "not a digit" answer end to end: the Predictor, `predict --json`, and the drawings it is learned from."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from digitlab.datasets.nondigits import FAMILIES, LETTERS, NOT_A_DIGIT, non_digit_canvases
from digitlab.serving.preprocess import preprocess
from tests.conftest import SHARED_PENDIGITS
from tests.helpers.canvases import canvas_from_digit
from tests.refusal_models import register_with_not_a_digit
from tests.unit.test_cli import digitlab

DIGIT_LOOKALIKES = {"O", "o", "I", "l", "S", "s", "Z", "z", "B", "G", "q", "g", "b", "D"}


@pytest.fixture(scope="module")
def refusal_models(small_run, tmp_path_factory):
    """A models/ folder with 'refuser' (refuses every drawing) and 'reader' (refuses none)."""
    directory = tmp_path_factory.mktemp("refusal-models")
    return {"dir": directory,
            "refuser": register_with_not_a_digit(small_run, directory, "refuser", 30.0),
            "reader": register_with_not_a_digit(small_run, directory, "reader", -30.0)}


def predictor_for(entry):
    from digitlab.serving.predictor import Predictor

    return Predictor.from_file(entry.path, entry.sha256)


def test_refused_drawing_has_no_digit_and_a_reason(refusal_models, mnist):
    """Test that a drawing the model judges no digit comes back with digit None and the reason, not a guess."""
    prediction = predictor_for(refusal_models["refuser"]).predict_image(canvas_from_digit(mnist.x_test[0]))
    assert prediction.digit is None and prediction.refused
    assert prediction.not_a_digit > 0.99
    assert "does not look like a digit" in prediction.message
    assert prediction.to_json()["reason"] == "not_a_digit"
    assert prediction.to_json()["digit"] is None


def test_not_a_digit_output_leaves_digit_readings_unchanged(refusal_models, small_run, mnist):
    """Test that an 11-output model that refuses nothing reads digits with the same ten probabilities as before."""
    from digitlab.serving.predictor import Predictor
    from digitlab.store.model_cards import run_card

    before = Predictor.from_file(small_run / "model.keras", run_card(small_run)["sha256"])
    after = predictor_for(refusal_models["reader"])
    images = mnist.x_test[:64]
    np.testing.assert_allclose(after.predict_mnist(images), before.predict_mnist(images), atol=1e-4)
    digits, not_a_digit = after.predict_with_refusal(images)
    assert digits.shape == (64, 10) and np.allclose(digits.sum(axis=1), 1, atol=1e-4)
    assert (not_a_digit < 1e-6).all()
    assert after.predict_image(canvas_from_digit(mnist.x_test[0])).digit == before.predict_image(
        canvas_from_digit(mnist.x_test[0])).digit


def test_predict_json_gives_null_digit_and_reason(refusal_models, tmp_path, mnist):
    """Test that `predict --json` reports a refused drawing as digit null with reason not_a_digit, and exits 0."""
    drawing = tmp_path / "doodle.png"
    Image.fromarray(mnist.x_test[0]).resize((140, 140)).save(drawing)
    blank = tmp_path / "blank.png"
    Image.fromarray(np.zeros((60, 60), np.uint8)).save(blank)
    result = digitlab("predict", str(drawing), str(blank), "--json", "--model", str(refusal_models["refuser"].path),
                      models_dir=refusal_models["dir"])
    assert result.returncode == 0, result.stderr
    refused, empty = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert refused["digit"] is None and refused["reason"] == "not_a_digit"
    assert "does not look like a digit" in refused["message"]
    assert empty["digit"] is None and empty["reason"] == "no_digit"


def test_non_digit_families_leave_out_shapes_that_are_digits():
    """Test that no letter or family doubles as a digit (O, I, S, Z, B, G, q, a plain circle or line)."""
    assert not DIGIT_LOOKALIKES & set(LETTERS)
    assert not {"circle", "line", "loop"} & set(FAMILIES)


def test_every_family_draws_something_preprocessing_reads():
    """Test that each family's drawings reach the model as ink (none is dropped as blank)."""
    canvases, families = non_digit_canvases(2 * len(FAMILIES), seed=3)
    assert set(families) == set(FAMILIES)
    assert all(preprocess(canvas).has_digit for canvas in canvases)


def test_held_out_non_digits_differ_from_training_ones():
    """Test that the held-out drawings are not the training drawings of the same seed."""
    training, _ = non_digit_canvases(len(FAMILIES), seed=0)
    held_out, _ = non_digit_canvases(len(FAMILIES), seed=0, held_out=True)
    again, _ = non_digit_canvases(len(FAMILIES), seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(training, again))  # seeded: reproducible
    assert not any(np.array_equal(a, b) for a, b in zip(training, held_out))


def test_not_a_digit_is_the_class_after_the_ten_digits():
    assert NOT_A_DIGIT == 10


def test_bench_refusal_rates_count_what_each_model_refuses(refusal_models, mnist):
    """Test that the bench's refusal rates are 100% for a model that refuses everything and 0% for one that never does."""
    from digitlab.bench.accuracy import refusal_rates

    refusing = refusal_rates(predictor_for(refusal_models["refuser"]), mnist.x_test[:50], n_non_digits=32)
    reading = refusal_rates(predictor_for(refusal_models["reader"]), mnist.x_test[:50], n_non_digits=32)
    assert refusing["non_digits_refused"] == refusing["mnist_test_refused"] == 1.0
    assert reading["non_digits_refused"] == reading["mnist_test_refused"] == 0.0
    assert refusing["non_digits"] == 32 and set(refusing["non_digits_refused_per_family"]) == set(FAMILIES)


@pytest.mark.skipif(not SHARED_PENDIGITS.is_file(), reason=f"{SHARED_PENDIGITS} is not present")
def test_bench_held_out_writers_figure_uses_only_held_out_writers(refusal_models):
    """Test that the headline real-drawing figure is measured on held-out writers, and its confusions add up."""
    from digitlab.bench.accuracy import held_out_writers_accuracy
    from digitlab.datasets.pendigits import HELD_OUT_WRITERS

    report = held_out_writers_accuracy(predictor_for(refusal_models["reader"]), SHARED_PENDIGITS, limit=60)
    assert report["n"] == 60 and set(report["writers"]) <= HELD_OUT_WRITERS
    assert 0.0 <= report["accuracy"] <= 1.0 and report["refused"] == 0
    wrong = round((1 - report["accuracy"]) * report["n"])
    assert sum(row["count"] for row in report["confusions"]) <= wrong
    assert all(row["digit"] != row["read_as"] for row in report["confusions"])

    refused = held_out_writers_accuracy(predictor_for(refusal_models["refuser"]), SHARED_PENDIGITS, limit=20)
    assert refused["accuracy"] == 0.0 and refused["refused"] == 20
    assert refused["confusions"][0]["read_as"] == "not a digit"
