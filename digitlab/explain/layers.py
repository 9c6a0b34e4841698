"""A model's structure as an explanation reads it: its member networks, each one's head and embedding, and its layers.

Everything is read off the model's own layers, so it works for any of DigitLab's architectures, for
an ensemble (an Average over member networks) and for a model with extra outputs (say an 11th "not a
digit" class). A "member" is one classifier network: the ensemble's sub-models, or the model itself.
In each member the head is its last Dense layer; the input to the head is the member's embedding
(the penultimate layer), and the head's pre-softmax output its logits. The layers shown are each
convolution's output after its batch norm and activation (feature maps), and each hidden Dense
layer's units (the MLP).

Keras is imported inside functions: importing this module is cheap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
class Member:
    """One member network, rebuilt to give every activation shown and its embedding in one call."""

    name: str  # "" for a single network, else the sub-model's name
    features: object  # keras.Model: input -> [*activations, embedding]
    layer_names: list[str]
    layer_kinds: list[str]
    head_kernel: object  # the head Dense layer's kernel and bias variables
    head_bias: object


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


def member_features(member, prefix: str) -> Member:
    """member's activations and embedding as one Keras model; prefix names its layers in an ensemble."""
    import keras

    head = _head(member)
    chosen = _activation_layers(member, head)
    features = keras.Model(member.inputs, [layer.output for _, _, layer in chosen] + [head.input])
    return Member(prefix, features, [f"{prefix}{name}" for name, _, _ in chosen],
                  [kind for _, kind, _ in chosen], head.kernel, head.bias)


def _class_name(layer) -> str:
    return type(layer).__name__


def _is_model(layer) -> bool:
    import keras

    return isinstance(layer, keras.Model)


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
