"""Model cards: the `<name>.json` that registers a model in models/, and the card made for a training run's model.

A card names its model file (a plain name in the same folder) and records the file's sha256, where the
model came from and how it scored. A run has no card file: its card is made from the run's config and
status (digitlab/store/run_folder.py) whenever it is asked for. What the store does with cards
(listing, loading, promoting) is digitlab/store/registry.py.
"""

from __future__ import annotations

from pathlib import Path

from digitlab.store import run_folder as runs
from digitlab.store.atomic import read_json
from digitlab.store.run_config import train_command

MODEL_SUFFIX = ".keras"
ACTIVE_FILE = "active.json"  # the one JSON file in models/ that is not a card: which model is the default
RECIPE_KEY = "recipe"  # in a run's config.extra: the recipe it ends (digitlab.training.recipe); on its card: all steps


# The card fields the app reads, and what each must be where it is given: a hand-edited card with
# "metrics": [0.9] or "version": "2" is reported as that one model's problem instead of failing every list
# of models (the sidebar builds one on every page).
CARD_FIELD_KINDS = {"metrics": dict, "version": int, "architecture": str, "title": str, "partial": bool,
                    "warning": str, "config": dict, "members": list, "extra_data": dict, "data": str,
                    "command": str, "sha256": str, "previous_versions": list, "litert": dict,
                    "not_a_number": dict}  # the number reader's card: its refusal level
CARD_NUMBER_METRICS = ("mnist_test_accuracy", "best_val_accuracy")


def card_problem(card: dict) -> str | None:
    """Why a card cannot be read as one (a field of the wrong type), or None."""
    for key, kind in CARD_FIELD_KINDS.items():
        value = card.get(key)
        if value is not None and (not isinstance(value, kind) or (kind is int and isinstance(value, bool))):
            return f"its card gives {key} as {value!r:.40}, which is not {CARD_KIND_WORDS[kind]}"
    if card.get("version") is not None and card["version"] < 1:
        return f"its card gives version as {card['version']}, which is not 1 or more"
    for key in CARD_NUMBER_METRICS:
        value = (card.get("metrics") or {}).get(key)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)):
            return f"its card gives metrics.{key} as {value!r:.40}, which is not a number"
    held_out = (card.get("metrics") or {}).get("held_out_exact")  # the number reader's figures
    if held_out is not None and not isinstance(held_out, dict):
        return f"its card gives metrics.held_out_exact as {held_out!r:.40}, which is not an object"
    return None


CARD_KIND_WORDS = {dict: "an object", int: "a whole number", str: "text", bool: "true or false", list: "a list"}


def card_model_file(card: dict, name: str) -> str | None:
    """The model file a card names, if it is a plain file name in the same folder (never a path elsewhere)."""
    file = card.get("file") or f"{name}{MODEL_SUFFIX}"
    if not isinstance(file, str) or Path(file).name != file or not file.endswith(MODEL_SUFFIX) or file.startswith("."):
        return None
    return file


def read_cards(directory: Path) -> dict[str, dict | None]:
    """Every card in a models/ folder by model name; None for a card that is not a JSON object."""
    cards = {}
    for path in sorted(directory.glob("*.json")):
        if path.name == ACTIVE_FILE or path.name.startswith("."):
            continue
        card = read_json(path)
        cards[path.stem] = card if isinstance(card, dict) else None
    return cards


def run_card(run: runs.Run | Path) -> dict:
    """A model card for a run's model, built from its config and status."""
    if not isinstance(run, runs.Run):
        run = runs.read_run(run)
    config, status = run.config, run.status
    data = "MNIST training set"
    if config and config.augment:
        data += " (validation held out), augmented"
    return {
        "name": run.name,
        "title": run.title,
        "architecture": config.arch if config else None,
        "command": train_command(config) if config else None,
        "config": config.to_json() if config else None,
        "data": data,
        "extra_data": status.extra_training_data,  # pen digits (source, writers) and non-digits, if any
        "metrics": {"mnist_test_accuracy": status.test_accuracy, "best_val_accuracy": status.best_val_accuracy},
        "comparison": status.comparison,  # before and after on MNIST test and held-out drawings, if measured
        "epochs_completed": status.completed_epochs,
        "partial": status.partial,
        "warning": status.warning,
        "sha256": status.model_sha256,
        "litert": status.litert,  # its flatbuffer (model.tflite), so choosing the run's model needs no TensorFlow
        "created_at": status.finished_at,
        **({RECIPE_KEY: recipe} if (recipe := _recipe(run)) else {}),
    }


def recipe_step(run: runs.Run, step: str, mnist_sha256: dict) -> dict:
    """One step of a recipe as a card lists it: its run, the command that trains it, its time and data sha256.

    mnist_sha256: the MNIST arrays it trained on (their checked sha256); the other parts' sha256 are those
    of the very images the trainer made of them (status.extra_training_data).
    """
    config, status = run.config, run.status
    parts = status.extra_training_data or {}
    return {"step": step, "run": run.name, "command": train_command(config) if config else None,
            "state": status.state, "seconds": None if status.elapsed is None else round(status.elapsed, 1),
            "mnist_test_accuracy": status.test_accuracy, "model_sha256": status.model_sha256,
            "data_sha256": {**mnist_sha256, **{name: part["images_sha256"] for name, part in parts.items()
                                               if isinstance(part, dict) and "images_sha256" in part}}}


def _recipe(run: runs.Run) -> dict | None:
    """A recipe's record for the card of its last run: the steps before it (its config) and this run itself."""
    recipe = (run.config.extra or {}).get(RECIPE_KEY) if run.config else None
    if not isinstance(recipe, dict):
        return None
    earlier = [step for step in recipe.get("steps") or [] if isinstance(step, dict)]
    mnist = recipe.get("mnist_sha256") if isinstance(recipe.get("mnist_sha256"), dict) else {}
    return {**recipe, "steps": [*earlier, recipe_step(run, str(recipe.get("this_step") or run.name), mnist)]}
