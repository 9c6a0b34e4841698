"""The Train page and the drawing bank: fine-tuning a model on the bank, and a run's before/after table."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.training import jobs

from digitlab.store import run_folder as runs
from digitlab.bank.repository import DrawingBank
from tests.app.test_train_page import button, open_page, select_rows, texts
from tests.databases import bank_of_mnist_digits, fresh_database_url
from tests.run_fixtures import make_run
from digitlab.bank.snapshot import read_bank_drawings

WRITERS = ["ana", "ben", "cleo", "dev"]


@pytest.fixture
def class_bank(tmp_path, mnist, monkeypatch) -> DrawingBank:
    """The deployment's bank, holding 80 MNIST test digits saved by four writers."""
    url = fresh_database_url("sqlite", tmp_path)
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", url)
    return bank_of_mnist_digits(url, mnist, 80, WRITERS)


def test_fine_tune_on_the_bank_starts_a_run_from_the_model_with_the_bank_and_mnist_replay(
        models_dir, runs_dir, class_bank):
    """Test that the panel says who is held out and starts a fine-tune run whose folder holds the bank split by writer."""
    at = open_page()
    panel = texts(at.caption)
    assert "80 labelled drawings by 4 writer(s)" in panel and "1 writer(s) are held out" in panel

    at.number_input(key="bank_tune_replay").set_value(2000)
    button(at, "Fine-tune on the bank").click().run()
    assert not at.exception and not at.error, texts(at.error)

    [run] = runs.list_runs()
    try:
        assert run.config.init_from == "default" and run.config.bank_weight == 3 and run.config.limit == 2000
        assert run.config.lr == pytest.approx(3e-4)
        snapshot = read_bank_drawings(run.dir)
        assert len(snapshot.train_y) == 60 and len(snapshot.held_out_y) == 20
        assert not set(snapshot.train_writers) & set(snapshot.held_out_writers)
        assert f"Run {run.title}" in texts(at.subheader), "the new run is followed live"
    finally:
        jobs.force_stop(jobs.refresh_run(runs.read_run(run.dir)), jobs.Requester.owner())


def test_fine_tune_with_an_empty_bank_says_so_and_starts_nothing(models_dir, runs_dir, tmp_path, monkeypatch):
    """Test that an empty bank disables the button, and the form's bank toggle refuses with a message."""
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", fresh_database_url("sqlite", tmp_path))
    at = open_page()
    assert button(at, "Fine-tune on the bank").disabled
    at.toggle(key="train_bank").set_value(True)
    button(at, "Start training").click().run()
    assert "no labelled drawings" in texts(at.warning)
    assert runs.list_runs() == []


def test_a_finished_bank_run_shows_before_and_after_next_to_promotion(models_dir, runs_dir, small_run):
    """Test that selecting a run that measured a comparison shows it as a before/after table above Promote."""
    run_dir = make_run(runs_dir, "20260101-120000-cnn-small", "done", model_from=small_run)
    runs.update_status(run_dir, comparison={
        "before_model": "default", "held_out_writers": ["pen-03"],
        "datasets": {"mnist_test": {"before": 0.93, "after": 0.925, "images": 10000},
                     "held_out_drawings": {"before": 0.80, "after": 0.90, "images": 250}}})

    at = select_rows(open_page(owner=True), [0])

    table = at.dataframe[1].value
    assert list(table["Dataset"]) == ["MNIST test", "Held-out writers' drawings"]
    assert np.allclose(table["Change"], [-0.5, 10.0])
    assert "Held-out writers (never trained on): pen-03" in texts(at.caption)
    assert button(at, "Promote to models/")
