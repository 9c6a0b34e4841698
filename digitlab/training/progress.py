"""What a running trainer reports: history rows, status with a time-left estimate, and stopping when asked."""

from __future__ import annotations

import math
from pathlib import Path

from digitlab.store import run_folder as runs
from digitlab.store.run_config import TrainConfig
from digitlab.store.run_history import HistoryWriter
import time
from digitlab.store.atomic import file_sha256, save_model_atomic
from digitlab.training.memory_budget import peak_memory_mb

BATCH_ROW_EVERY = 10  # batches between history rows: enough for a live curve, little I/O
ETA_AFTER_SHARE = 0.05  # no time-left estimate before this share of the batches: the first are slow


def estimate_time_left(done: int, total: int, elapsed: float) -> float | None:
    """Seconds left at the rate so far; None until enough batches have run for the rate to mean something."""
    if total <= 0 or done < max(1, ETA_AFTER_SHARE * total):
        return None
    return elapsed / done * (total - done)


def make_progress_callback(run_dir: Path, config: TrainConfig, batches_per_epoch: int, started: float):
    """A Keras callback that writes history rows and status, and stops the run when asked."""
    import keras

    class RunProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.history = HistoryWriter(run_dir)
            self.epoch = 0
            self.best_val_accuracy = None
            self.completed_epochs = 0

        def _row(self, kind: str, batch: int, logs: dict) -> None:
            row = {"kind": kind, "epoch": self.epoch + 1, "batch": batch,
                   "step": self.epoch * batches_per_epoch + batch, "elapsed": round(time.time() - started, 3)}
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                if key in logs:
                    row[key] = round(float(logs[key]), 6)
            self.history.write(row)

        def _since_last_row(self, batch: int, logs: dict) -> dict:
            """The loss and accuracy of the batches since the last row, from Keras's running means.

            Keras reports each training figure as the mean of the epoch so far, which smooths more as the epoch
            goes on and drops at each new epoch: the curve was a staircase, not the training per batch. Batches of
            one epoch are the same size, so a mean times the batches it covers is their sum.
            """
            done_before, means_before = self.last_row
            means = {key: float(logs[key]) for key in ("loss", "accuracy") if key in logs}
            self.last_row = batch, means
            return {key: (mean * batch - means_before.get(key, 0.0) * done_before) / (batch - done_before)
                    for key, mean in means.items()}

        def _progress(self, batch: int) -> dict:
            done = self.epoch * batches_per_epoch + batch
            total = config.epochs * batches_per_epoch
            elapsed = time.time() - started
            return {"epoch": self.epoch + 1, "batch": batch, "batches_per_epoch": batches_per_epoch,
                    "progress": done / total, "elapsed": elapsed, "eta": estimate_time_left(done, total, elapsed)}

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
            self.last_row = 0, {}  # (batches of this epoch, Keras's running means) at the last batch row

        def on_train_batch_end(self, batch, logs=None):
            if runs.stop_requested(run_dir):
                self.model.stop_training = True
            if (batch + 1) % BATCH_ROW_EVERY == 0:
                self._row("batch", batch + 1, self._since_last_row(batch + 1, logs or {}))
                runs.update_status(run_dir, **self._progress(batch + 1))

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            if self.model.stop_training and runs.stop_requested(run_dir):
                return  # an epoch cut short by Stop is not a completed epoch: no epoch row, keep the last model
            if "val_accuracy" in logs:
                value = float(logs["val_accuracy"])
                self.best_val_accuracy = max(value, self.best_val_accuracy or 0.0)
            model_path = run_dir / runs.MODEL_FILE
            save_model_atomic(self.model, model_path)
            self.completed_epochs = epoch + 1
            runs.update_status(run_dir, completed_epochs=self.completed_epochs, model_sha256=file_sha256(model_path),
                               best_val_accuracy=self.best_val_accuracy,
                               val_accuracy=_finite_or_none(logs.get("val_accuracy")),
                               train_accuracy=_finite_or_none(logs.get("accuracy")),
                               peak_memory_mb=round(peak_memory_mb()), **self._progress(batches_per_epoch))
            # The epoch's row comes last: a sweep prunes on seeing it and kills the trainer at once, so the
            # epoch's model and status must already be on disk by then.
            self._row("epoch", batches_per_epoch, logs)

        def on_train_end(self, logs=None):
            self.history.close()

    return RunProgress()


def _finite_or_none(value) -> float | None:
    return float(value) if value is not None and math.isfinite(float(value)) else None
