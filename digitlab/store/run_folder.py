"""The run folder: its file names, its typed config and status, and every read and write of them.

A training run is a folder, and the folder is the only channel between the process that trains and
everyone who watches (the Train page, the model store, the CLI):

    config.json   TrainConfig, written once by whoever creates the run, read by the trainer
    job.json      JobRecord (run_records.py): the process that was launched for it (pid, command, who started it)
    status.json   RunStatus (run_records.py), rewritten atomically by the trainer (and by jobs when a trainer died)
    history.csv   one row every few batches and one per epoch, flushed as written (run_history.py)
    log.txt       what the trainer printed, tracebacks included
    model.keras   the model of the last completed epoch, saved atomically
    model.tflite  that model as a LiteRT flatbuffer, written as the run finishes (digitlab.store.flatbuffers owns
                  it; status.json records it as a model card does), so serving the run needs no TensorFlow
    bank.npz      the drawing bank as it was when the run was made, split by writer (only for runs that
                  train on the bank; the trainer never opens the database): digitlab.bank.snapshot owns it
    STOP          created by whoever wants the run to stop; the trainer checks it after every batch

This module and its two neighbours (run_records.py, run_history.py) are the only ones that know
these names and formats; everyone else asks them.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO

from digitlab.store.atomic import read_json, write_json_atomic
from digitlab.store.run_config import TrainConfig
from digitlab.store.run_records import ACTIVE_STATES, MODEL_STATES, JobRecord, RunStatus
from digitlab.config.paths import runs_root


CONFIG_FILE = "config.json"
JOB_FILE = "job.json"
STATUS_FILE = "status.json"
LOG_FILE = "log.txt"
MODEL_FILE = "model.keras"
STOP_FILE = "STOP"


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
    def started_in(self) -> str:
        return self.job.started_in if self.job else ""

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
               bank=None) -> Path:
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
        bank.write_into(run_dir)  # bank.npz's format belongs to digitlab.bank.snapshot
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
