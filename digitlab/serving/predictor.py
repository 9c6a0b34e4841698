"""The fast predictor: a model loaded once and called directly, without model.predict's per-call setup.

`model.predict` builds a data pipeline on every call (about 60 ms for one image on 2 cores); a traced
tf.function over the model costs about a millisecond, and the model converted to LiteRT about a
third of that (digitlab/serving/litert.py). Loading flows one way: the store hands over a registered
model's checked flatbuffer (digitlab/store/flatbuffers.py) and the Predictor is built from it in one
step; only where there is none does a Keras model take the fallback (digitlab/serving/keras_fallback.py).
One Predictor is shared by every visitor of the app, so it holds no per-request state and is never
mutated after construction.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.serving.keras_fallback import keras_forward
from digitlab.serving.litert import LiteModel, LiteRuntimeUnavailable
from digitlab.serving.preprocess import preprocess
from digitlab.store.flatbuffers import FlatbufferRefused, read_flatbuffer
from digitlab.store.registry import ModelLoadError, load_entry, load_keras_model

RUNTIME_ENV_VAR = "DIGITLAB_RUNTIME"
RUNTIMES = ("auto", "litert", "tensorflow")
logger = logging.getLogger(__name__)

UNSURE_TOP_PROBABILITY = 0.6  # below this the model is guessing
UNSURE_MARGIN = 0.25  # or when the runner-up is this close
DIGITS = 10
# A model with an 11th output says how likely a drawing is no digit at all (scribbles, letters,
# doodles). At or above this it is refused rather than read as its likeliest digit. Chosen on data
# no model was trained or judged on (MNIST's validation split, non-digits of unused seeds): for the
# shipped default, 0.7 refuses 0.1% of those digits and 94% of those non-digits (0.5: 0.27%, 97%).
NOT_A_DIGIT_THRESHOLD = 0.7
NOT_A_DIGIT_MESSAGE = "This does not look like a digit."


@dataclass(frozen=True)
class Prediction:
    """The model's reading of one image; digit is None when the image holds no digit."""

    digit: int | None
    probabilities: np.ndarray | None  # (10,) float, sums to 1
    mnist: np.ndarray | None  # the 28x28 uint8 image the model saw
    message: str = ""  # why there is no digit
    not_a_digit: float = 0.0  # the model's probability that the drawing is no digit (0 for 10-output models)

    @property
    def refused(self) -> bool:
        """Whether the model saw the drawing and judged it not a digit (rather than finding no ink)."""
        return self.digit is None and self.probabilities is not None

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
        result = {"digit": self.digit, "probabilities": probabilities, "not_a_digit": round(self.not_a_digit, 6)}
        if self.digit is None:
            result["reason"] = "not_a_digit" if self.refused else "no_digit"
        return result


# Larger batches are no faster on a CPU (LiteRT is a little faster at 32-64 images, its activations
# staying in cache), and activations grow with the batch: the whole MNIST test set in one call held
# several GB, more than a small cloud container has.
MAX_BATCH = 64


@dataclass(frozen=True)
class ServingSource:
    """Where a Predictor's answers come from, in words for a page or the CLI."""

    runtime: str  # "litert" or "tensorflow"
    from_flatbuffer: bool
    note: str = ""  # why the flatbuffer was not used, when it was not


class Predictor:
    """Predict digits with one model: its registered flatbuffer on LiteRT, or a loaded Keras model."""

    def __init__(self, model, runtime: str | None = None, note: str = ""):
        """A Predictor over a loaded Keras model (the fallback, digitlab/serving/keras_fallback.py).

        runtime: "litert" (fastest), "tensorflow", or "auto" (LiteRT where it is installed and can
        convert the model, else TensorFlow); by default $DIGITLAB_RUNTIME, else "auto". note says
        why the model's flatbuffer was not used, for `serving`.
        """
        self.model = model
        # Warmed up as it is made, so a user's first stroke is not the slow one.
        runtime, self._forward = keras_forward(model, requested_runtime(runtime))
        self.serving = ServingSource(runtime, from_flatbuffer=False, note=note)

    @classmethod
    def from_flatbuffer(cls, flatbuffer: bytes) -> "Predictor":
        """A Predictor over checked flatbuffer bytes alone: no Keras model, so TensorFlow is never imported.

        Raises LiteRuntimeUnavailable where LiteRT is missing or cannot run them.
        """
        predictor = cls.__new__(cls)  # nothing to convert: the flatbuffer is the whole model
        predictor.model, predictor._forward = None, LiteModel(flatbuffer)
        predictor.serving = ServingSource("litert", from_flatbuffer=True)
        return predictor

    @classmethod
    def from_file(cls, path: str | Path, expected_sha256: str | None = None) -> "Predictor":
        return cls(load_keras_model(path, expected_sha256))

    @property
    def runtime(self) -> str:
        """What runs the model: "litert" or "tensorflow"."""
        return self.serving.runtime

    def predict_mnist(self, images: np.ndarray) -> np.ndarray:
        """Digit probabilities (n, 10) for MNIST-style uint8 images (n, 28, 28), in bounded batches."""
        return self.predict_with_refusal(images)[0]

    def predict_with_refusal(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(digit probabilities (n, 10) summing to 1, probability of "not a digit" (n,)).

        A model with an 11th "not a digit" output has its ten digit probabilities renormalised, so
        bars and metrics read the same as for a ten-output model; others never refuse (zeros).
        """
        batch = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
        if len(batch) == 0:
            return np.zeros((0, DIGITS), np.float32), np.zeros((0,), np.float32)
        if len(batch) <= MAX_BATCH:  # a drawing's stroke: one call, nothing to join
            outputs = self._forward(batch)
        else:
            outputs = np.concatenate([self._forward(batch[start : start + MAX_BATCH])
                                      for start in range(0, len(batch), MAX_BATCH)])
        digits = outputs[:, :DIGITS]
        if outputs.shape[1] == DIGITS:
            return digits, np.zeros(len(outputs), np.float32)
        return digits / np.maximum(digits.sum(axis=1, keepdims=True), 1e-12), outputs[:, DIGITS]

    def predict_image(self, image) -> Prediction:
        """Preprocess any digit image (canvas RGBA, photo, array) and predict it."""
        prepared = preprocess(image)
        if not prepared.has_digit:
            return Prediction(None, None, None, prepared.reason)
        return self.read_mnist(prepared.mnist)

    def read_mnist(self, mnist: np.ndarray) -> Prediction:
        """Predict one image already in MNIST's form (28x28 uint8, centred and scaled as MNIST's are), as it is,
        the way Evaluate reads the test set: preprocessing it again would move its ink and change the reading."""
        mnist = np.asarray(mnist, np.uint8)
        digits, not_a_digit = self.predict_with_refusal(mnist[None])
        probabilities, not_a_digit = digits[0], float(not_a_digit[0])
        if not_a_digit >= NOT_A_DIGIT_THRESHOLD:
            return Prediction(None, probabilities, mnist, NOT_A_DIGIT_MESSAGE, not_a_digit)
        return Prediction(int(probabilities.argmax()), probabilities, mnist, not_a_digit=not_a_digit)


def requested_runtime(runtime: str | None) -> str:
    """runtime checked, or when None $DIGITLAB_RUNTIME (a typo there is logged and read as "auto")."""
    if runtime is None:
        runtime = os.environ.get(RUNTIME_ENV_VAR, "auto").strip().lower() or "auto"
        if runtime not in RUNTIMES:  # a deployment's typo must not take the app down
            logger.warning("Ignoring %s=%r: use one of %s.", RUNTIME_ENV_VAR, runtime, ", ".join(RUNTIMES))
            runtime = "auto"
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}.")
    return runtime


def load_serving_predictor(entry, runtime: str | None = None) -> Predictor:
    """The Predictor for a registry entry: from its checked flatbuffer (no TensorFlow), else its .keras file.

    Raises registry.ModelLoadError when the model cannot be served at all. The Predictor's
    `serving` attribute says which way it went and why.
    """
    if not entry.usable:
        raise ModelLoadError(f"Model '{entry.name}' cannot be used: {entry.problem}.")
    runtime = requested_runtime(runtime)
    note = "TensorFlow was asked for"
    if runtime != "tensorflow":
        try:
            return Predictor.from_flatbuffer(read_flatbuffer(entry.path, entry.card))
        except (FlatbufferRefused, LiteRuntimeUnavailable) as error:
            note = f"the LiteRT flatbuffer was not used: {error}"
            logger.warning("Model '%s': %s; loading its .keras file instead.", entry.name, note)
    return Predictor(load_entry(entry), runtime=runtime, note=note)
