"""A run that starts from a registered model's weights instead of random ones (fine-tuning).

Teaching a trained network real pen drawings and "not a digit" takes a few epochs at a low learning
rate, where training from scratch takes a dozen or more. The starting model is loaded like every
other (registered, sha256-checked, safe_mode), one member of an ensemble can be picked, and a
10-digit network is given an 11th "not a digit" output whose digit outputs keep their weights, so
the run starts from the old model's answers.
"""

from __future__ import annotations

import numpy as np

NEW_CLASS_BIAS_OFFSET = -3.0  # the new output starts unlikely, so the first steps keep every digit a digit


def load_starting_model(path: str, member: int | None = None):
    """The registered model at path, or its `member`-th sub-model (1-based) when it is an ensemble."""
    from digitlab.store.registry import load_entry, resolve_model

    model = load_entry(resolve_model(path))
    if member is None:
        return model
    members = [layer for layer in model.layers if hasattr(layer, "layers")]
    if not 1 <= member <= len(members):
        raise ValueError(f"{path} has {len(members)} member networks; choose a member from 1 to {len(members)}.")
    return members[member - 1]


def with_classes(source, classes: int, name: str):
    """A standalone copy of a Sequential network with `classes` outputs, keeping every learned weight.

    Outputs the source lacks get zero input weights and a low bias; the source's outputs keep theirs.
    """
    import keras

    if not isinstance(source, keras.Sequential):
        raise ValueError("Only a plain network (or one member of an ensemble) can be fine-tuned; "
                         "pick a member with --init-member.")
    config = source.get_config()
    head = config["layers"][-1]["config"]
    old_classes = int(head["units"])
    if classes < old_classes:
        raise ValueError(f"The starting model has {old_classes} outputs; a run cannot drop any of them.")
    head["units"] = classes
    config["name"] = name
    model = keras.Sequential.from_config(config)
    for old_layer, new_layer in zip(source.layers[:-1], model.layers[:-1]):
        new_layer.set_weights(old_layer.get_weights())
    kernel, bias = source.layers[-1].get_weights()
    new_kernel = np.zeros((kernel.shape[0], classes), kernel.dtype)
    new_bias = np.full((classes,), float(bias.mean()) + NEW_CLASS_BIAS_OFFSET, bias.dtype)
    new_kernel[:, :old_classes], new_bias[:old_classes] = kernel, bias
    model.layers[-1].set_weights([new_kernel, new_bias])
    return model
