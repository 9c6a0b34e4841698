"""A run's memory: estimated from everything it loads before it starts, and held to what a real trainer used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from digitlab.config.settings import Settings, SettingsError, load_settings
from digitlab.store import run_folder as runs
from digitlab.store.run_config import TrainConfig
from digitlab.training.memory_budget import BYTES_PER_SHOWN, MB, estimate_run_memory
from tests.run_fixtures import synthetic_bank

REPO_ROOT = Path(__file__).resolve().parents[2]
# A small run through every part the estimate counts: digitnet (precise batch norm), augmentation's style
# variants, a bank shown three times, the comparison with the active model, the test set and the flatbuffer.
SMALL_RUN = TrainConfig(arch="digitnet", epochs=1, limit=2000, augment=True, bank_weight=3, seed=3)
SMALL_BANK = 300


def test_a_small_real_runs_peak_memory_is_within_its_estimate(tmp_path, mnist):
    """Test that a real trainer process, measured from outside by the kernel (its peak resident memory), used no
    more than the estimate, and that the estimate is not absurdly above it (under twice), and that the run
    records both for the Train page."""
    run_dir = runs.create_run(SMALL_RUN, run_dir=tmp_path / "run", bank=synthetic_bank(SMALL_BANK))
    # The run is compared with the active model: the shipped default, as on a fresh deployment (the estimate
    # counts one network for it), whatever models earlier tests left in the session's models folder.
    shipped = tmp_path / "models"
    shipped.mkdir()
    for path in (REPO_ROOT / "models").glob("default.*"):
        shutil.copy2(path, shipped / path.name)
    environment = {**os.environ, "DIGITLAB_MODELS": str(shipped), "OMP_NUM_THREADS": "1",
                   "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    with runs.open_log(run_dir) as log:
        trainer = subprocess.Popen([sys.executable, "-m", "digitlab", "train", "--run-dir", str(run_dir)],
                                   cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT)
    # Measured from outside as well: the largest resident size seen while it runs (a lower bound of its peak).
    # Not wait4's ru_maxrss: at exec the kernel folds this test process's own high-water mark into it.
    watched, sampled_mb = psutil.Process(trainer.pid), 0.0
    while trainer.poll() is None:
        try:
            sampled_mb = max(sampled_mb, watched.memory_info().rss / MB)
        except psutil.Error:
            break
        time.sleep(0.05)
    trainer.wait()

    status = runs.read_status(run_dir)
    assert trainer.returncode == 0 and status.state == "done", runs.read_run(run_dir).log_tail()
    measured_mb = status.peak_memory_mb  # the kernel's high-water mark of the trainer's own memory (VmHWM)
    assert sampled_mb * 0.95 <= measured_mb, (sampled_mb, measured_mb)
    estimate = estimate_run_memory(SMALL_RUN, bank_drawings=SMALL_BANK).total_mb
    assert measured_mb <= estimate < 2 * measured_mb, (measured_mb, estimate)
    assert status.memory_estimate_mb == pytest.approx(estimate, abs=1)


def test_the_estimate_counts_the_bank_times_its_weight_and_every_extra_source():
    """Test that the bank counts once per weight (each showing), and pen digits, non-digits and a teacher add."""
    base = TrainConfig(arch="cnn-small", limit=10_000, augment=False)
    weight_one = estimate_run_memory(replace(base, bank_weight=1), bank_drawings=50_000)
    weight_twenty = estimate_run_memory(replace(base, bank_weight=20), bank_drawings=50_000)

    shown_mb = 19 * 50_000 * BYTES_PER_SHOWN / MB
    assert weight_twenty.parts["drawing bank ×20"] - weight_one.parts["drawing bank ×1"] == pytest.approx(shown_mb)
    assert "drawing bank ×20" in weight_twenty.describe()
    assert estimate_run_memory(replace(base, bank_weight=0), bank_drawings=50_000).total_mb < weight_one.total_mb
    heavier = replace(base, non_digits=6000, pen_digits="pendigits-orig.tra", teacher="default")
    assert estimate_run_memory(heavier).total_mb > estimate_run_memory(base).total_mb + 100
    assert estimate_run_memory(replace(base, batch_size=2048)).total_mb > estimate_run_memory(base).total_mb + 400


def test_unipen_digits_letters_and_styled_copies_each_count_per_copy():
    """Test that a run on UNIPEN is estimated with its digits, its letters and its styled 0s, 7s and 1s, each
    once per copy, so the recipe's student (every source at once) is not refused or admitted on a short count."""
    from digitlab.training.memory_budget import (BYTES_PER_IMAGE, STYLED_PER_COPY, UNIPEN_DIGITS_PER_COPY,
                                                 UNIPEN_LETTERS_PER_COPY)

    base = TrainConfig(arch="digitnet", augment=False)
    one = estimate_run_memory(replace(base, unipen="unipen.tar.gz", letter_copies=1, style_copies=1))
    two = estimate_run_memory(replace(base, unipen="unipen.tar.gz", unipen_copies=2, letter_copies=2, style_copies=2))
    per_image_mb = (BYTES_PER_IMAGE + BYTES_PER_SHOWN) / MB
    for part, per_copy in [("UNIPEN digits", UNIPEN_DIGITS_PER_COPY), ("UNIPEN letters", UNIPEN_LETTERS_PER_COPY),
                           ("styled 0s, 7s and 1s", STYLED_PER_COPY)]:
        assert one.parts[part] == pytest.approx(per_copy * per_image_mb), part
        assert two.parts[part] == pytest.approx(2 * one.parts[part]), part
    assert "UNIPEN letters" in one.describe()
    assert estimate_run_memory(base).total_mb < one.total_mb < two.total_mb


def test_the_memory_budget_is_a_deployment_setting():
    """Test that DIGITLAB_TRAIN_MEMORY_MB sets the budget (1,500 MB unless set) and a bad value is named."""
    assert Settings().train_memory_mb == 1500
    assert load_settings(environ={"DIGITLAB_TRAIN_MEMORY_MB": "2_000"}).train_memory_mb == 2000
    with pytest.raises(SettingsError, match="DIGITLAB_TRAIN_MEMORY_MB"):
        load_settings(environ={"DIGITLAB_TRAIN_MEMORY_MB": "lots"})
