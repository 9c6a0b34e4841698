"""The model store: models/ on disk and finished training runs, loaded only when registered and intact.

A model in models/ is registered by its card, `<name>.json`, which names the model file and records
its sha256. A run's model is registered by the run's status (digitlab.store.run_folder), which the trainer updates
with the sha256 of every model it saves. Files without a matching record are never loaded: a .keras
file can carry code, and one dropped into models/ by hand may be truncated or hostile. Every load also
uses safe_mode=True, which refuses Lambda layers and custom objects.

Promotion never overwrites. A name that exists is replaced only when asked; the new version gets a
file of its own (`<name>.v2.keras`, ...), and the card, switched last and atomically, keeps the list
of the versions it replaced, whose files stay on disk so any of them can be restored.

What a card holds is digitlab/store/model_cards.py; how people name and read models (a run's given
name, the one-line label) is digitlab/store/model_names.py. The rest, some 350 lines, stays
one module because listing, resolving, loading, registering, promoting, restoring and deleting all
apply the same few rules (a model is loaded only through its record's sha256, nothing is
overwritten, the card is switched last), and a reader checking those rules should find them together.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from digitlab.config.paths import REPO_ROOT
from digitlab.store import run_folder as runs
from digitlab.store.atomic import file_sha256, read_json, write_atomic, write_json_atomic
from digitlab.store.flatbuffers import (FLATBUFFER_SUFFIX, FlatbufferRefused, place_flatbuffer, read_flatbuffer,
                                        write_flatbuffer)
from digitlab.store.model_cards import ACTIVE_FILE, MODEL_SUFFIX, card_model_file, card_problem, read_cards, run_card
from digitlab.store.model_names import RUN_PREFIX, ambiguity_message, given_name, model_label, runs_given
from digitlab.store.run_records import MODEL_STATES
from digitlab.store.store_lock import store_lock

MODELS_ENV_VAR = "DIGITLAB_MODELS"
DEFAULT_MODEL_NAME = "default"
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,79}$")


class ModelLoadError(RuntimeError):
    """A model file is missing, unregistered, altered or not loadable; the message says which."""


class NoSuchModelError(ModelLoadError):
    """A name that matches no model, run or file (as opposed to one several runs were given)."""


class ModelExistsError(ValueError):
    """Promotion under a name that is taken, without asking to replace it."""


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_ENV_VAR) or REPO_ROOT / "models")


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
    def is_run(self) -> bool:
        return self.name.startswith(RUN_PREFIX)

    @property
    def sha256(self) -> str | None:
        return self.card.get("sha256")

    @property
    def test_accuracy(self) -> float | None:
        return (self.card.get("metrics") or {}).get("mnist_test_accuracy")

    @property
    def label(self) -> str:
        """The one line lists show for it (digitlab.store.model_names)."""
        return model_label(self)


def _check_entry(name: str, path: Path, card: dict | None) -> ModelEntry:
    if card is None:
        return ModelEntry(name, path, {}, "not registered: it has no model card, so it is not loaded")
    if not path.is_file():
        return ModelEntry(name, path, card, f"the model file {path.name} is missing")
    if problem := card_problem(card):
        return ModelEntry(name, path, {}, problem)  # no card: lists read its fields, which are not what they expect
    if not card.get("sha256"):
        return ModelEntry(name, path, card, "its card records no sha256, so the file cannot be verified")
    return ModelEntry(name, path, card)


def list_store_models(directory: Path | None = None) -> list[ModelEntry]:
    """Every model in models/, the broken and unregistered ones included (with their problem)."""
    directory = directory or models_dir()
    if not directory.is_dir():
        return []
    entries, referenced = [], set()
    for name, card in read_cards(directory).items():
        if card is None:
            entries.append(ModelEntry(name, directory / f"{name}{MODEL_SUFFIX}", {}, "its card is not readable"))
            continue
        file = card_model_file(card, name)
        referenced |= {version.get("file") for version in card.get("previous_versions") or [] if isinstance(version, dict)}
        if file is None:
            entries.append(ModelEntry(name, directory / f"{name}{MODEL_SUFFIX}", card, "its card names no valid model file"))
            continue
        referenced.add(file)
        entries.append(_check_entry(name, directory / file, card))
    for path in sorted(directory.glob(f"*{MODEL_SUFFIX}")):
        if path.name not in referenced and not path.name.startswith("."):
            entries.append(_check_entry(path.stem, path, None))
    return sorted(entries, key=lambda entry: (entry.name != DEFAULT_MODEL_NAME, entry.name))


def list_run_models(runs_root: Path | None = None) -> list[ModelEntry]:
    """Models of finished (done or stopped) training runs, newest first."""
    return [_check_entry(f"{RUN_PREFIX}{run.name}", run.model_path, run_card(run))
            for run in runs.list_runs(runs_root) if run.state in MODEL_STATES and run.model_path.is_file()]


def list_models(runs_root: Path | None = None) -> list[ModelEntry]:
    return list_store_models() + list_run_models(runs_root)


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


def resolve_model(name_or_path: str | Path | None, runs_root: Path | None = None) -> ModelEntry:
    """The model a --model argument names: a registered name, a run (its folder or the name given to it), or a path.

    None means the active model. A name in models/ or a run folder comes before a name given to a run.
    Raises NoSuchModelError naming the models that exist when nothing matches, and ModelLoadError naming the
    runs a name could mean when several runs were given it.
    """
    if name_or_path is None:
        return default_entry()
    text = str(name_or_path).strip()
    entries = list_models(runs_root)
    for candidate in (text, f"{RUN_PREFIX}{text}"):
        for entry in entries:
            if entry.name == candidate:
                return entry
    given = runs_given(text, entries)
    if len(given) == 1:
        return given[0]
    if given:
        raise ModelLoadError(ambiguity_message(text, given))
    path = Path(text)
    try:
        if path.is_dir() and (path / runs.MODEL_FILE).is_file():
            path = path / runs.MODEL_FILE  # a run folder
        if path.is_file():
            return entry_for_path(path)
    except OSError:  # a name too long to be a path, or a folder it may not look into: no model either way
        pass
    names = ", ".join(entry.name + (f" ({given_name(entry)})" if given_name(entry) else "")
                      for entry in entries if entry.usable) or "none"
    raise NoSuchModelError(f"There is no model '{text}'. Models: {names}. "
                         "Give one of these names, a run folder, or the path of a registered .keras file.")


def active_model_name(directory: Path | None = None) -> str:
    directory = directory or models_dir()
    active = read_json(directory / ACTIVE_FILE, default={})
    name = active.get("name") if isinstance(active, dict) else None  # a hand-edited file may hold anything
    return name if isinstance(name, str) and name else DEFAULT_MODEL_NAME


def set_active_model(name: str, directory: Path | None = None) -> None:
    """Make a model in models/ the one every visitor gets by default."""
    directory = directory or models_dir()
    if not any(entry.name == name and entry.usable for entry in list_store_models(directory)):
        raise ModelLoadError(f"There is no usable model '{name}' in models/ to make the default.")
    write_json_atomic(directory / ACTIVE_FILE, {"name": name, "since": time.time()})


def check_model_name(name: str) -> str:
    name = (name or "").strip()
    if not MODEL_NAME_PATTERN.match(name):
        raise ValueError("Model names start with a letter or digit and use letters, digits, '-' and '_' only "
                         "(at most 80 characters).")
    return name


def register_model(model_file: Path, name: str, card: dict, directory: Path | None = None,
                   replace: bool = False, flatbuffer: bytes | None = None) -> ModelEntry:
    """Copy a model into models/ under name and register it; the card is written last.

    An existing name is replaced only with replace=True, and then its version is kept: the new model
    gets a file of its own and the new card lists the versions it replaced. flatbuffer: the model's
    checked LiteRT flatbuffer, made from the file whose sha256 card records (a finished run's), copied
    rather than converted again, so promoting a run needs no TensorFlow.
    """
    directory = directory or models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = check_model_name(name)
    with store_lock(directory):  # read the card, pick the version, write it: one promotion at a time
        card_path = directory / f"{name}.json"
        old_card = read_json(card_path) if card_path.exists() else None
        if card_path.exists() and not replace:
            raise ModelExistsError(f"A model named '{name}' already exists. Choose another name, "
                                   "or replace it (its current version is kept).")
        previous = []
        version = 1
        if isinstance(old_card, dict):
            previous = [item for item in old_card.get("previous_versions") or [] if isinstance(item, dict)]
            summary = {key: old_card.get(key) for key in ("file", "sha256", "version", "architecture", "metrics",
                                                           "command", "created_at")}
            previous = [{**summary, "replaced_at": time.time()}, *previous]
            version = max([int(item.get("version") or 1) for item in previous] + [1]) + 1
        target = _free_version_file(directory, name, version)
        write_atomic(target, lambda temp: shutil.copyfile(model_file, temp))
        sha256 = file_sha256(target)
        # LiteRT flatbuffer: written beside the model before the card registers both (digitlab/store/flatbuffers.py).
        copied = flatbuffer is not None and card.get("sha256") == sha256
        litert = (place_flatbuffer(flatbuffer, target, sha256) if copied
                  else write_flatbuffer(target, sha256, lambda: load_keras_model(target, sha256)))
        card = {**card, "name": name, "file": target.name, "sha256": sha256, "version": version,
                "registered_at": time.time(), "previous_versions": previous, **litert}
        write_json_atomic(card_path, card)
        return ModelEntry(name, target, card)


def _free_version_file(directory: Path, name: str, version: int) -> Path:
    """The file for a version: `<name>.keras` for the first, `<name>.v<N>.keras` after; never an existing file."""
    while True:
        target = directory / (f"{name}{MODEL_SUFFIX}" if version == 1 else f"{name}.v{version}{MODEL_SUFFIX}")
        if not target.exists():
            return target
        version += 1


def promote_run(run_dir: Path, name: str | None = None, directory: Path | None = None,
                replace: bool = False, make_active: bool = False) -> ModelEntry:
    """Make a finished run's model a named model in models/; the active one too only when make_active is asked."""
    run = runs.read_run(run_dir)
    card = run_card(run)
    if not run.has_model or not card.get("sha256"):
        raise ModelLoadError(f"Run {run.name} has no finished model to promote ({run.state}).")
    if file_sha256(run.model_path) != card["sha256"]:
        raise ModelLoadError(f"Run {run.name}'s model does not match its recorded sha256; not promoted.")
    try:
        flatbuffer = read_flatbuffer(run.model_path, card)  # the one the trainer wrote as the run finished
    except FlatbufferRefused:
        flatbuffer = None  # a run from before flatbuffers were written at the end: converted now
    entry = register_model(run.model_path, name or run.name, {**card, "promoted_from": run.name}, directory, replace,
                           flatbuffer)
    if make_active:
        set_active_model(entry.name, directory)
    return entry


def restore_version(name: str, version: int, directory: Path | None = None) -> ModelEntry:
    """Register a version that `name` replaced as its newest version again (the current one is kept too).

    Asked for the version that is current (the shipped default's version 1, say), nothing needs
    restoring: the current entry is returned as it is.
    """
    directory = directory or models_dir()
    with store_lock(directory):
        return _restore_version(name, version, directory)


def _restore_version(name: str, version: int, directory: Path) -> ModelEntry:
    card = read_json(directory / f"{name}.json")
    if not isinstance(card, dict):
        raise ModelLoadError(f"There is no model '{name}' in models/.")
    if version == (card.get("version") or 1):
        current = next((entry for entry in list_store_models(directory) if entry.name == name), None)
        if current is None or not current.usable:
            raise ModelLoadError(f"Version {version} of '{name}' is current but cannot be used: "
                                 f"{current.problem if current else 'it is not listed'}.")
        return current
    for item in card.get("previous_versions") or []:
        if isinstance(item, dict) and item.get("version") == version:
            file = card_model_file(item, name)
            path = directory / file if file else None
            if path is None or not path.is_file() or file_sha256(path) != item.get("sha256"):
                raise ModelLoadError(f"Version {version} of '{name}' is missing or altered; it cannot be restored.")
            restored = {key: value for key, value in item.items() if key not in ("file", "sha256", "replaced_at")}
            return register_model(path, name, {**restored, "restored_from_version": version}, directory, replace=True)
    versions = [item.get("version") for item in card.get("previous_versions") or [] if isinstance(item, dict)]
    raise ModelLoadError(f"'{name}' has no version {version}. Its current version is {card.get('version') or 1}; "
                         f"earlier versions: {', '.join(map(str, versions)) or 'none'}.")


def delete_model(name: str, directory: Path | None = None) -> None:
    """Remove a model from models/ with all its versions; the shipped default cannot be deleted."""
    directory = directory or models_dir()
    if name == DEFAULT_MODEL_NAME:
        raise ValueError("The default model cannot be deleted; promote another model over it instead.")
    with store_lock(directory):
        card_path = directory / f"{name}.json"
        card = read_json(card_path)
        if not isinstance(card, dict):
            raise ModelLoadError(f"There is no model '{name}' in models/.")
        files = [card_model_file(card, name)] + [card_model_file(item, name)
                                                 for item in card.get("previous_versions") or [] if isinstance(item, dict)]
        card_path.unlink()  # unregistered first: from here on nothing loads it
        for file in filter(None, files):
            (directory / file).unlink(missing_ok=True)
            (directory / file).with_suffix(FLATBUFFER_SUFFIX).unlink(missing_ok=True)  # its LiteRT flatbuffer
        if active_model_name(directory) == name:
            (directory / ACTIVE_FILE).unlink(missing_ok=True)


def entry_for_path(path: str | Path) -> ModelEntry:
    """The registry's view of a model file named by path: its card in that folder or its run's status."""
    path = Path(path)
    if path.name == runs.MODEL_FILE and (path.parent / runs.STATUS_FILE).is_file():
        return _check_entry(f"{RUN_PREFIX}{path.parent.name}", path, run_card(path.parent))
    if path.parent.is_dir():
        for name, card in read_cards(path.parent).items():
            if card is not None and card_model_file(card, name) == path.name:
                return _check_entry(name, path, card)
    return _check_entry(path.stem, path, None)


def default_entry() -> ModelEntry:
    """The active model of models/ (the shipped default unless another was made active)."""
    directory = models_dir()
    name = active_model_name(directory)
    entries = {entry.name: entry for entry in list_store_models(directory)}
    entry = entries.get(name)
    if (entry is None or not entry.usable) and name != DEFAULT_MODEL_NAME:
        entry = entries.get(DEFAULT_MODEL_NAME)
    return entry or _check_entry(DEFAULT_MODEL_NAME, directory / f"{DEFAULT_MODEL_NAME}{MODEL_SUFFIX}", None)
