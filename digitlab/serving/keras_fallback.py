"""The Keras fallback: a loaded Keras model served without a registered flatbuffer, on LiteRT or TensorFlow.

The app serves a registered model from the flatbuffer the store checked (digitlab/serving/predictor.py).
A Keras model comes here instead when there is none to use: a flatbuffer refused or missing, a model
just trained or built in this process (an ensemble, a test). It is converted to LiteRT in-process
(seconds, once), or, where LiteRT is missing or cannot run it, called as a traced TensorFlow function
over a copy with its batch norms folded (digitlab/serving/batch_norm_folding.py). TensorFlow is
imported inside functions only, so serving a flatbuffer never loads it.
"""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

from digitlab.serving.batch_norm_folding import fold_batch_norm
from digitlab.serving.litert import LiteModel, LiteRuntimeUnavailable
from digitlab.store.flatbuffers import FlatbufferNotMade, convert_to_flatbuffer

logger = logging.getLogger(__name__)

Forward = Callable[[np.ndarray], np.ndarray]  # a float32 batch (n, 28, 28, 1) -> the model's outputs (n, classes)


def keras_forward(model, runtime: str) -> tuple[str, Forward]:
    """(the runtime that serves it, its forward function) for a Keras model, warmed up.

    runtime "litert" requires LiteRT (raises LiteRuntimeUnavailable saying why not), "tensorflow"
    skips it, and "auto" tries LiteRT and logs why it fell back to TensorFlow.
    """
    if runtime != "tensorflow":
        try:
            return "litert", lite_model_from_keras(model)
        except LiteRuntimeUnavailable as error:
            if runtime == "litert":
                raise
            logger.warning("Predicting with TensorFlow: LiteRT is unavailable (%s).", error)
    return "tensorflow", traced_forward(model)


def lite_model_from_keras(model, quantize: bool = True) -> LiteModel:
    """The model converted to a flatbuffer here and run by LiteRT; raises LiteRuntimeUnavailable saying why not."""
    try:
        return LiteModel(convert_to_flatbuffer(model, quantize))
    except FlatbufferNotMade as error:
        raise LiteRuntimeUnavailable(str(error)) from error


def traced_forward(model) -> Forward:
    """The model as a traced TensorFlow function of a float32 numpy batch, returning numpy probabilities."""
    import tensorflow as tf

    inference_model = fold_batch_norm(model)  # same answers, about a fifth less work on a batch
    spec = tf.TensorSpec([None, 28, 28, 1], tf.float32)
    # The concrete function skips tf.function's signature matching, and a tensor argument skips its
    # conversion: together about 0.2 ms a call.
    forward = tf.function(lambda images: inference_model(images, training=False),
                          input_signature=[spec]).get_concrete_function()
    forward(tf.zeros([1, 28, 28, 1]))  # the first call sets up the kernels
    return lambda batch: forward(tf.constant(batch)).numpy()
