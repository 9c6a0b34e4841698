"""A training run trains the config its folder holds, writes the whole run folder, stops when asked, and a
save never leaves a half-written model."""

import csv
import json
import threading
import time

import pytest

from digitlab.store import run_folder as runs
from digitlab.store.run_config import TrainConfig
from digitlab.store.atomic import save_model_atomic
from digitlab.training.progress import estimate_time_left
from digitlab.training.trainer import run_training, train_run
from digitlab.store.run_history import read_history


def test_tiny_run_writes_every_run_file(small_run):
    """Test that a finished run has config, status, history, log-ready folder and a loadable model."""
    import keras

    config = json.loads((small_run / "config.json").read_text())
    status = json.loads((small_run / "status.json").read_text())
    assert config["arch"] == "cnn-small" and config["limit"] == 8000
    assert status["state"] == "done" and status["completed_epochs"] == 2 and status["progress"] == 1.0
    assert status["test_accuracy"] > 0.9
    rows = list(csv.DictReader(open(small_run / "history.csv")))
    epochs = [row for row in rows if row["kind"] == "epoch"]
    batches = [row for row in rows if row["kind"] == "batch"]
    assert len(epochs) == 2 and len(batches) >= 4
    assert float(epochs[-1]["val_accuracy"]) > 0.9
    keras.models.load_model(small_run / "model.keras", safe_mode=True)


def test_run_writes_log_when_started_as_a_process(tmp_path, mnist):
    """Test that `python -m digitlab train` in its own process writes log.txt-ready output and the run folder."""
    import subprocess
    import sys

    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "digitlab", "train", "--arch", "mlp", "--epochs", "1",
                             "--limit", "500", "--no-augment", "--out", str(out)], capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["state"] == "done"
    assert {"config.json", "status.json", "history.csv", "model.keras"} <= {p.name for p in out.iterdir()}


def test_invalid_config_is_refused_before_training(tmp_path):
    """Test that a nonsense config fails fast with a readable reason."""
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        run_training(TrainConfig(arch="mlp", epochs=0), tmp_path / "run")


def test_failure_is_recorded_in_status(tmp_path, monkeypatch):
    """Test that an exception during training marks the run failed with the error, never running."""
    from digitlab.datasets import mnist as data

    def broken(*args, **kwargs):
        raise data.MnistUnavailableError("MNIST not found.")

    monkeypatch.setattr(data, "load_mnist", broken)
    status = run_training(TrainConfig(arch="mlp", epochs=1, limit=100), tmp_path / "run")
    assert status.state == "failed" and "MNIST not found" in status.message


def test_interrupted_save_keeps_the_previous_model(tmp_path, mnist):
    """Test that a save that dies midway leaves the earlier model file intact and loadable."""
    import keras

    from digitlab.training.architectures import build_model

    model = build_model("mlp")
    path = tmp_path / "model.keras"
    save_model_atomic(model, path)
    original = path.read_bytes()

    class ExplodingModel:
        def save(self, target):
            with open(target, "wb") as file:
                file.write(original[: len(original) // 2])  # half a file, then the process "dies"
            raise OSError("No space left on device")

    with pytest.raises(OSError, match="No space left"):
        save_model_atomic(ExplodingModel(), path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["model.keras"]  # no temp file left behind
    keras.models.load_model(path, safe_mode=True)


def test_a_run_folder_with_a_broken_config_fails_with_the_reason(tmp_path):
    """Test that a trainer pointed at a folder whose config.json is not a config fails it, saying why."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps({"arch": "mlp", "epochs": 0}))

    status = train_run(run_dir)

    assert status.state == "failed" and "epochs must be at least 1" in status.message


def test_stop_ends_training_after_the_current_batch_and_keeps_the_last_completed_epoch(tmp_path, mnist):
    """Test that a STOP file ends the run within its epoch, marked stopped and partial, with epoch 1's model
    and no validation point for the epoch it cut short."""
    run_dir = runs.create_run(TrainConfig(arch="mlp", epochs=30, limit=20_000, batch_size=32, augment=False),
                              run_dir=tmp_path / "run")

    def stop_during_second_epoch():
        deadline = time.time() + 120
        while time.time() < deadline:
            status = runs.read_status(run_dir)
            if status.completed_epochs >= 1 and status.epoch >= 2 and status.batch > 0:
                runs.request_stop(run_dir)
                return
            time.sleep(0.05)

    stopper = threading.Thread(target=stop_during_second_epoch)
    stopper.start()
    status = train_run(run_dir)
    stopper.join()

    assert status.state == "stopped" and status.partial and status.completed_epochs == 1, status
    assert status.test_accuracy > 0.5
    history = read_history(run_dir)
    assert list(history[history["kind"] == "epoch"]["epoch"]) == [1], "no epoch row for the epoch cut short"
    assert runs.read_run(run_dir).has_model


def test_a_full_disk_while_saving_fails_the_run_and_leaves_nothing_half_written(tmp_path, monkeypatch, mnist):
    """Test that a write error while saving the model marks the run failed, with the reason, and no model file."""
    import digitlab.training.progress as progress
    import digitlab.training.trainer as train

    def full_disk(model, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(progress, "save_model_atomic", full_disk)
    status = train.run_training(TrainConfig(arch="mlp", epochs=1, limit=2000, augment=False), tmp_path / "run")

    assert status.state == "failed" and "No space left on device" in status.message
    assert not (tmp_path / "run" / "model.keras").exists()
    assert not list((tmp_path / "run").glob(".*.tmp*")), "no temp file is left behind"


def test_time_left_is_shown_only_once_the_pace_is_known():
    """Test that the estimate stays empty for the first batches and then follows the pace so far."""
    assert estimate_time_left(done=10, total=1000, elapsed=5.0) is None
    assert estimate_time_left(done=100, total=1000, elapsed=50.0) == pytest.approx(450.0)


def test_the_training_curve_shows_the_batches_since_the_last_row_not_the_epoch_s_running_mean(tmp_path):
    """Test that each history row of training figures holds the mean of the batches since the row before, worked out
    from Keras's means of the epoch so far (those drew a staircase that dropped at each new epoch)."""
    from types import SimpleNamespace

    from digitlab.store.run_history import read_history
    from digitlab.training.progress import BATCH_ROW_EVERY, make_progress_callback

    config = TrainConfig(arch="mlp", epochs=2, limit=1000)
    run_dir = runs.create_run(config, run_dir=tmp_path / "run")
    batches = 3 * BATCH_ROW_EVERY
    callback = make_progress_callback(run_dir, config, batches, time.time())
    callback.set_model(SimpleNamespace(stop_training=False))
    for epoch in range(2):
        callback.on_epoch_begin(epoch)
        losses = [epoch * 100 + batch for batch in range(1, batches + 1)]  # batch n's own loss
        for batch in range(batches):
            seen = losses[:batch + 1]
            callback.on_train_batch_end(batch, {"loss": sum(seen) / len(seen), "accuracy": 0.5})
    callback.on_train_end()

    rows = read_history(run_dir)
    assert rows["loss"].tolist() == [pytest.approx(epoch * 100 + first + (BATCH_ROW_EVERY - 1) / 2)
                                     for epoch in range(2) for first in range(1, batches, BATCH_ROW_EVERY)]
    assert rows["accuracy"].tolist() == pytest.approx([0.5] * 6)
