"""The registered number readers: models/number-readers/, a models folder of its own, and the reader served.

A number reader (digitlab/training/number_reader.py) is registered like a digit model, by the same
registry (a card with its file's sha256, a checked LiteRT flatbuffer beside it, versions kept when it is
replaced), but in a folder of its own, so it is never offered where a digit model is chosen. The one
named "default" reads numbers in `predict --number` and the Draw page's Number mode. Its card is made
here from the training folder's figures.json alone: the command that trained it, its data's sha256, its
held-out figures and time, the level from which its "not a number" odds refuse, and the reader it was
trained further from, if any.
"""

from __future__ import annotations

import time
from pathlib import Path

from digitlab.store.atomic import file_sha256, read_json
from digitlab.store.registry import ModelEntry, list_store_models, models_dir, register_model

READERS_FOLDER = "number-readers"
SERVED_READER = "default"
READER_FILE = "number_reader.keras"  # what a training folder holds (digitlab/training/number_reader.py)
FIGURES_FILE = "figures.json"
KIND = "number_reader"


class ReaderFolderError(ValueError):
    """A folder that holds no finished number reader training; the message says what is missing."""


def number_readers_dir(directory: Path | None = None) -> Path:
    return (directory or models_dir()) / READERS_FOLDER


def served_reader_entry(directory: Path | None = None) -> ModelEntry | None:
    """The registered reader that reads numbers (intact or not, with its problem), or None where none is."""
    folder = number_readers_dir(directory)
    return next((entry for entry in list_store_models(folder) if entry.name == SERVED_READER), None)


def reader_card(training_folder: Path) -> dict:
    """The card of the reader a training folder holds, from its figures.json alone."""
    figures = read_json(training_folder / FIGURES_FILE) if (training_folder / FIGURES_FILE).is_file() else None
    if not isinstance(figures, dict) or not (training_folder / READER_FILE).is_file():
        raise ReaderFolderError(f"{training_folder} holds no finished number reader ({READER_FILE} and "
                                f"{FIGURES_FILE}); train one with `python -m digitlab number-reader --out DIR`.")
    last = (figures.get("epochs") or [{}])[-1]
    held_out = {key: value for key, value in last.items() if key not in ("epoch", "seconds")}
    return {"kind": KIND, "architecture": "number_reader", "command": figures.get("command"),
            "data_sha256": figures.get("data_sha256"), "created_at": time.time(),
            "training_numbers": figures.get("training_numbers"), "training_writers": figures.get("training_writers"),
            "held_out_writers": figures.get("held_out_writers"), "seed": figures.get("seed"),
            "epochs_completed": len(figures.get("epochs") or []), "training_seconds": figures.get("seconds"),
            "parameters": figures.get("parameters"),
            "metrics": {"held_out_exact": held_out, "measured_per_kind": figures.get("measured_per_kind")},
            "not_a_number": figures.get("not_a_number"), "started_from": figures.get("started_from"),
            "promoted_from": str(training_folder)}


def trained_from(reader_file: Path) -> dict:
    """What a further training starts from, for its card: the file's sha256 and, where it is a registered
    reader's file (its folder's card lists it, as the served version or one it replaced), the command that
    trained it."""
    sha256 = file_sha256(reader_file)
    card = read_json(reader_file.parent / f"{SERVED_READER}.json")
    versions = [card, *(card.get("previous_versions") or [])] if isinstance(card, dict) else []
    command = next((version.get("command") for version in versions
                    if isinstance(version, dict) and version.get("sha256") == sha256), None)
    return {"file": str(reader_file), "sha256": sha256, "command": command}


def register_number_reader(training_folder: Path, replace: bool = False, directory: Path | None = None) -> ModelEntry:
    """Register a training folder's reader as the served number reader, with its flatbuffer and card.
    An existing one is replaced only with replace=True (its version is kept)."""
    card = reader_card(training_folder)
    return register_model(training_folder / READER_FILE, SERVED_READER, card, directory=number_readers_dir(directory),
                          replace=replace)
