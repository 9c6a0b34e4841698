"""`python -m digitlab bench --bank-effect`: what fine-tuning on the drawing bank does for writers it never saw.

The experiment a teacher would run, done with the pen writers of pendigits-orig.tra and the product's
own paths: the first writers are imported into a fresh drawing bank (`drawings import`), a run
fine-tunes a model on that bank with MNIST replay (a real training process, as the Train page starts
it), and the other writers, imported into a second bank, are read by the model before and after.
Nobody in the second bank is ever trained on, so its figure is what the next class would see.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from digitlab.config.paths import REPO_ROOT
from digitlab.store import run_folder as runs
from digitlab.bank.snapshot import snapshot_dataset
from digitlab.training.bank_fine_tune import (DEFAULT_BANK_WEIGHT, DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_FINE_TUNE_LR,
                                              DEFAULT_REPLAY_IMAGES, accuracy, starting_architecture)
from digitlab.store.run_config import TrainConfig, train_command
from digitlab.training.jobs import trainer_command

BANK_WRITERS = range(1, 21)  # imported into the bank and fine-tuned on
MEASURED_WRITERS = range(21, 31)  # never trained on by the run; read before and after


def run_bank_effect(base: str | None, pen_file: str | Path, member: int | None = None,
                    weight: int = DEFAULT_BANK_WEIGHT, replay: int = DEFAULT_REPLAY_IMAGES,
                    epochs: int = DEFAULT_FINE_TUNE_EPOCHS, work_dir: str | Path | None = None,
                    bank_writers: range = BANK_WRITERS, measured_writers: range = MEASURED_WRITERS) -> dict:
    """Import, fine-tune in a training process, and measure; the report bench prints."""
    from digitlab.bench.machine import machine_description
    from digitlab.datasets.mnist import load_mnist
    from digitlab.bank.archive import import_unipen
    from digitlab.bank.repository import DrawingBank
    from digitlab.store.registry import resolve_model

    base_entry = resolve_model(base)
    work = Path(work_dir or tempfile.mkdtemp(prefix="digitlab-bank-effect-"))
    started = time.time()
    banks = {}
    for name, writers in (("bank", bank_writers), ("measured", measured_writers)):
        bank = DrawingBank(f"sqlite:///{work / f'{name}.sqlite'}")
        bank.migrate()
        report = import_unipen(bank, pen_file, writers=writers)
        if not report.added:
            raise ValueError(f"{pen_file} holds no digits by writers {_span(writers)}.")
        banks[name] = bank
    imported = time.time() - started

    # Every bank writer is trained on here: the writers the figure is measured on sit in their own bank.
    snapshot = snapshot_dataset(banks["bank"].as_dataset(), f"pen writers {_span(bank_writers)} (drawings import)",
                                share=0)
    config = TrainConfig(arch=starting_architecture(base_entry.card, member), epochs=epochs,
                              lr=DEFAULT_FINE_TUNE_LR, augment=True, limit=replay, init_from=str(base_entry.path),
                              init_member=member, bank_weight=weight, title="bank effect")
    run_dir = runs.create_run(config, run_dir=work / "run", bank=snapshot)
    trained_from = time.time()
    with runs.open_log(run_dir) as log:
        finished = subprocess.run(trainer_command(run_dir), stdout=log, stderr=subprocess.STDOUT,
                                  cwd=REPO_ROOT)
    status = runs.read_status(run_dir)
    if finished.returncode != 0 or status.state != "done":
        raise RuntimeError(f"the fine-tune run failed ({status.message}); see {run_dir / runs.LOG_FILE}")
    training_seconds = time.time() - trained_from

    measured = banks["measured"].as_dataset()
    mnist = load_mnist()
    before, after = _models(base_entry, member, run_dir)
    result = {}
    for name, model in (("before", before), ("after", after)):
        drawings = model.predict(measured.x[..., None].astype(np.float32), batch_size=1000, verbose=0)
        result[name] = {
            "measured_writers": round(accuracy(drawings, measured.y), 4),
            "measured_writers_per_digit": _per_digit(drawings, measured.y),
            "mnist_test": round(accuracy(model.predict(mnist.x_test[..., None].astype(np.float32), batch_size=1000,
                                                       verbose=0), mnist.y_test), 4),
        }
    return {
        "machine": machine_description(),
        "base_model": {"name": base_entry.name, "sha256": base_entry.sha256, "member": member},
        "bank_writers": _span(bank_writers),
        "bank_drawings": int(len(snapshot.train_y)),
        "measured_writers": _span(measured_writers),
        "measured_drawings": len(measured),
        "fine_tune": {"command": train_command(config), "bank_weight": weight, "mnist_replay_images": replay,
                      "epochs": epochs, "lr": DEFAULT_FINE_TUNE_LR, "training_seconds": round(training_seconds, 1),
                      "import_seconds": round(imported, 1), "run_dir": str(run_dir)},
        "before": result["before"],
        "after": result["after"],
        "change_points": {key: round(100 * (result["after"][key] - result["before"][key]), 2)
                          for key in ("measured_writers", "mnist_test")},
    }


def _models(base_entry, member: int | None, run_dir: Path):
    """The base model (or its member) and the run's model, as Keras models."""
    import keras

    from digitlab.training.starting_weights import load_starting_model

    before = load_starting_model(str(base_entry.path), member)
    after = keras.models.load_model(run_dir / runs.MODEL_FILE, safe_mode=True, compile=False)
    return before, after


def _span(writers: range) -> str:
    return f"{writers.start}-{writers.stop - 1}"


def _per_digit(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    predictions = probabilities[:, :10].argmax(axis=1)
    return {str(digit): round(float((predictions[labels == digit] == digit).mean()), 4)
            for digit in range(10) if (labels == digit).any()}
