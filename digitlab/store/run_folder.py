"""The run folder: its file names, its typed config and status, and every read and write of them.

A training run is a folder, and the folder is the only channel between the process that trains and
everyone who watches (the Train page, the model store, the CLI):

    config.json   TrainConfig, written once by whoever creates the run, read by the trainer
    job.json      JobRecord: the process that was launched for it (pid, command, who started it)
    status.json   RunStatus, rewritten atomically by the trainer (and by jobs when a trainer died)
    history.csv   one row every few batches and one per epoch, flushed as written
    log.txt       what the trainer printed, tracebacks included
    model.keras   the model of the last completed epoch, saved atomically
    bank.npz      BankDrawings: the drawing bank as it was when the run was made, split by writer
                  (only for runs that train on the bank; the trainer never opens the database)
    STOP          created by whoever wants the run to stop; the trainer checks it after every batch

This module is the only one that knows these names and formats; everyone else asks it.
"""

from __future__ import annotations

import csv
import os
import shutil
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from digitlab.store.atomic import read_json, write_atomic, write_json_atomic
from digitlab.training.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE
from digitlab.config.paths import REPO_ROOT, runs_root

if TYPE_CHECKING:
    import pandas


CONFIG_FILE = "config.json"
JOB_FILE = "job.json"
STATUS_FILE = "status.json"
HISTORY_FILE = "history.csv"
LOG_FILE = "log.txt"
MODEL_FILE = "model.keras"
BANK_FILE = "bank.npz"
STOP_FILE = "STOP"
HISTORY_COLUMNS = ["kind", "epoch", "batch", "step", "elapsed", "loss", "accuracy", "val_loss", "val_accuracy"]

MAX_BANK_WEIGHT = 20  # more copies than this only make the run slower than training longer would

ACTIVE_STATES = ("starting", "running")
FINISHED_STATES = ("done", "stopped", "failed")
MODEL_STATES = ("done", "stopped")  # states in which the run left a model behind


# --- config ------------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Everything a training run needs; written once to config.json and trained from as written."""

    arch: str = DEFAULT_ARCHITECTURE  # architecture name from digitlab.training.architectures
    epochs: int = 3  # passes over the training images
    batch_size: int = 128  # images per gradient step
    lr: float = 1e-3  # peak learning rate (Adam), decayed to zero along a cosine
    augment: bool = True  # random affine and stroke-width changes while training
    seed: int = 0  # seeds shuffling, augmentation and initial weights
    limit: int | None = None  # train on only this many images (validation is taken from them too)
    validation_fraction: float = 0.1  # share of the training images held out to validate each epoch
    threads: int | None = None  # CPU threads TensorFlow may use; None lets it decide
    label_smoothing: float = 0.05  # softens targets so confidences stay honest on odd drawings
    teacher: str | None = None  # a registered model (name or path) whose probabilities the student also learns
    teacher_weight: float = 0.7  # share of the target taken from the teacher; the rest is the true label
    pen_digits: str | None = None  # pendigits-orig.tra: its training writers' drawings are added to MNIST
    pen_copies: int = 3  # times each pen digit is drawn (each with its own size, place and brush)
    non_digits: int = 0  # generated non-digit drawings to add; any adds an 11th output, "not a digit"
    init_from: str | None = None  # a registered model (name or path) whose weights the run starts from
    init_member: int | None = None  # which member (1-based) of an ensemble init_from to start from
    bank_weight: int = 0  # times each drawing of the bank snapshot (bank.npz) is repeated in training; 0: no bank
    title: str = ""  # the name a person gave the run, shown in tables and legends
    notes: str = ""  # what the person wanted to find out with it
    extra: dict = field(default_factory=dict)  # free-form notes carried into the run's config

    def validate(self) -> None:
        """Raise ValueError with a message a user can act on when a field cannot be trained with."""
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"Unknown architecture '{self.arch}'. Choose one of: {', '.join(ARCHITECTURES)}.")
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1.")
        if self.batch_size < 1:
            raise ValueError("batch size must be at least 1.")
        if not (0 < self.lr < 1):
            raise ValueError("learning rate must be between 0 and 1.")
        if self.limit is not None and self.limit < 20:
            raise ValueError("limit must be at least 20 images.")
        if not (0 < self.validation_fraction < 0.5):
            raise ValueError("validation fraction must be between 0 and 0.5.")
        if not (0 <= self.label_smoothing < 1):
            raise ValueError("label smoothing must be at least 0 and below 1.")
        if not (0 <= self.teacher_weight <= 1):
            raise ValueError("teacher weight must be between 0 and 1.")
        if self.pen_digits is not None and not Path(self.pen_digits).is_file():
            raise ValueError(f"pen digits file {self.pen_digits} not found.")
        if self.pen_copies < 1 or self.non_digits < 0:
            raise ValueError("pen copies must be at least 1 and non-digits at least 0.")
        if not (0 <= self.bank_weight <= MAX_BANK_WEIGHT):
            raise ValueError(f"bank weight must be between 0 and {MAX_BANK_WEIGHT}.")
        if len(self.title) > 80:
            raise ValueError("a run's name may have at most 80 characters.")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "TrainConfig":
        """The config a config.json holds; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("the run's config is not a JSON object")
        known = {item.name for item in fields(cls)}
        try:
            config = cls(**{key: value for key, value in data.items() if key in known})
        except TypeError as error:
            raise ValueError(f"the run's config is incomplete: {error}") from None
        config.validate()
        return config


def train_command(config: TrainConfig) -> str:
    """The command line that trains this config from scratch (recorded on model cards)."""
    args = ["python -m digitlab train", "--arch", config.arch, "--epochs", str(config.epochs),
            "--batch-size", str(config.batch_size), "--lr", str(config.lr),
            "--augment" if config.augment else "--no-augment", "--seed", str(config.seed)]
    if config.limit is not None:
        args += ["--limit", str(config.limit)]
    if config.teacher is not None:
        args += ["--teacher", str(config.teacher), "--teacher-weight", str(config.teacher_weight)]
    if config.pen_digits is not None:
        args += ["--pen-digits", str(config.pen_digits), "--pen-copies", str(config.pen_copies)]
    if config.non_digits:
        args += ["--non-digits", str(config.non_digits)]
    if config.init_from is not None:
        args += ["--init-from", str(config.init_from)]
    if config.init_member is not None:
        args += ["--init-member", str(config.init_member)]
    if config.bank_weight:
        args += ["--bank-weight", str(config.bank_weight)]
    return " ".join(args)


def trainer_command(run_dir: Path) -> list[str]:
    """The process that trains a run folder from its config.json."""
    return [sys.executable, "-m", "digitlab", "train", "--run-dir", str(run_dir)]


# --- status ------------------------------------------------------------------------------------------------


@dataclass
class RunStatus:
    """status.json: what the trainer says about its run, rewritten atomically as it goes."""

    state: str = "starting"  # starting, running, done, stopped or failed
    message: str = ""  # what it is doing, or why it ended
    pid: int | None = None  # the trainer's process id
    started_at: float | None = None  # when the trainer began (epoch seconds)
    updated_at: float | None = None  # when this status was written
    finished_at: float | None = None  # when it ended
    elapsed: float | None = None  # seconds trained, final once finished
    eta: float | None = None  # estimated seconds left; None until it means something
    progress: float = 0.0  # share of all batches done, 0..1
    epoch: int = 0  # the epoch in progress, from 1
    batch: int = 0  # batches done in that epoch
    batches_per_epoch: int | None = None  # batches in one epoch
    completed_epochs: int = 0  # epochs whose model was saved
    model_sha256: str | None = None  # sha256 of model.keras as last saved
    best_val_accuracy: float | None = None  # best validation accuracy of a completed epoch
    val_accuracy: float | None = None  # validation accuracy of the last completed epoch
    train_accuracy: float | None = None  # training accuracy of the last completed epoch
    test_accuracy: float | None = None  # on the 10,000 MNIST test images, measured at the end
    train_images: int | None = None  # images per epoch
    validation_images: int | None = None  # images validated on after each epoch
    parameters: int | None = None  # weights in the model
    partial: bool = False  # stopped before its last epoch: the model is of an earlier epoch
    warning: str | None = None  # why its model should not be trusted (for example: it learned nothing)
    extra_training_data: dict | None = None  # the pen digits and non-digits added to MNIST, as the card records them
    comparison: dict | None = None  # the starting (or active) model and this one on MNIST test and held-out drawings

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "RunStatus":
        """A status from status.json, tolerating missing and mistyped fields (it may be hand-edited)."""
        if not isinstance(data, dict):
            return cls(state="unknown")
        values = {}
        for item in fields(cls):
            if item.name in data:
                value = _coerce(data[item.name], cls.__dataclass_fields__[item.name].default)
                if value is not None or item.default is None:
                    values[item.name] = value
        return cls(**values)


def _coerce(value: Any, default: Any) -> Any:
    """value as the type of the field's default; None when it cannot be."""
    if default is None:  # optional fields: numbers, text and records (extra_training_data) as they are
        return value if isinstance(value, (int, float, str, dict)) and not isinstance(value, bool) else None
    kind = type(default)
    if kind is bool:
        return value if isinstance(value, bool) else None
    if kind in (int, float):
        return kind(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return value if isinstance(value, kind) else None


@dataclass
class JobRecord:
    """job.json: the process launched for a run, written by the launcher as soon as it exists."""

    pid: int | None = None  # the launched process
    command: list[str] = field(default_factory=list)  # exactly what was launched
    launched_at: float | None = None  # when (epoch seconds)
    started_by: str = ""  # who started it: a visitor's id, or "local"

    @classmethod
    def from_json(cls, data: Any) -> "JobRecord | None":
        if not isinstance(data, dict) or not data:
            return None
        pid = data.get("pid")
        return cls(pid=pid if isinstance(pid, int) else None,
                   command=[str(part) for part in data.get("command") or []],
                   launched_at=data.get("launched_at") if isinstance(data.get("launched_at"), (int, float)) else None,
                   started_by=str(data.get("started_by") or ""))


# --- one run -----------------------------------------------------------------------------------------------


@dataclass
class Run:
    """What a run folder says about its run, read at one moment."""

    dir: Path
    status: RunStatus
    config: TrainConfig | None  # None when config.json is missing or not a config
    job: JobRecord | None  # None for a run not launched by the app (the CLI trains in its own process)
    config_problem: str | None = None  # why config.json could not be read

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def title(self) -> str:
        """The name a person gave the run, else its folder name."""
        return (self.config.title if self.config and self.config.title else "") or self.name

    @property
    def state(self) -> str:
        if self.status.state != "unknown" or self.job is None:
            return self.status.state
        return "starting"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def pid(self) -> int | None:
        return self.status.pid or (self.job.pid if self.job else None)

    @property
    def model_path(self) -> Path:
        return self.dir / MODEL_FILE

    @property
    def started_at(self) -> float:
        return self.status.started_at or (self.job.launched_at if self.job else None) or 0.0

    @property
    def started_by(self) -> str:
        return self.job.started_by if self.job else "local"

    @property
    def duration(self) -> float | None:
        """Seconds it trained (so far, while active)."""
        if self.is_active and self.started_at:
            return max(0.0, time.time() - self.started_at)
        return self.status.elapsed

    @property
    def stop_requested(self) -> bool:
        return (self.dir / STOP_FILE).exists()

    @property
    def stop_requested_at(self) -> float | None:
        try:
            return (self.dir / STOP_FILE).stat().st_mtime
        except OSError:
            return None

    @property
    def has_model(self) -> bool:
        """Whether the run left a model that the model store can offer."""
        return self.state in MODEL_STATES and bool(self.status.model_sha256) and self.model_path.is_file()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the run printed (its traceback, when it failed)."""
        try:
            with open(self.dir / LOG_FILE, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 64_000))
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def read_run(run_dir: str | Path) -> Run:
    run_dir = Path(run_dir)
    config, problem = None, None
    raw_config = read_json(run_dir / CONFIG_FILE)
    if raw_config is None:
        problem = "it has no readable config.json"
    else:
        try:
            config = TrainConfig.from_json(raw_config)
        except ValueError as error:
            problem = str(error)
    status = RunStatus.from_json(read_json(run_dir / STATUS_FILE, default={}) or {"state": "unknown"})
    return Run(run_dir, status, config, JobRecord.from_json(read_json(run_dir / JOB_FILE)), problem)


def list_runs(root: Path | None = None) -> list[Run]:
    """Every run folder under the runs root, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    runs = [read_run(path) for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")]
    return sorted(runs, key=lambda run: run.started_at, reverse=True)


def find_run(name: str, root: Path | None = None) -> Run | None:
    """The run in the runs root with this folder name, or None (never a path outside the root)."""
    root = root or runs_root()
    if not name or Path(name).name != name or name.startswith("."):
        return None
    run_dir = root / name
    return read_run(run_dir) if run_dir.is_dir() else None


# --- writing -----------------------------------------------------------------------------------------------


def create_run(config: TrainConfig, root: Path | None = None, run_dir: Path | None = None,
               bank: "BankDrawings | None" = None) -> Path:
    """A new run folder holding config.json (validated), and bank.npz when the run trains on the bank.

    The folder is named after the time and architecture. Both files are in place before this returns,
    so a trainer launched afterwards finds everything it needs.
    """
    config.validate()
    if config.bank_weight and (bank is None or not len(bank.train_y)):
        raise ValueError("The drawing bank has no labelled drawings to train on (held-out writers aside).")
    if run_dir is None:
        run_dir = _new_run_dir(config.arch, root or runs_root())
    else:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        if (run_dir / CONFIG_FILE).exists():
            raise FileExistsError(f"{run_dir} already holds a run; choose an empty folder.")
    if config.bank_weight:
        write_bank_drawings(run_dir, bank)
    write_json_atomic(run_dir / CONFIG_FILE, config.to_json())
    return run_dir


def _new_run_dir(arch: str, root: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in range(1000):
        candidate = root / (f"{stamp}-{arch}" + (f"-{suffix}" if suffix else ""))
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError("Could not create a new run folder.")


def read_config(run_dir: Path) -> TrainConfig:
    """The config a run is to train with; ValueError when config.json is missing or not a config."""
    data = read_json(Path(run_dir) / CONFIG_FILE)
    if data is None:
        raise ValueError(f"{run_dir} has no readable {CONFIG_FILE}.")
    return TrainConfig.from_json(data)


@dataclass
class BankDrawings:
    """bank.npz: the bank's labelled drawings as the model sees them (28x28), split by writer.

    The trainer learns from the train_ part and never sees the held_out_ part, whose writers the
    before/after comparison is measured on. `source` describes the bank (never a password).
    """

    train_x: np.ndarray
    train_y: np.ndarray
    train_writers: np.ndarray
    held_out_x: np.ndarray
    held_out_y: np.ndarray
    held_out_writers: np.ndarray
    source: str = ""

    def describe(self) -> dict:
        """What the model card and the Train page say about the bank part of a run."""
        return {"source": self.source, "train_drawings": int(len(self.train_y)),
                "train_writers": sorted(set(self.train_writers.tolist())),
                "held_out_drawings": int(len(self.held_out_y)),
                "held_out_writers": sorted(set(self.held_out_writers.tolist()))}


def write_bank_drawings(run_dir: Path, bank: BankDrawings) -> None:
    def write(temp: Path) -> None:
        with open(temp, "wb") as file:
            np.savez_compressed(
                file, train_x=bank.train_x.astype(np.uint8), train_y=bank.train_y.astype(np.int64),
                train_writers=bank.train_writers.astype(str), held_out_x=bank.held_out_x.astype(np.uint8),
                held_out_y=bank.held_out_y.astype(np.int64), held_out_writers=bank.held_out_writers.astype(str),
                source=np.array(bank.source))

    write_atomic(Path(run_dir) / BANK_FILE, write)


def read_bank_drawings(run_dir: Path) -> BankDrawings:
    """The run's bank snapshot; ValueError when it is missing or not one."""
    path = Path(run_dir) / BANK_FILE
    try:
        with np.load(path, allow_pickle=False) as data:
            bank = BankDrawings(**{name: data[name] for name in
                                   ("train_x", "train_y", "train_writers", "held_out_x", "held_out_y",
                                    "held_out_writers")}, source=str(data["source"]))
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path.name} (the run's drawing bank) cannot be read: {error}") from None
    for part in ("train", "held_out"):
        images, labels = getattr(bank, f"{part}_x"), getattr(bank, f"{part}_y")
        if images.shape[1:] != (28, 28) or len(images) != len(labels) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
            raise ValueError(f"{path.name} (the run's drawing bank) holds malformed {part} drawings.")
    return bank


def write_job(run_dir: Path, job: JobRecord) -> None:
    write_json_atomic(Path(run_dir) / JOB_FILE, asdict(job))


def read_status(run_dir: Path) -> RunStatus:
    return RunStatus.from_json(read_json(Path(run_dir) / STATUS_FILE, default={}) or {"state": "unknown"})


def update_status(run_dir: Path, **changes) -> RunStatus:
    """Change some fields of status.json atomically; returns the new status."""
    names = {item.name for item in fields(RunStatus)}
    unknown = set(changes) - names
    if unknown:
        raise TypeError(f"RunStatus has no field(s) {', '.join(sorted(unknown))}")
    status = read_status(run_dir)
    if status.state == "unknown":
        status.state = "starting"
    for name, value in changes.items():
        setattr(status, name, value)
    status.updated_at = time.time()
    write_json_atomic(Path(run_dir) / STATUS_FILE, status.to_json())
    return status


def request_stop(run_dir: Path) -> None:
    (Path(run_dir) / STOP_FILE).touch()


def stop_requested(run_dir: Path) -> bool:
    return (Path(run_dir) / STOP_FILE).exists()


def delete_run_folder(run_dir: Path) -> None:
    """Remove a run folder so that no reader ever lists a half-deleted run."""
    run_dir = Path(run_dir)
    # Renamed first: list_runs skips dot names, so the run disappears at once and whole.
    doomed = run_dir.with_name(f".deleting-{run_dir.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(run_dir, doomed)
    except FileNotFoundError:
        return  # already deleted, by another tab
    shutil.rmtree(doomed, ignore_errors=True)


def open_log(run_dir: Path) -> IO[bytes]:
    """log.txt for appending (a launched trainer's stdout and stderr go here)."""
    return open(Path(run_dir) / LOG_FILE, "ab")


# --- history -----------------------------------------------------------------------------------------------


class HistoryWriter:
    """Appends rows to history.csv, flushing each so a reader sees it at once."""

    def __init__(self, run_dir: Path):
        self._file = open(Path(run_dir) / HISTORY_FILE, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, HISTORY_COLUMNS)
        if self._file.tell() == 0:
            self._writer.writeheader()

    def write(self, row: dict) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_history(run_dir: Path) -> "pandas.DataFrame":
    """history.csv as a table with numeric columns; rows still being written are left out."""
    import pandas as pd

    path = Path(run_dir) / HISTORY_FILE
    try:
        table = pd.read_csv(path, on_bad_lines="skip")
    except (OSError, ValueError):
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    if not set(HISTORY_COLUMNS) <= set(table.columns):
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    numeric = [column for column in HISTORY_COLUMNS if column != "kind"]
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")
    # A row the trainer is writing as we read may be cut short: it lacks its step or its loss.
    table = table[table["kind"].isin(["batch", "epoch"]) & table["step"].notna() & table["loss"].notna()]
    return table.reset_index(drop=True)
