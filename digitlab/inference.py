"""The fast predictor: a model loaded once and called directly, without model.predict's per-call setup.

`model.predict` builds a data pipeline on every call (about 60 ms for one image on 2 cores); a traced
tf.function over the model costs about a millisecond. One Predictor is shared by every visitor of the
app, so it holds no per-request state and is never mutated after construction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.preprocess import preprocess

UNSURE_TOP_PROBABILITY = 0.6  # below this the model is guessing
UNSURE_MARGIN = 0.25  # or when the runner-up is this close


@dataclass(frozen=True)
class Prediction:
    """The model's reading of one image; digit is None when the image holds no digit."""

    digit: int | None
    probabilities: np.ndarray | None  # (10,) float, sums to 1
    mnist: np.ndarray | None  # the 28x28 uint8 image the model saw
    message: str = ""  # why there is no digit

    @property
    def confidence(self) -> float:
        return float(self.probabilities[self.digit]) if self.digit is not None else 0.0

    @property
    def runner_up(self) -> int | None:
        if self.probabilities is None:
            return None
        return int(np.argsort(self.probabilities)[-2])

    @property
    def is_unsure(self) -> bool:
        if self.digit is None:
            return False
        margin = self.confidence - float(self.probabilities[self.runner_up])
        return self.confidence < UNSURE_TOP_PROBABILITY or margin < UNSURE_MARGIN

    def to_json(self) -> dict:
        probabilities = None if self.probabilities is None else [round(float(p), 6) for p in self.probabilities]
        return {"digit": self.digit, "probabilities": probabilities}


# Larger batches are no faster on a CPU, and activations grow with the batch: the whole MNIST test
# set in one call held several GB, more than a small cloud container has.
MAX_BATCH = 256


class Predictor:
    """Predict digits with one loaded Keras model."""

    def __init__(self, model):
        import tensorflow as tf

        from digitlab.folding import fold_batch_norm

        self.model = model
        inference_model = fold_batch_norm(model)  # same answers, about a fifth less work on a batch
        spec = tf.TensorSpec([None, 28, 28, 1], tf.float32)
        # Traced now, not on a user's first stroke. The concrete function skips tf.function's
        # signature matching, and a tensor argument skips its conversion: together about 0.2 ms a call.
        self._forward = tf.function(lambda images: inference_model(images, training=False),
                                    input_signature=[spec]).get_concrete_function()
        self._as_tensor = tf.constant

    @classmethod
    def from_file(cls, path: str | Path, expected_sha256: str | None = None) -> "Predictor":
        from digitlab.registry import load_keras_model

        return cls(load_keras_model(path, expected_sha256))

    def predict_mnist(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (n, 10) for MNIST-style uint8 images (n, 28, 28), in bounded batches."""
        batch = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
        if len(batch) == 0:
            return np.zeros((0, 10), np.float32)
        return np.concatenate([self._forward(self._as_tensor(batch[start : start + MAX_BATCH])).numpy()
                               for start in range(0, len(batch), MAX_BATCH)])

    def predict_image(self, image) -> Prediction:
        """Preprocess any digit image (canvas RGBA, photo, array) and predict it."""
        prepared = preprocess(image)
        if not prepared.has_digit:
            return Prediction(None, None, None, prepared.reason)
        probabilities = self.predict_mnist(prepared.mnist[None])[0]
        return Prediction(int(probabilities.argmax()), probabilities, prepared.mnist)
