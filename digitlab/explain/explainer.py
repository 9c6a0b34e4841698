"""Explain one reading: where the model looked, which training digits it resembles, what each layer sees.

The Explainer ties the parts together: it reads the model's structure (digitlab/explain/layers.py),
and in one forward and backward pass over the integrated-gradients path (digitlab/explain/saliency.py)
takes the answer's gradient, the input's embedding and every layer's activations. The embedding finds
the nearest training digits (digitlab/explain/neighbours.py); the what-if strip
(digitlab/explain/what_if.py) reads changed inputs with the fast Predictor.

TensorFlow is imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from digitlab.explain.layers import LayerActivation, classifier_members, member_features
from digitlab.explain.neighbours import NEIGHBOURS, Neighbour, NeighbourIndex, unit_rows
from digitlab.explain.saliency import PATH_STEPS, path_batch, saliency_from_gradient
from digitlab.explain.what_if import WhatIf, what_if_strip
from digitlab.serving.keras_fallback import lite_model_from_keras
from digitlab.serving.litert import LiteRuntimeUnavailable

EMBED_BATCH = 256
LITE_EMBED_FROM = 5000  # from this many images on, embeddings are computed with LiteRT


@dataclass(frozen=True)
class Explanation:
    """Why the model read an input the way it did."""

    digit: int
    probabilities: np.ndarray  # (classes,)
    mnist: np.ndarray  # the 28x28 uint8 input
    saliency: np.ndarray  # (28, 28) float32 in -1..1: + where more ink raises the answer, - where it lowers it
    embedding: np.ndarray  # (d,) unit-length penultimate-layer embedding
    layers: list[LayerActivation]
    neighbours: list[Neighbour] = field(default_factory=list)
    what_ifs: list[WhatIf] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "digit": self.digit,
            "probabilities": [round(float(p), 6) for p in self.probabilities],
            "input": self.mnist.astype(int).tolist(),
            "saliency": np.round(self.saliency, 4).tolist(),
            "neighbours": [neighbour.to_json() for neighbour in self.neighbours],
            "layers": [layer.to_json() for layer in self.layers],
            "what_if": [{"change": w.name, "digit": w.digit, "probability": round(w.probability, 4)}
                        for w in self.what_ifs],
        }


class Explainer:
    """Explain readings of one loaded Keras model. Shared like a Predictor: never mutated after construction
    (its neighbour index is passed in, or attached once by with_index)."""

    def __init__(self, model, index: NeighbourIndex | None = None, steps: int = PATH_STEPS):
        import tensorflow as tf

        self.model = model
        members = classifier_members(model)
        many = len(members) > 1
        self.members = [member_features(member, f"{member.name}/" if many else "") for member in members]
        self.index = index
        self.steps = steps
        spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)

        def embed(images):
            embeddings = [tf.math.l2_normalize(member.features(images, training=False)[-1], axis=1)
                          for member in self.members]
            return tf.math.l2_normalize(tf.concat(embeddings, axis=1), axis=1)

        def analyse(images, target):
            # images[0] is the input, the rest points on the path from black to it; target is the class to explain.
            with tf.GradientTape() as tape:
                tape.watch(images)
                outputs = [member.features(images, training=False) for member in self.members]
                logits = tf.add_n([tf.matmul(out[-1], member.head_kernel) + member.head_bias
                                   for out, member in zip(outputs, self.members)])
                score = tf.reduce_sum(tf.gather(logits[1:], target, axis=1))
            gradient = tape.gradient(score, images)
            embeddings = [tf.math.l2_normalize(out[-1][:1], axis=1) for out in outputs]
            activations = [activation[0] for out in outputs for activation in out[:-1]]
            return (tf.reduce_mean(gradient[1:], axis=0)[..., 0],
                    tf.math.l2_normalize(tf.concat(embeddings, axis=1), axis=1)[0], activations)

        self._embed = tf.function(embed, input_signature=[spec]).get_concrete_function()
        self._analyse = tf.function(analyse, input_signature=[spec, tf.TensorSpec([], tf.int32)]).get_concrete_function()
        self._tf = tf

    @property
    def layer_names(self) -> list[str]:
        return [name for member in self.members for name in member.layer_names]

    def with_index(self, index: NeighbourIndex) -> "Explainer":
        """This explainer answering nearest-neighbour questions from index (a shallow copy)."""
        copy = object.__new__(Explainer)
        copy.__dict__.update(self.__dict__)
        copy.index = index
        return copy

    def embed(self, images: np.ndarray, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Unit-length embeddings (n, d) of 28x28 uint8 images, in batches; progress(done, total) after each.

        Many images (an index) go through the embedding part of the model converted to LiteRT, about
        three times faster than TensorFlow; the conversion (seconds) does not pay for a few images.
        """
        batch = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
        forward = self._lite_embedder() if len(batch) >= LITE_EMBED_FROM else None
        if forward is None:
            forward = lambda chunk: self._embed(self._tf.constant(chunk)).numpy()  # noqa: E731
        chunks = []
        for start in range(0, len(batch), EMBED_BATCH):
            chunks.append(forward(batch[start : start + EMBED_BATCH]))
            if progress is not None:
                progress(min(start + EMBED_BATCH, len(batch)), len(batch))
        if not chunks:
            return np.zeros((0, 0), np.float32)
        return unit_rows(np.concatenate(chunks).astype(np.float32))

    def _lite_embedder(self):
        """The members' embeddings, side by side and each of unit length, as a LiteRT model; None where
        LiteRT cannot run it (then TensorFlow does the work)."""
        import keras

        inputs = keras.Input(self.model.input_shape[1:])
        parts = [keras.layers.UnitNormalization()(member.features(inputs)[-1]) for member in self.members]
        embedding = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
        try:
            return lite_model_from_keras(keras.Model(inputs, embedding))
        except LiteRuntimeUnavailable:
            return None

    def explain(self, mnist: np.ndarray, probabilities: np.ndarray, predictor=None,
                neighbours: int = NEIGHBOURS) -> Explanation:
        """Explain the reading of a 28x28 uint8 input whose class probabilities are already known.

        predictor (a digitlab Predictor) reads the what-if variants; without it there is no strip.
        """
        image = np.asarray(mnist, np.float32).reshape(1, 28, 28, 1)
        digit = int(np.argmax(probabilities))
        batch = path_batch(image, self.steps)
        gradient, embedding, activations = self._analyse(self._tf.constant(batch), self._tf.constant(digit))
        saliency = saliency_from_gradient(gradient.numpy(), image)
        layers = [LayerActivation(name, kind, activation.numpy())
                  for name, kind, activation in zip(self.layer_names,
                                                    [k for m in self.members for k in m.layer_kinds], activations)]
        embedding = embedding.numpy()
        found = self.index.nearest(embedding, neighbours) if self.index is not None else []
        what_ifs = what_if_strip(mnist, predictor) if predictor is not None else []
        return Explanation(digit, np.asarray(probabilities, np.float32), np.asarray(mnist, np.uint8), saliency,
                           embedding, layers, found, what_ifs)
