"""Models with a "not a digit" output for the refusal tests, made from the small test run's model."""

from __future__ import annotations

from pathlib import Path


def register_with_not_a_digit(small_run: Path, directory: Path, name: str, not_a_digit_bias: float):
    """Register (and return the entry of) the small run's network, given an 11th output whose bias is `not_a_digit_bias`, as `name`.

    A high bias makes a model that refuses every drawing; a very low one a model that refuses none
    and otherwise reads exactly as the small run's model.
    """
    from digitlab.store.registry import entry_for_path, load_entry, register_model
    from digitlab.training.starting_weights import with_classes
    from digitlab.store.atomic import save_model_atomic

    model = with_classes(load_entry(entry_for_path(small_run / "model.keras")), 11, "cnn_small")
    kernel, bias = model.layers[-1].get_weights()
    bias[10] = not_a_digit_bias
    model.layers[-1].set_weights([kernel, bias])
    directory.mkdir(parents=True, exist_ok=True)
    staging = save_model_atomic(model, directory / f"{name}-staging.keras")
    entry = register_model(staging, name, {"architecture": "cnn-small + not a digit", "metrics": {}}, directory)
    staging.unlink()
    return entry

