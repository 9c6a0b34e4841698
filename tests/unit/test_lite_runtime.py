"""The LiteRT runtime: the same probabilities as the Keras model, safe across threads, TensorFlow when it is missing."""

import threading

import numpy as np
import pytest

from digitlab.serving import keras_fallback
from digitlab.serving.keras_fallback import lite_model_from_keras
from digitlab.serving.litert import LiteModel, LiteRuntimeUnavailable
from digitlab.serving.predictor import Predictor
from digitlab.store.flatbuffers import convert_to_flatbuffer


@pytest.fixture(scope="module")
def keras_model(predictor):
    return predictor.model


@pytest.fixture(scope="module")
def lite_model(keras_model):
    return lite_model_from_keras(keras_model)


def test_lite_model_gives_the_keras_probabilities_for_any_batch_size(keras_model, mnist):
    """Test that, converted without quantization, batches of 1, 7 and 1 again (each a resize) match the Keras
    model image by image."""
    exact = LiteModel(convert_to_flatbuffer(keras_model, quantize=False))
    images = mnist.x_test[:9, :, :, None].astype(np.float32)
    expected = keras_model(images, training=False).numpy()
    np.testing.assert_allclose(exact(images[:1]), expected[:1], atol=1e-5)
    np.testing.assert_allclose(exact(images[1:8]), expected[1:8], atol=1e-5)
    np.testing.assert_allclose(exact(images[8:9]), expected[8:9], atol=1e-5)


def test_quantized_lite_model_reads_the_same_digits_as_keras(keras_model, lite_model, mnist):
    """Test that the served (8-bit weight) model reads 500 MNIST test digits as the Keras model does, to
    within an image, with probabilities that move by at most 0.05, one image or a batch at a time."""
    images = mnist.x_test[:500, :, :, None].astype(np.float32)
    expected = keras_model(images, training=False).numpy()
    served = lite_model(images)
    assert (served.argmax(axis=1) != expected.argmax(axis=1)).sum() <= 1
    np.testing.assert_allclose(served, expected, atol=0.05)
    np.testing.assert_allclose(lite_model(images[:1]), served[:1], atol=1e-6)


def test_lite_model_keeps_each_threads_answer_its_own(lite_model, mnist):
    """Test that 12 threads predicting different digits at once each get the answers for their own images."""
    images = mnist.x_test[:120, :, :, None].astype(np.float32)
    expected = lite_model(images)
    answers: dict[int, np.ndarray] = {}
    start = threading.Barrier(12)

    def visitor(index: int) -> None:
        start.wait(timeout=30)
        rows = [lite_model(images[row : row + 1])[0] for row in range(index, 120, 12)]
        answers[index] = np.stack(rows)

    threads = [threading.Thread(target=visitor, args=(index,)) for index in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(answers) == list(range(12))
    for index, rows in answers.items():
        np.testing.assert_allclose(rows, expected[index::12], atol=1e-5)


def test_predictor_falls_back_to_tensorflow_when_litert_is_unavailable(keras_model, mnist, monkeypatch, caplog):
    """Test that without LiteRT the Predictor still answers (with TensorFlow) and says why in the log."""
    litert = Predictor(keras_model)
    assert litert.runtime == "litert"

    def unavailable(model):
        raise LiteRuntimeUnavailable("the ai-edge-litert package is not installed")

    monkeypatch.setattr(keras_fallback, "lite_model_from_keras", unavailable)
    fallback = Predictor(keras_model)
    assert fallback.runtime == "tensorflow"
    assert "ai-edge-litert package is not installed" in caplog.text
    # LiteRT serves 8-bit weights, TensorFlow the float ones: the same digits, probabilities close.
    np.testing.assert_allclose(fallback.predict_mnist(mnist.x_test[:20]), litert.predict_mnist(mnist.x_test[:20]),
                               atol=0.05)
    with pytest.raises(LiteRuntimeUnavailable):
        Predictor(keras_model, runtime="litert")


def test_runtime_setting_is_checked(keras_model, monkeypatch, caplog):
    """Test that DIGITLAB_RUNTIME picks the runtime, a typo there is logged and ignored, and a bad argument refused."""
    monkeypatch.setenv("DIGITLAB_RUNTIME", "tensorflow")
    assert Predictor(keras_model).runtime == "tensorflow"
    monkeypatch.setenv("DIGITLAB_RUNTIME", "tensorflw")
    assert Predictor(keras_model).runtime == "litert"
    assert "Ignoring DIGITLAB_RUNTIME='tensorflw'" in caplog.text
    with pytest.raises(ValueError, match="runtime must be one of auto, litert, tensorflow"):
        Predictor(keras_model, runtime="gpu")


def test_a_flatbuffer_that_does_not_run_is_refused_at_load():
    """Test that a damaged converted model fails when loaded (so the Predictor can fall back), not mid-stroke."""
    with pytest.raises(LiteRuntimeUnavailable, match="does not run"):
        LiteModel(b"TFL3 this is not a model")
