"""Ensembles: several finished runs averaged into one plain Keras model for models/.

Networks trained from different seeds make different mistakes, so the mean of their probabilities
is right more often than any one of them; on MNIST that is worth about a tenth of a percent, and on
real drawings it smooths out each member's quirks. The result is an ordinary functional model (the
members as sub-models and an Average layer), so it saves as one .keras file, loads with
safe_mode=True and predicts through the same fast path, at the cost of one forward pass per member.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from digitlab.store.registry import (ModelLoadError, check_model_name, load_entry, register_model, resolve_model,
                               set_active_model)

MIN_MEMBERS = 2


def build_ensemble(members: list, name: str = "ensemble"):
    """One model whose output is the mean of the members' softmax outputs."""
    import keras

    if len(members) < MIN_MEMBERS:
        raise ValueError(f"An ensemble needs at least {MIN_MEMBERS} models.")
    shapes = {tuple(member.input_shape[1:]) for member in members}
    if len(shapes) != 1:
        raise ValueError(f"The models take different inputs ({sorted(shapes)}); they cannot be averaged.")
    inputs = keras.Input(shapes.pop())
    outputs = []
    for index, member in enumerate(members):
        # Every run's model carries its architecture's name; layer names must be unique in one model.
        member.name = f"member_{index + 1}"
        outputs.append(member(inputs))
    return keras.Model(inputs, keras.layers.Average(name="mean_probability")(outputs), name=name)


def refuse_repeated_members(named: list[Path | str], entries: list) -> None:
    """Raise ValueError when two of the names given resolve to one model file.

    A model averaged with itself is that model again, under a card that claims several members and the
    cost of one forward pass each: the same run given twice (as its folder, its name, its model file, or a
    path with .. or a link in it) is a mistake to point out, not an ensemble.
    """
    names_by_file: dict[Path, list[str]] = {}
    for text, entry in zip(named, entries):
        names_by_file.setdefault(Path(entry.path).resolve(), []).append(str(text))
    for model_file, names in names_by_file.items():
        if len(names) > 1:
            quoted = [f"'{text}'" for text in names]
            given = f"{', '.join(quoted[:-1])} and {quoted[-1]}"
            raise ValueError(f"{given} are the same model ({model_file}). An ensemble averages different "
                             "models: give each run or model once.")


def ensemble_command(members: list[str], name: str) -> str:
    return " ".join(["python -m digitlab ensemble", *members, "--name", name])


def create_ensemble(run_dirs: list[Path | str], name: str, mnist=None, directory: Path | None = None,
                    replace: bool = False):
    """Average the models of finished runs, check it on MNIST test, and register it in models/.

    Only registered, intact run models are used (each is verified against its run's sha256). The
    card records every member's training command, so the whole model can be rebuilt from scratch.
    """
    from digitlab.evaluation.metrics import evaluate_model
    from digitlab.serving.predictor import Predictor
    from digitlab.store.atomic import save_model_atomic

    name = check_model_name(name)
    entries = []
    for run_dir in run_dirs:
        entry = resolve_model(run_dir)
        if entry.card.get("partial"):
            raise ModelLoadError(f"{entry.name} was stopped early; only finished runs are averaged.")
        entries.append(entry)
    refuse_repeated_members(run_dirs, entries)
    model = build_ensemble([load_entry(entry) for entry in entries], name=name)

    with tempfile.TemporaryDirectory(prefix="digitlab-ensemble-") as staging_dir:
        staging = save_model_atomic(model, Path(staging_dir) / f"{name}.keras")
        evaluation = evaluate_model(Predictor(model), mnist)
        architectures = sorted({entry.card.get("architecture") or "?" for entry in entries})
        card = {
            "architecture": f"ensemble of {len(entries)} x {'/'.join(architectures)}",
            "command": " && ".join([*(entry.card["command"] for entry in entries), ensemble_command([entry.name.removeprefix("run:") for entry in entries], name)]),
            "data": "; ".join(sorted({entry.card.get("data") or "?" for entry in entries})),
            "members": [
                {"run": entry.name.removeprefix("run:"), "command": entry.card.get("command"),
                 "config": entry.card.get("config"), "sha256": entry.sha256, "metrics": entry.card.get("metrics")}
                for entry in entries
            ],
            "metrics": {"mnist_test_accuracy": evaluation.accuracy},
            "parameters": int(model.count_params()),
            "partial": False,
        }
        registered = register_model(staging, name, card, directory, replace)
    set_active_model(name, directory)
    return registered
