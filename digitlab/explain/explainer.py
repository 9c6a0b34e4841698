"""Explain one reading: where the model looked, which training digits it resembles, what each layer sees.

Everything is read off the model's own layers, so it works for any of DigitLab's architectures, for
an ensemble (an Average over member networks) and for a model with extra outputs (say an 11th "not a
digit" class). A "member" is one classifier network: the ensemble's sub-models, or the model itself.
In each member the head is its last Dense layer; the input to the head is the member's embedding
(the penultimate layer), and the head's pre-softmax output its logits.

- Saliency is integrated gradients from a black image (the paper's choice for MNIST): the gradient of
  the answer's logit, averaged along the straight path from black to the input, times the input. Each
  pixel's value is its share of the logit's rise from black, so they add up (nearly: the path is
  sampled at a few points) to what the ink as a whole contributed: positive where ink argued for the
  answer, negative where it argued against. It says nothing about where ink is *missing* (a black
  pixel gets exactly zero), which the what-if strip shows instead. SmoothGrad (noisy gradients) was
  tried: on the default model about 60% of its mass lies off the ink, in the background, where it
  mostly says "ink here would change the logit", which reads as noise to a learner.
- Nearest training digits are found by cosine similarity of embeddings: the 60,000 MNIST training
  images are embedded once per model and kept on disk next to the evaluations, keyed by the model
  file's sha256 (as digitlab/evaluation/metrics.py keeps probabilities).
- Layer activations are each convolution's output after its batch norm and activation (feature
  maps), and each hidden Dense layer's units (the MLP).
- The what-if strip changes the 28x28 the model sees (not the drawing: preprocessing would centre a
  shifted drawing again) and reads each variant with the fast Predictor.

TensorFlow is imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageFilter

from digitlab.store.atomic import write_atomic
from digitlab.evaluation.metrics import default_cache_dir

# Points on the black-to-input path; each costs a forward and backward pass. On the default model
# 3 points give saliency that correlates 0.94 on average with 32 points (4 points: 0.95, 8 points:
# 0.98 at twice the cost), and keep the open panel near its time budget per stroke (BENCHMARKS.md).
PATH_STEPS = 3
NEIGHBOURS = 8
INDEX_FORMAT = "v1"  # part of the cache file names: bump it when what is stored changes
EMBED_BATCH = 256
LITE_EMBED_FROM = 5000  # from this many images on, embeddings are computed with LiteRT
# Layers that only rescale or switch on a convolution's output: its feature map is read after them.
_POST_CONV_LAYERS = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "ELU", "PReLU")


class ExplainError(RuntimeError):
    """The model has no layer structure that can be explained (no Dense head)."""


@dataclass(frozen=True)
class LayerActivation:
    """What one layer of one member network produced for the input."""

    name: str  # "conv2d_1", or "member_1/conv2d_1" in an ensemble
    kind: str  # "conv" (values are feature maps, (h, w, channels)) or "dense" (values are units, (units,))
    values: np.ndarray

    def to_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "shape": list(self.values.shape)}


@dataclass(frozen=True)
class Neighbour:
    index: int  # into the MNIST training set
    label: int
    similarity: float  # cosine similarity of the embeddings, 1.0 for the same embedding

    def to_json(self) -> dict:
        return {"index": self.index, "label": self.label, "similarity": round(self.similarity, 4)}


@dataclass(frozen=True)
class WhatIf:
    name: str  # "shifted right 3 px", "rotated 20° left", ...
    image: np.ndarray  # the changed 28x28 uint8 input
    digit: int
    probability: float


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


# --- the model's structure ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    name: str  # "" for a single network, else the sub-model's name
    features: object  # keras.Model: input -> [*activations, embedding]
    layer_names: list[str]
    layer_kinds: list[str]
    head_kernel: object  # the head Dense layer's kernel and bias variables
    head_bias: object


def _class_name(layer) -> str:
    return type(layer).__name__


def _is_model(layer) -> bool:
    import keras

    return isinstance(layer, keras.Model)


def classifier_members(model) -> list:
    """The networks whose outputs the model combines: an ensemble's sub-models, else the model itself.

    A model whose own layers include a Dense head is one network even if it holds sub-models (a
    backbone); one without a Dense layer of its own that holds sub-models combines them (an Average).
    """
    own_dense = [layer for layer in model.layers if _class_name(layer) == "Dense"]
    nested = [layer for layer in model.layers if _is_model(layer)]
    if not own_dense and nested:
        return nested
    return [model]


def _head(member):
    dense = [layer for layer in member.layers if _class_name(layer) == "Dense"]
    if not dense:
        raise ExplainError(f"Model '{member.name}' has no Dense output layer, so it has no embedding to explain.")
    return dense[-1]


def _activation_layers(member, head) -> list[tuple[str, str, object]]:
    """(name, kind, layer whose output to read) for each convolution and each hidden Dense layer."""
    layers = list(member.layers)
    found = []
    for position, layer in enumerate(layers):
        kind = _class_name(layer)
        if kind in ("Conv2D", "SeparableConv2D", "DepthwiseConv2D"):
            last = position
            while last + 1 < len(layers) and _class_name(layers[last + 1]) in _POST_CONV_LAYERS:
                last += 1
            found.append((layer.name, "conv", layers[last]))
        elif kind == "Dense" and layer is not head:
            found.append((layer.name, "dense", layer))
    return found


def _member(member, prefix: str) -> _Member:
    import keras

    head = _head(member)
    chosen = _activation_layers(member, head)
    features = keras.Model(member.inputs, [layer.output for _, _, layer in chosen] + [head.input])
    return _Member(prefix, features, [f"{prefix}{name}" for name, _, _ in chosen],
                   [kind for _, kind, _ in chosen], head.kernel, head.bias)


# --- the explainer ----------------------------------------------------------------------------------------


class Explainer:
    """Explain readings of one loaded Keras model. Shared like a Predictor: never mutated after construction
    (its neighbour index is passed in, or attached once by with_index)."""

    def __init__(self, model, index: "NeighbourIndex | None" = None, steps: int = PATH_STEPS):
        import tensorflow as tf

        self.model = model
        members = classifier_members(model)
        many = len(members) > 1
        self.members = [_member(member, f"{member.name}/" if many else "") for member in members]
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

    def with_index(self, index: "NeighbourIndex") -> "Explainer":
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
        return _unit_rows(np.concatenate(chunks).astype(np.float32))

    def _lite_embedder(self):
        """The members' embeddings, side by side and each of unit length, as a LiteRT model; None where
        LiteRT cannot run it (then TensorFlow does the work)."""
        import keras

        from digitlab.serving.litert import LiteModel, LiteRuntimeUnavailable

        inputs = keras.Input(self.model.input_shape[1:])
        parts = [keras.layers.UnitNormalization()(member.features(inputs)[-1]) for member in self.members]
        embedding = parts[0] if len(parts) == 1 else keras.layers.Concatenate()(parts)
        try:
            return LiteModel.from_keras(keras.Model(inputs, embedding))
        except LiteRuntimeUnavailable:
            return None

    def explain(self, mnist: np.ndarray, probabilities: np.ndarray, predictor=None,
                neighbours: int = NEIGHBOURS) -> Explanation:
        """Explain the reading of a 28x28 uint8 input whose class probabilities are already known.

        predictor (a digitlab Predictor) reads the what-if variants; without it there is no strip.
        """
        image = np.asarray(mnist, np.float32).reshape(1, 28, 28, 1)
        digit = int(np.argmax(probabilities))
        # Midpoints of equal steps: the midpoint rule is exact for the straight parts of a ReLU network's path.
        alphas = (np.arange(self.steps, dtype=np.float32) + 0.5) / self.steps
        batch = np.concatenate([image, alphas[:, None, None, None] * image])
        gradient, embedding, activations = self._analyse(self._tf.constant(batch), self._tf.constant(digit))
        attribution = gradient.numpy() * image[0, ..., 0]
        scale = float(np.abs(attribution).max())
        saliency = (attribution / scale if scale > 0 else attribution).astype(np.float32)
        layers = [LayerActivation(name, kind, activation.numpy())
                  for name, kind, activation in zip(self.layer_names,
                                                    [k for m in self.members for k in m.layer_kinds], activations)]
        embedding = embedding.numpy()
        found = self.index.nearest(embedding, neighbours) if self.index is not None else []
        what_ifs = what_if_strip(mnist, predictor) if predictor is not None else []
        return Explanation(digit, np.asarray(probabilities, np.float32), np.asarray(mnist, np.uint8), saliency,
                           embedding, layers, found, what_ifs)


# --- nearest training digits ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NeighbourIndex:
    """Embeddings of labelled images; nearest() finds the most similar ones by cosine similarity."""

    embeddings: np.ndarray  # (n, d) float32, unit rows
    labels: np.ndarray  # (n,)

    def nearest(self, embedding: np.ndarray, k: int = NEIGHBOURS) -> list[Neighbour]:
        similarity = self.embeddings @ np.asarray(embedding, np.float32)
        k = min(k, similarity.shape[0])
        top = np.argpartition(-similarity, k - 1)[:k]
        top = top[np.argsort(-similarity[top], kind="stable")]
        return [Neighbour(int(i), int(self.labels[i]), float(similarity[i])) for i in top]

    def majority_label(self, embedding: np.ndarray, k: int = NEIGHBOURS) -> int:
        labels = [n.label for n in self.nearest(embedding, k)]
        return int(np.bincount(labels).argmax())


def embeddings_cache_path(model_sha256: str, which: str, cache_dir: str | Path | None = None) -> Path:
    """Where a model's embeddings of one MNIST split ("train" or "test") are kept."""
    return Path(cache_dir or default_cache_dir()) / f"{model_sha256}.embeddings-{which}.{INDEX_FORMAT}.npz"


def _read_embeddings(path: Path, rows: int) -> np.ndarray | None:
    try:
        with np.load(path, allow_pickle=False) as stored:
            embeddings = stored["embeddings"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    if embeddings.ndim != 2 or embeddings.shape[0] != rows:
        return None
    return embeddings.astype(np.float32)


def _write_embeddings(path: Path, embeddings: np.ndarray) -> None:
    def write(temp: Path) -> None:
        with open(temp, "wb") as file:
            # float16 halves the file; similarities move by under 1e-3, which never reorders neighbours that matter
            np.savez_compressed(file, embeddings=embeddings.astype(np.float16))

    try:
        write_atomic(path, write)
    except OSError:
        pass  # a read-only or full disk costs the next visit a rebuild, nothing more


def cached_embeddings(explainer: Explainer, images: np.ndarray, model_sha256: str | None, which: str,
                      progress: Callable[[int, int], None] | None = None,
                      cache_dir: str | Path | None = None) -> np.ndarray:
    """The model's embeddings of an MNIST split: from disk when this model file was seen, else computed and kept."""
    path = embeddings_cache_path(model_sha256, which, cache_dir) if model_sha256 else None
    if path is not None:
        stored = _read_embeddings(path, len(images))
        if stored is not None:
            return stored
    # Rounded as the disk copy is, so a fresh index and a cached one give the very same neighbours.
    embeddings = explainer.embed(images, progress).astype(np.float16).astype(np.float32)
    if path is not None:
        _write_embeddings(path, embeddings)
    return embeddings


def training_index(explainer: Explainer, mnist, model_sha256: str | None,
                   progress: Callable[[int, int], None] | None = None,
                   cache_dir: str | Path | None = None) -> NeighbourIndex:
    """The nearest-neighbour index over the 60,000 MNIST training digits for this model."""
    embeddings = cached_embeddings(explainer, mnist.x_train, model_sha256, "train", progress, cache_dir)
    return NeighbourIndex(embeddings, np.asarray(mnist.y_train))


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


# --- what if --------------------------------------------------------------------------------------------


def _shift(image: Image.Image, dx: int, dy: int) -> Image.Image:
    return image.transform(image.size, Image.Transform.AFFINE, (1, 0, -dx, 0, 1, -dy), fillcolor=0)


def _stroke(image: Image.Image, thicker: bool) -> Image.Image:
    # At 2x, so a step is half a model pixel: MNIST strokes are 2-4 px, and a whole pixel off each side erases them.
    large = image.resize((56, 56), Image.Resampling.BILINEAR)
    changed = large.filter(ImageFilter.MaxFilter(3) if thicker else ImageFilter.MinFilter(3))
    return changed.resize((28, 28), Image.Resampling.BILINEAR)


WHAT_IF_CHANGES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "shifted 4 px left": lambda image: _shift(image, -4, 0),
    "shifted 4 px right": lambda image: _shift(image, 4, 0),
    "shifted 4 px up": lambda image: _shift(image, 0, -4),
    "rotated 25° left": lambda image: image.rotate(25, resample=Image.Resampling.BILINEAR),
    "rotated 25° right": lambda image: image.rotate(-25, resample=Image.Resampling.BILINEAR),
    "thicker": lambda image: _stroke(image, thicker=True),
    "thinner": lambda image: _stroke(image, thicker=False),
}


def what_if_images(mnist: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The input shifted, rotated, thickened and thinned, each as the 28x28 uint8 the model would see."""
    image = Image.fromarray(np.asarray(mnist, np.uint8))
    return [(name, np.asarray(change(image), np.uint8)) for name, change in WHAT_IF_CHANGES.items()]


def what_if_strip(mnist: np.ndarray, predictor) -> list[WhatIf]:
    """The reading of each what-if variant of the input, all in one batch."""
    variants = what_if_images(mnist)
    probabilities = predictor.predict_mnist(np.stack([image for _, image in variants]))
    return [WhatIf(name, image, int(p.argmax()), float(p.max())) for (name, image), p in zip(variants, probabilities)]


# --- measures -----------------------------------------------------------------------------------------------


def ink_neighbourhood(mnist: np.ndarray, within: int = 2, threshold: int = 64) -> np.ndarray:
    """(28, 28) bool: pixels with ink (above threshold) or within `within` px of it (a square neighbourhood)."""
    ink = np.asarray(mnist) > threshold
    grown = ink.copy()
    padded = np.pad(ink, within)
    for dy in range(2 * within + 1):
        for dx in range(2 * within + 1):
            grown |= padded[dy : dy + 28, dx : dx + 28]
    return grown


def saliency_on_ink(saliency: np.ndarray, mnist: np.ndarray, within: int = 2) -> float:
    """Share of the absolute saliency that lies on the ink or within `within` px of it."""
    magnitude = np.abs(np.asarray(saliency, np.float64))
    total = magnitude.sum()
    return float(magnitude[ink_neighbourhood(mnist, within)].sum() / total) if total > 0 else 0.0
