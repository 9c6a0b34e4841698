"""Training on the drawing bank: the writer split, the run's bank snapshot, and a real fine-tune from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from digitlab.store import run_folder as runs
from digitlab.bank.snapshot import held_out_people, snapshot_bank, snapshot_dataset
from digitlab.training.bank_fine_tune import comparison_rows
from digitlab.bank.records import DrawingDataset
from digitlab.bank.repository import DrawingBank
from digitlab.store.run_config import TrainConfig
from tests.conftest import REPO_ROOT
from tests.databases import bank_of_mnist_digits, fresh_database_url
from digitlab.bank.snapshot import BANK_FILE, read_bank_drawings
from digitlab.store.run_config import MAX_BANK_WEIGHT

WRITERS = [f"pupil-{number}" for number in range(8)]


def test_held_out_writers_are_a_stable_quarter_and_never_everyone():
    """Test that a quarter of the writers (at least one of two) are held out, the same ones every time."""
    assert held_out_people(["ana"]) == set()
    assert len(held_out_people(["ana", "ben"])) == 1
    chosen = held_out_people(WRITERS)
    assert len(chosen) == 2 and chosen == held_out_people(list(reversed(WRITERS)) * 3)
    # A ninth writer raises the count to three; those held out before stay held out.
    assert chosen < held_out_people(WRITERS + ["newcomer"])
    assert all(person in WRITERS for person in chosen)


def _dataset(count: int, writers: list[str], sessions: list[str] | None = None) -> DrawingDataset:
    rng = np.random.default_rng(0)
    return DrawingDataset(x=rng.integers(0, 255, (count, 28, 28), dtype=np.uint8), y=np.arange(count) % 10,
                          writers=np.array([writers[index % len(writers)] for index in range(count)], dtype=object),
                          ids=np.arange(count),
                          sessions=None if sessions is None else np.array(sessions, dtype=object))


def test_the_snapshot_puts_no_writer_on_both_sides_and_survives_the_run_folder(tmp_path):
    """Test that the bank snapshot splits by writer and that bank.npz reads back exactly what was written."""
    snapshot = snapshot_dataset(_dataset(40, WRITERS), "sqlite:///class.sqlite")
    assert not set(snapshot.train_writers) & set(snapshot.held_out_writers)
    assert len(snapshot.train_y) + len(snapshot.held_out_y) == 40 and len(snapshot.held_out_y) == 10

    run_dir = runs.create_run(TrainConfig(arch="cnn-small", bank_weight=2), run_dir=tmp_path / "run", bank=snapshot)
    back = read_bank_drawings(run_dir)
    assert np.array_equal(back.train_x, snapshot.train_x) and np.array_equal(back.held_out_y, snapshot.held_out_y)
    assert back.describe() == snapshot.describe() and back.source == "sqlite:///class.sqlite"


def test_drawings_without_a_writer_are_grouped_by_the_session_that_saved_them():
    """Test that untagged drawings from one browser session stay together on one side of the split."""
    dataset = _dataset(12, [""], sessions=["a1b2c3d4e5"] * 6 + ["ffee0011aa"] * 6)
    snapshot = snapshot_dataset(dataset, "bank")
    assert set(snapshot.train_writers) | set(snapshot.held_out_writers) == {"session a1b2c3d4e5", "session ffee0011aa"}
    assert len(set(snapshot.held_out_writers)) == 1


def test_a_bank_run_needs_drawings_and_a_damaged_snapshot_is_refused(tmp_path):
    """Test that an empty bank is refused before a folder is made, and a broken bank.npz fails the run clearly."""
    empty = snapshot_dataset(_dataset(0, WRITERS), "bank")
    with pytest.raises(ValueError, match="no labelled drawings"):
        runs.create_run(TrainConfig(bank_weight=1), run_dir=tmp_path / "empty", bank=empty)
    assert not (tmp_path / "empty").exists()
    with pytest.raises(ValueError, match="bank weight"):
        TrainConfig(bank_weight=MAX_BANK_WEIGHT + 1).validate()

    run_dir = runs.create_run(TrainConfig(bank_weight=1), run_dir=tmp_path / "run",
                              bank=snapshot_dataset(_dataset(20, WRITERS), "bank"))
    (run_dir / BANK_FILE).write_bytes(b"not a bank")
    with pytest.raises(ValueError, match="drawing bank"):
        read_bank_drawings(run_dir)


@pytest.fixture
def class_bank(tmp_path, mnist) -> str:
    """An SQLite bank holding 240 MNIST test digits by eight writers, as a class would have saved them."""
    url = fresh_database_url("sqlite", tmp_path)
    bank_of_mnist_digits(url, mnist, 240, WRITERS, source="import")
    return url


def test_fine_tuning_on_the_bank_from_the_cli_compares_before_and_after(class_bank, models_dir, runs_dir, tmp_path):
    """Test the CLI fine-tune: it learns from the training writers only and reports before/after on the rest."""
    run_dir = tmp_path / "fine-tune"
    env = {**os.environ, "DIGITLAB_DATABASE_URL": class_bank, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, "-m", "digitlab", "train", "--arch", "cnn-small", "--init-from", "default",
         "--bank-weight", "2", "--limit", "1000", "--epochs", "1", "--lr", "0.0003", "--no-augment",
         "--out", str(run_dir)], capture_output=True, text=True, cwd=REPO_ROOT, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["state"] == "done"

    snapshot = read_bank_drawings(run_dir)
    held_out = set(snapshot.held_out_writers)
    assert len(held_out) == 2 and not held_out & set(snapshot.train_writers)
    status = runs.read_status(run_dir)
    assert status.extra_training_data["drawing_bank"]["train_drawings"] == 180
    assert status.extra_training_data["drawing_bank"]["weight"] == 2

    record = report["comparison"]
    assert record == status.comparison and record["before_model"] == "default"
    assert record["held_out_writers"] == sorted(held_out)
    mnist_row, drawings_row = comparison_rows(record)
    assert mnist_row["images"] == 10_000 and drawings_row["images"] == 60
    # The comparison sets float weights against float weights; the run's test accuracy is the served 8-bit
    # flatbuffer's, which may differ by a few images in 10,000.
    assert mnist_row["after"] == pytest.approx(status.test_accuracy, abs=0.003)
    for row in (mnist_row, drawings_row):
        assert 0.5 < row["before"] <= 1 and 0.5 < row["after"] <= 1  # the small default reads about 93%

    from digitlab.store.model_cards import run_card

    assert run_card(run_dir)["comparison"] == record
    assert "--bank-weight 2" in run_card(run_dir)["command"]


def test_snapshot_bank_reads_the_database(class_bank):
    """Test that a snapshot of a real bank holds all its labelled drawings and names it without a password."""
    snapshot = snapshot_bank(DrawingBank(class_bank))
    assert len(snapshot.train_y) + len(snapshot.held_out_y) == 240
    assert snapshot.source.startswith("sqlite:///")


def test_the_bank_effect_benchmark_fine_tunes_on_some_pen_writers_and_reads_the_others(models_dir, mnist, tmp_path):
    """Test bench --bank-effect's path at small scale: import two writers, fine-tune in a process, read a third."""
    from digitlab.bench.bank_effect import run_bank_effect
    from tests.conftest import SHARED_PENDIGITS

    if not SHARED_PENDIGITS.exists():
        pytest.skip(f"needs the pen writers' file {SHARED_PENDIGITS}")
    report = run_bank_effect("default", SHARED_PENDIGITS, replay=1000, epochs=1, work_dir=tmp_path,
                             bank_writers=range(1, 3), measured_writers=range(21, 22))

    assert report["bank_writers"] == "1-2" and report["measured_writers"] == "21-21"
    assert 400 < report["bank_drawings"] < 600 and 200 < report["measured_drawings"] < 300
    for side in ("before", "after"):
        assert 0.3 < report[side]["measured_writers"] <= 1 and 0.8 < report[side]["mnist_test"] <= 1
        assert set(report[side]["measured_writers_per_digit"]) == {str(digit) for digit in range(10)}
    assert report["change_points"]["measured_writers"] == pytest.approx(
        100 * (report["after"]["measured_writers"] - report["before"]["measured_writers"]), abs=0.02)
    assert "--bank-weight 3" in report["fine_tune"]["command"]
    assert runs.read_status(tmp_path / "run").state == "done"
