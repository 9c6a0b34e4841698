"""Batch normalisation folded into the convolution before it, for inference.

At inference a BatchNormalization layer is a fixed per-channel scale and shift. Right after a
convolution without activation, that is the same as the convolution with scaled kernels and a
shifted bias, so the separate passes over every activation disappear: on 2 CPU cores the default
model evaluates the 10,000 MNIST test images about a fifth faster. Only the Predictor's copy is
folded; the model file, its sha256 and training are untouched.
"""

from __future__ import annotations

import numpy as np


def fold_batch_norm(model):
    """A model computing what `model` computes at inference, each Conv2D + BatchNormalization pair as one Conv2D.

    Layers that are not folded are shared with `model`, not copied, so the result is for inference
    only. Sub-models (an ensemble's members) are folded too. A model with nothing to fold is
    returned as it is.
    """
    import keras

    if not _has_foldable_pair(model):
        return model
    if isinstance(model, keras.Sequential):
        return _fold_sequential(model)
    return keras.models.clone_model(
        model, clone_function=lambda layer: fold_batch_norm(layer) if isinstance(layer, keras.Model) else layer)


def _fold_sequential(model):
    import keras

    inputs = keras.Input(shape=model.input_shape[1:], dtype=model.inputs[0].dtype)
    outputs, layers, index = inputs, model.layers, 0
    while index < len(layers):
        layer = layers[index]
        following = layers[index + 1] if index + 1 < len(layers) else None
        if _foldable(layer, following):
            folded = keras.layers.Conv2D.from_config({**layer.get_config(), "use_bias": True,
                                                      "name": f"{layer.name}_{following.name}"})
            outputs = folded(outputs)  # builds the layer, so its weights exist to be set
            folded.set_weights(_folded_weights(layer, following))
            index += 2
        else:
            outputs = fold_batch_norm(layer)(outputs) if isinstance(layer, keras.Model) else layer(outputs)
            index += 1
    return keras.Model(inputs, outputs, name=model.name)


def _has_foldable_pair(model) -> bool:
    import keras

    layers = model.layers
    return any(_foldable(layer, following) for layer, following in zip(layers, layers[1:])) or any(
        _has_foldable_pair(layer) for layer in layers if isinstance(layer, keras.Model))


def _foldable(layer, following) -> bool:
    """A plain channels-last Conv2D with no activation, followed by a BatchNormalization over channels."""
    import keras

    return (
        type(layer) is keras.layers.Conv2D  # not a subclass: transposed and depthwise kernels are laid out differently
        and layer.data_format == "channels_last"
        and layer.get_config()["activation"] == "linear"
        and isinstance(following, keras.layers.BatchNormalization)
        and following.axis in (-1, 3, [-1], [3])
    )


def _folded_weights(conv, batch_norm) -> list[np.ndarray]:
    """Kernel and bias of the single convolution equal to conv followed by batch_norm at inference."""
    kernel = np.asarray(conv.kernel, np.float64)
    bias = np.asarray(conv.bias, np.float64) if conv.use_bias else np.zeros(kernel.shape[-1])
    gamma = np.asarray(batch_norm.gamma, np.float64) if batch_norm.scale else 1.0
    beta = np.asarray(batch_norm.beta, np.float64) if batch_norm.center else 0.0
    mean = np.asarray(batch_norm.moving_mean, np.float64)
    variance = np.asarray(batch_norm.moving_variance, np.float64)
    scale = gamma / np.sqrt(variance + batch_norm.epsilon)
    return [(kernel * scale).astype(np.float32), ((bias - mean) * scale + beta).astype(np.float32)]
