"""Every architecture builds, trains a step, saves as .keras and reloads with safe_mode=True."""

import numpy as np
import pytest

from digitlab.training.architectures import ARCHITECTURES, build_model
from digitlab.training.precise_batch_norm import recompute_batch_norm_statistics


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_architecture_trains_saves_and_reloads_safely(name, tmp_path, mnist):
    """Test that the model learns from one step and reloads under safe_mode with identical outputs."""
    import keras

    model = build_model(name)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = mnist.x_train[:64, :, :, None].astype(np.float32)
    before = model.evaluate(images, mnist.y_train[:64], verbose=0)
    model.fit(images, mnist.y_train[:64], epochs=3, batch_size=64, verbose=0)
    recompute_batch_norm_statistics(model, images)  # as the trainer does before saving each epoch's model
    after = model.evaluate(images, mnist.y_train[:64], verbose=0)
    assert after < before
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.models.load_model(path, safe_mode=True, compile=False)
    np.testing.assert_allclose(reloaded(images[:8], training=False), model(images[:8], training=False), atol=1e-5)
    assert reloaded.output_shape == (None, 10)


def test_unknown_architecture_lists_the_choices():
    """Test that a typo in the architecture name names the valid ones."""
    with pytest.raises(ValueError, match="mlp, cnn-small, cnn-deep, digitnet"):
        build_model("resnet")


def test_cnn_deep_is_the_deep_stack():
    """Test that cnn-deep really is the ~17-layer stack and digitnet stays small enough for fast CPU inference."""
    assert len(build_model("cnn-deep").layers) >= 17
    assert build_model("digitnet").count_params() < 400_000


def test_shipped_default_model_is_registered_and_reads_mnist(mnist):
    """Test that models/default.keras matches its card, loads with safe_mode and reads MNIST test digits."""
    from digitlab.serving.predictor import Predictor
    from digitlab.config.paths import REPO_ROOT
    from digitlab.store.registry import entry_for_path, load_entry

    entry = entry_for_path(REPO_ROOT / "models" / "default.keras")
    assert entry.usable, entry.problem
    predictor = Predictor(load_entry(entry))  # checks the sha256, then loads with safe_mode=True
    accuracy = (predictor.predict_mnist(mnist.x_test[:2000]).argmax(axis=1) == mnist.y_test[:2000]).mean()
    assert accuracy >= 0.99
    assert entry.test_accuracy >= 0.99 and "python -m digitlab" in entry.card["command"]


def test_predictor_answers_any_number_of_images_in_order(predictor, mnist):
    """Test that none, one, and more images than one batch holds each get their own row, in order."""
    from digitlab.serving.predictor import MAX_BATCH

    assert predictor.predict_mnist(mnist.x_test[:0]).shape == (0, 10)
    images = mnist.x_test[: MAX_BATCH + 3]
    together = predictor.predict_mnist(images)
    assert together.shape == (MAX_BATCH + 3, 10)
    np.testing.assert_allclose(together[-1], predictor.predict_mnist(images[-1:])[0], atol=1e-5)
    np.testing.assert_allclose(together.sum(axis=1), 1.0, atol=1e-4)


def test_a_run_may_ask_for_a_wider_or_narrower_digitnet_and_nothing_else_takes_a_width():
    """Test that a config's width changes digitnet's filters (the default stays the shipped network), that
    the command line records it, and that a width for another architecture or out of range is refused."""
    from digitlab.store.run_config import TrainConfig, train_command

    shipped = build_model("digitnet", 11)
    assert build_model("digitnet", 11, width=None).count_params() == shipped.count_params()
    assert build_model("digitnet", 11, width=16).count_params() < shipped.count_params()
    assert build_model("digitnet", 11, width=48).count_params() > shipped.count_params()
    TrainConfig(arch="digitnet", width=48).validate()
    assert "--width 48" in train_command(TrainConfig(arch="digitnet", width=48))
    with pytest.raises(ValueError, match="width applies to digitnet only"):
        TrainConfig(arch="mlp", width=48).validate()
    with pytest.raises(ValueError, match="width must be between"):
        TrainConfig(arch="digitnet", width=1000).validate()
