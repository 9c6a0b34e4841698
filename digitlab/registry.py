"""The model store: models/ on disk and finished training runs, loaded only when registered and intact.

A model in models/ is registered by its card, `<name>.json` beside `<name>.keras`, which records the
sha256 of the model file. A run's model is registered by the run's status.json, which the trainer
updates with the sha256 of every model it saves. Files without a matching record are never loaded:
a .keras file can carry code, and one dropped into models/ by hand may be truncated or hostile.
Every load also uses safe_mode=True, which refuses Lambda layers and custom objects.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from digitlab.atomic import read_json, write_atomic, write_json_atomic

REPO_ROOT = Path(__file__).resolve().parent.parent
MODELS_ENV_VAR = "DIGITLAB_MODELS"
ACTIVE_FILE = "active.json"
DEFAULT_MODEL_NAME = "default"
MODEL_SUFFIX = ".keras"


class ModelLoadError(RuntimeError):
    """A model file is missing, unregistered, altered or not loadable; the message says which."""


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_ENV_VAR) or REPO_ROOT / "models")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelEntry:
    """A model the app can offer: from models/ or from a training run."""

    name: str  # "default", or "run:<run folder name>"
    path: Path
    card: dict = field(default_factory=dict, compare=False)
    problem: str | None = None  # why it cannot be used; None when it looks intact

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def sha256(self) -> str | None:
        return self.card.get("sha256")

    @property
    def test_accuracy(self) -> float | None:
        return (self.card.get("metrics") or {}).get("mnist_test_accuracy")

    @property
    def label(self) -> str:
        accuracy = self.test_accuracy
        suffix = f" ({accuracy:.2%} on MNIST test)" if accuracy is not None else ""
        partial = " [partial]" if self.card.get("partial") else ""
        return f"{self.name}{partial}{suffix}"


def _check_entry(name: str, path: Path, card: dict | None) -> ModelEntry:
    if card is None:
        return ModelEntry(name, path, {}, "not registered: it has no model card, so it is not loaded")
    if not path.is_file():
        return ModelEntry(name, path, card, f"the model file {path.name} is missing")
    if not card.get("sha256"):
        return ModelEntry(name, path, card, "its card records no sha256, so the file cannot be verified")
    return ModelEntry(name, path, card)


def list_store_models(directory: Path | None = None) -> list[ModelEntry]:
    """Every model in models/, the broken and unregistered ones included (with their problem)."""
    directory = directory or models_dir()
    if not directory.is_dir():
        return []
    names = {p.stem for p in directory.glob(f"*{MODEL_SUFFIX}") if not p.name.startswith(".")}
    names |= {p.stem for p in directory.glob("*.json") if p.name != ACTIVE_FILE and not p.name.startswith(".")}
    entries = []
    for name in sorted(names, key=lambda n: (n != DEFAULT_MODEL_NAME, n)):
        card = read_json(directory / f"{name}.json")
        entries.append(_check_entry(name, directory / f"{name}{MODEL_SUFFIX}", card if isinstance(card, dict) else None))
    return entries


def list_run_models(runs_root: Path | None = None) -> list[ModelEntry]:
    """Models of finished (done or stopped) training runs, newest first."""
    from digitlab.jobs import list_runs

    entries = []
    for run in list_runs(runs_root):
        if run.state not in ("done", "stopped") or not run.model_path.is_file():
            continue
        card = run_card(run.dir)
        entries.append(_check_entry(f"run:{run.dir.name}", run.model_path, card))
    return entries


def list_models(runs_root: Path | None = None) -> list[ModelEntry]:
    return list_store_models() + list_run_models(runs_root)


def run_card(run_dir: Path) -> dict:
    """A model card for a run's model, built from its config and status."""
    config = read_json(run_dir / "config.json", default={}) or {}
    status = read_json(run_dir / "status.json", default={}) or {}
    return {
        "name": run_dir.name,
        "architecture": config.get("arch"),
        "command": " ".join(["python", *config.get("command", [])[1:]]) if config.get("command") else None,
        "config": config,
        "data": "MNIST training set (validation held out), augmented" if config.get("augment") else "MNIST training set",
        "extra_data": status.get("extra_training_data"),  # pen digits (source, writers) and non-digits, if any
        "metrics": {
            "mnist_test_accuracy": status.get("test_accuracy"),
            "best_val_accuracy": status.get("best_val_accuracy"),
        },
        "epochs_completed": status.get("completed_epochs"),
        "partial": bool(status.get("partial")),
        "sha256": status.get("model_sha256"),
        "created_at": status.get("finished_at"),
    }


def load_keras_model(path: str | Path, expected_sha256: str | None):
    """Load a registered .keras file after checking its hash, with safe_mode=True."""
    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"Model file {path} does not exist.")
    if path.suffix != MODEL_SUFFIX:
        raise ModelLoadError(f"{path.name} is not a .keras model file.")
    if expected_sha256 is None:
        raise ModelLoadError(f"{path.name} is not registered (no recorded sha256), so it is not loaded.")
    try:
        model_bytes = path.read_bytes()
    except OSError as error:
        raise ModelLoadError(f"{path.name} could not be read: {error.strerror or error}.") from error
    if hashlib.sha256(model_bytes).hexdigest() != expected_sha256:
        raise ModelLoadError(f"{path.name} does not match its recorded sha256: it was altered or is incomplete.")
    import keras

    # Keras loads from a path, and the file in models/ or a run folder could be replaced between the
    # check and the load; so the checked bytes themselves are loaded, from a private copy.
    try:
        with tempfile.TemporaryDirectory(prefix="digitlab-model-") as private_dir:
            checked_copy = Path(private_dir) / f"checked{MODEL_SUFFIX}"
            checked_copy.write_bytes(model_bytes)
            return keras.models.load_model(checked_copy, safe_mode=True, compile=False)
    except Exception as error:  # Keras raises many types for bad archives (and a full disk an OSError)
        raise ModelLoadError(f"{path.name} could not be loaded safely: {type(error).__name__}: {error}") from error


def load_entry(entry: ModelEntry):
    if not entry.usable:
        raise ModelLoadError(f"Model '{entry.name}' cannot be used: {entry.problem}.")
    return load_keras_model(entry.path, entry.sha256)


def find_entry(name: str, runs_root: Path | None = None) -> ModelEntry | None:
    for entry in list_models(runs_root):
        if entry.name == name:
            return entry
    return None


def active_model_name(directory: Path | None = None) -> str:
    directory = directory or models_dir()
    active = read_json(directory / ACTIVE_FILE, default={})
    name = active.get("name") if isinstance(active, dict) else None  # a hand-edited file may hold anything
    return name if isinstance(name, str) and name else DEFAULT_MODEL_NAME


def set_active_model(name: str, directory: Path | None = None) -> None:
    write_json_atomic((directory or models_dir()) / ACTIVE_FILE, {"name": name, "since": time.time()})


def register_model(model_file: Path, name: str, card: dict, directory: Path | None = None) -> ModelEntry:
    """Copy a model into models/ atomically and write its card (the registration) after it."""
    directory = directory or models_dir()
    target = directory / f"{name}{MODEL_SUFFIX}"
    write_atomic(target, lambda temp: shutil.copyfile(model_file, temp))
    card = {**card, "name": name, "file": target.name, "sha256": file_sha256(target)}
    write_json_atomic(directory / f"{name}.json", card)
    return ModelEntry(name, target, card)


def promote_run(run_dir: Path, name: str | None = None, directory: Path | None = None) -> ModelEntry:
    """Make a finished run's model a named model in models/ and the active one."""
    card = run_card(run_dir)
    model_file = run_dir / "model.keras"
    if not model_file.is_file() or not card.get("sha256"):
        raise ModelLoadError(f"Run {run_dir.name} has no finished model to promote.")
    if file_sha256(model_file) != card["sha256"]:
        raise ModelLoadError(f"Run {run_dir.name}'s model does not match its recorded sha256; not promoted.")
    safe_name = name or run_dir.name
    if not safe_name.replace("-", "").replace("_", "").isalnum():
        raise ValueError("Model names may use letters, digits, '-' and '_' only.")
    entry = register_model(model_file, safe_name, {**card, "promoted_from": str(run_dir)}, directory)
    set_active_model(safe_name, directory)
    return entry


def entry_for_path(path: str | Path) -> ModelEntry:
    """The registry's view of a model file named by path: its card in models/ or its run's status."""
    path = Path(path)
    card_path = path.with_suffix(".json")
    if card_path.is_file():
        card = read_json(card_path)
        return _check_entry(path.stem, path, card if isinstance(card, dict) else None)
    if (path.parent / "status.json").is_file() and path.name == "model.keras":
        return _check_entry(f"run:{path.parent.name}", path, run_card(path.parent))
    return _check_entry(path.stem, path, None)


def default_entry() -> ModelEntry:
    """The active model of models/ (the shipped default unless another was promoted)."""
    directory = models_dir()
    name = active_model_name(directory)
    entry = entry_for_path(directory / f"{name}{MODEL_SUFFIX}")
    if not entry.usable and name != DEFAULT_MODEL_NAME:
        entry = entry_for_path(directory / f"{DEFAULT_MODEL_NAME}{MODEL_SUFFIX}")
    return entry


def resolve_model(path: str | Path | None) -> ModelEntry:
    """The entry for a --model argument, or the active default when none is given."""
    return default_entry() if path is None else entry_for_path(path)
