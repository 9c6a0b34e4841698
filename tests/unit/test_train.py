"""A training run writes its whole run folder, and a save never leaves a half-written model."""

import csv
import json

import numpy as np
import pytest

from digitlab.train import TrainConfig, run_training, save_model_atomic


def test_tiny_run_writes_every_run_file(small_run):
    """Test that a finished run has config, status, history, log-ready folder and a loadable model."""
    import keras

    config = json.loads((small_run / "config.json").read_text())
    status = json.loads((small_run / "status.json").read_text())
    assert config["arch"] == "cnn-small" and config["command"][1:4] == ["-m", "digitlab", "train"]
    assert status["state"] == "done" and status["completed_epochs"] == 2 and status["progress"] == 1.0
    assert status["test_accuracy"] > 0.9
    rows = list(csv.DictReader(open(small_run / "history.csv")))
    epochs = [row for row in rows if row["kind"] == "epoch"]
    batches = [row for row in rows if row["kind"] == "batch"]
    assert len(epochs) == 2 and len(batches) >= 4
    assert float(epochs[-1]["val_accuracy"]) > 0.9
    keras.models.load_model(small_run / "model.keras", safe_mode=True)


def test_run_writes_log_when_started_as_a_process(tmp_path):
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
    from digitlab import data

    def broken(*args, **kwargs):
        raise data.MnistUnavailableError("MNIST not found.")

    monkeypatch.setattr(data, "load_mnist", broken)
    status = run_training(TrainConfig(arch="mlp", epochs=1, limit=100), tmp_path / "run")
    assert status["state"] == "failed" and "MNIST not found" in status["message"]


def test_interrupted_save_keeps_the_previous_model(tmp_path, mnist):
    """Test that a save that dies midway leaves the earlier model file intact and loadable."""
    import keras

    from digitlab.models import build_model

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


def test_augmentation_keeps_digits_readable(mnist):
    """Test that augmented images stay in range, keep most ink in frame and vary between calls."""
    from digitlab.augment import augment_batch

    images = mnist.x_train[:32, :, :, None].astype(np.float32)
    first, second = augment_batch(images).numpy(), augment_batch(images).numpy()
    assert first.shape == images.shape and first.min() >= 0 and first.max() <= 255
    assert np.abs(first - second).mean() > 1.0
    kept = first.sum(axis=(1, 2, 3)) / images.sum(axis=(1, 2, 3))
    assert np.median(kept) > 0.7
