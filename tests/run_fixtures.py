"""Run folders in every state, written through digitlab.store.run_folder, so tests need no training process."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitlab.store import run_folder as runs
from digitlab.store.atomic import file_sha256
from digitlab.store.run_config import TrainConfig
from digitlab.training.jobs import trainer_command
from digitlab.training.run_lock import take_training_lock
from digitlab.store.run_history import HistoryWriter
from digitlab.store.run_records import JobRecord

HISTORY_ROWS = [  # two epochs of a run that learns
    {"kind": "batch", "epoch": 1, "batch": 10, "step": 10, "elapsed": 1.0, "loss": 1.9, "accuracy": 0.45},
    {"kind": "epoch", "epoch": 1, "batch": 20, "step": 20, "elapsed": 2.0, "loss": 0.9, "accuracy": 0.75,
     "val_loss": 0.6, "val_accuracy": 0.82},
    {"kind": "batch", "epoch": 2, "batch": 10, "step": 30, "elapsed": 3.0, "loss": 0.5, "accuracy": 0.86},
    {"kind": "epoch", "epoch": 2, "batch": 20, "step": 40, "elapsed": 4.0, "loss": 0.4, "accuracy": 0.88,
     "val_loss": 0.35, "val_accuracy": 0.9},
]


def wait_for(condition, timeout: float, what: str, interval: float = 0.2, explain=None):
    """Poll condition() until it returns something truthy; fail naming `what` (and explain()) after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}" + (f"\n{explain()}" if explain else ""))


def dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def fake_trainer(holding_lock_for: Path | None = None) -> subprocess.Popen:
    """A live process that looks like a DigitLab trainer to jobs (its command line names digitlab).

    Given a run folder (it need not exist yet), it holds the training lock for that run, handed over as start_run
    hands it to a real trainer, until it is killed.
    """
    command = [sys.executable, "-c", "import time; time.sleep(300)", "digitlab-fake-trainer"]
    if holding_lock_for is None:
        return subprocess.Popen(command, start_new_session=True)
    holding_lock_for.parent.mkdir(parents=True, exist_ok=True)
    with take_training_lock(holding_lock_for.parent) as lock:
        lock.name_holder(holding_lock_for.name)
        return subprocess.Popen(command, start_new_session=True, pass_fds=(lock.fd,))


def make_run(root: Path, name: str, state: str, *, model_from: Path | None = None, pid: int | None = None,
             config: TrainConfig | None = None, test_accuracy: float | None = 0.91,
             warning: str | None = None, started_by: str | None = None, started_at: float | None = None,
             log: str = "Epoch 1/3\n", started_in: str = "") -> Path:
    """A run folder as the trainer leaves it in `state`: running, done, stopped, failed, or stale.

    done and stopped runs need model_from, a run folder whose model.keras is copied. running needs the
    pid of a live process (fake_trainer()); stale is a run that says running but whose process is gone.
    """
    config = config or TrainConfig(arch="cnn-small", epochs=3, limit=8000, augment=False, seed=1)
    run_dir = runs.create_run(config, run_dir=root / name)
    started_at = started_at if started_at is not None else time.time() - 120
    if started_by is not None:
        runs.write_job(run_dir, JobRecord(pid=pid, command=trainer_command(run_dir),
                                               launched_at=started_at, started_by=started_by, started_in=started_in))
    (run_dir / runs.LOG_FILE).write_text(log)
    history = HistoryWriter(run_dir)
    for row in HISTORY_ROWS[: 2 if state in ("running", "stale", "failed") else 4]:
        history.write(row)
    history.close()
    common = dict(pid=pid or dead_pid(), started_at=started_at, batches_per_epoch=20, parameters=12_345,
                  train_images=7200, validation_images=800)
    if state in ("running", "stale"):
        runs.update_status(run_dir, state="running", message="Training", epoch=2, batch=10, completed_epochs=1,
                           progress=0.5, eta=60.0, best_val_accuracy=0.82, **common)
    elif state in ("done", "stopped"):
        assert model_from is not None, "a finished run needs a model"
        shutil.copyfile(model_from / runs.MODEL_FILE, run_dir / runs.MODEL_FILE)
        runs.update_status(run_dir, state=state, message="Finished" if state == "done" else
                           "Stopped: the model of epoch 2 of 3 is kept (partial).", epoch=2 if state == "stopped" else 3,
                           completed_epochs=2 if state == "stopped" else 3, progress=1.0, partial=state == "stopped",
                           finished_at=started_at + 60, elapsed=60.0, best_val_accuracy=0.9, val_accuracy=0.9,
                           train_accuracy=0.9, test_accuracy=test_accuracy, warning=warning,
                           model_sha256=file_sha256(run_dir / runs.MODEL_FILE), **common)
    elif state == "failed":
        runs.update_status(run_dir, state="failed", message="MemoryError: could not allocate the batch",
                           epoch=2, finished_at=started_at + 30, elapsed=30.0, **common)
    else:
        raise ValueError(f"unknown state {state}")
    return run_dir


def synthetic_bank(drawings: int):
    """A drawing-bank snapshot of this many labelled drawings by 40 writers (plain strokes: its size is the point)."""
    import numpy as np

    from digitlab.bank.snapshot import BankDrawings

    pixels = np.zeros((drawings, 28, 28), np.uint8)
    pixels[:, 8:20, 12:16] = 255
    writers = np.array([f"writer-{index % 40}" for index in range(drawings)])
    return BankDrawings(pixels, np.ones(drawings, np.int64), writers, pixels[:100], np.ones(100, np.int64),
                        np.array(["held-out"] * 100), "synthetic")
