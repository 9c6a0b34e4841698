"""Batch normalisation folded into convolutions: the Predictor's copy answers exactly as the model does."""

import numpy as np
import pytest

from digitlab.training.ensemble import build_ensemble
from digitlab.serving.batch_norm_folding import fold_batch_norm
from digitlab.training.architectures import build_model


def with_learned_statistics(model, seed: int):
    """A model whose batch-norm layers hold statistics as after training, not the identity they start as."""
    import keras

    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, channels), rng.normal(0, 0.3, channels),
                               rng.normal(0, 2.0, channels), rng.uniform(0.2, 3.0, channels)])
    return model


def batch_norm_layers(model) -> int:
    import keras

    return sum(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers) + sum(
        batch_norm_layers(layer) for layer in model.layers if isinstance(layer, keras.Model))


@pytest.fixture(scope="module")
def images(mnist):
    return mnist.x_test[:64, :, :, None].astype(np.float32)


def test_folded_digitnet_answers_as_the_model_does_without_batch_norm(images):
    """Test that folding removes every batch-norm layer of digitnet and leaves every probability as it was."""
    model = with_learned_statistics(build_model("digitnet"), seed=0)
    before = model(images, training=False).numpy()

    folded = fold_batch_norm(model)

    assert batch_norm_layers(model) == 5 and batch_norm_layers(folded) == 0
    np.testing.assert_allclose(folded(images, training=False).numpy(), before, atol=1e-5)
    np.testing.assert_array_equal(model(images, training=False).numpy(), before)  # the original is untouched


def test_an_ensemble_is_folded_member_by_member(images):
    """Test that the members inside an ensemble are folded and the averaged probabilities do not change."""
    members = [with_learned_statistics(build_model("digitnet"), seed) for seed in (1, 2)]
    ensemble = build_ensemble(members)
    before = ensemble(images, training=False).numpy()

    folded = fold_batch_norm(ensemble)

    assert batch_norm_layers(ensemble) == 10 and batch_norm_layers(folded) == 0
    np.testing.assert_allclose(folded(images, training=False).numpy(), before, atol=1e-5)


def test_batch_norm_after_an_activation_is_left_alone():
    """Test that cnn-deep, whose batch norms follow a ReLU and so cannot be folded, is used as it is."""
    model = build_model("cnn-deep")
    assert fold_batch_norm(model) is model
    mlp = build_model("mlp")
    assert fold_batch_norm(mlp) is mlp


def test_tensorflow_predictor_gives_the_models_own_probabilities(mnist):
    """Test that the TensorFlow fast path (folded, traced) agrees with calling the trained model directly."""
    from digitlab.serving.predictor import Predictor

    model = with_learned_statistics(build_model("digitnet"), seed=3)
    images = mnist.x_test[:32]
    direct = model(images[:, :, :, None].astype(np.float32), training=False).numpy()
    np.testing.assert_allclose(Predictor(model, runtime="tensorflow").predict_mnist(images), direct, atol=1e-5)
