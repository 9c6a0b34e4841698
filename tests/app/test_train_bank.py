"""The Train page and the drawing bank: fine-tuning a model on the bank, and a run's before/after table."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from digitlab.training import jobs

from digitlab.store import run_folder as runs
from digitlab.bank.repository import DrawingBank
from tests.app.test_train_page import PAGE, button, open_page, select_rows, texts
from tests.app.test_train_page import visitors_only  # noqa: F401 (a fixture: an owner password, so a visitor)
from tests.databases import bank_of_mnist_digits, fresh_database_url
from tests.helpers.markdown import as_read
from tests.run_fixtures import make_run
from digitlab.bank.snapshot import BankDrawings, read_bank_drawings

WRITERS = ["ana", "ben", "cleo", "dev"]
STUDENTS = ["Ana Lopez", "Ben Okafor", "Chloe Martin", "Dev Patel"]  # writer tags students gave: real names
PUBLIC_WRITERS = ["pen-01", "pen-02"]  # drawings saved outside any class, which every visitor sees


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
    assert "80 labelled drawings by 4 writers" in panel and "1 writer is held out" in panel

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


@pytest.fixture
def bank_with_a_class(tmp_path, mnist, monkeypatch) -> DrawingBank:
    """The deployment's bank: four drawings by each of four students of a class (each in their own browser
    session), and four by each of two writers outside any class."""
    from digitlab.bank.classes import ClassBook
    from digitlab.bank.drawing_checks import encode_png
    from digitlab.bank.records import NewDrawing

    url = fresh_database_url("sqlite", tmp_path)
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", url)
    bank = bank_of_mnist_digits(url, mnist, 4 * len(PUBLIC_WRITERS), PUBLIC_WRITERS)
    school_class, _ = ClassBook(bank).create("7B")
    start = 4 * len(PUBLIC_WRITERS)
    bank.add_many(NewDrawing(png=encode_png(image), mnist=image, label=int(label), source="draw",
                             writer=STUDENTS[index % len(STUDENTS)],
                             session=f"visitor-student-{index % len(STUDENTS)}",
                             class_id=school_class.id)
                  for index, (image, label) in enumerate(zip(mnist.x_test[start:start + 16],
                                                             mnist.y_test[start:start + 16])))
    return bank


def fine_tune_snapshot(at: AppTest) -> BankDrawings:
    """Press "Fine-tune on the bank" with little MNIST replay; the bank snapshot written into the run it started
    (the trainer is then stopped: only what it was given to learn from matters here)."""
    at.number_input(key="bank_tune_replay").set_value(1000)
    button(at, "Fine-tune on the bank").click().run()
    assert not at.exception and not at.error, texts(at.error)
    [run] = [run for run in runs.list_runs() if run.is_active]
    try:
        return read_bank_drawings(run.dir)
    finally:
        jobs.force_stop(jobs.refresh_run(runs.read_run(run.dir)), jobs.Requester.owner())


def test_a_visitor_s_bank_fine_tune_neither_names_nor_learns_a_class_s_drawings_but_the_owner_s_does(
        models_dir, runs_dir, bank_with_a_class, visitors_only):
    """Test that a visitor outside the class is told of, and fine-tunes on, only the drawings outside it (no
    student's name on the page or in the run), while the owner's panel and run cover the class's drawings too."""
    visitor = AppTest.from_file(PAGE, default_timeout=60)
    visitor.session_state["bank_session_tag"] = "visitor-outside"
    visitor.run()
    assert not visitor.exception, [exception.value for exception in visitor.exception]
    panel = texts(visitor.caption)
    assert "8 labelled drawings by 2 writers" in panel
    assert not [student for student in STUDENTS if student in panel]
    seen = fine_tune_snapshot(visitor)
    assert set(seen.train_writers) | set(seen.held_out_writers) == set(PUBLIC_WRITERS)
    assert len(seen.train_y) + len(seen.held_out_y) == 8

    owner = open_page(owner=True)
    assert "24 labelled drawings by 6 writers" in texts(owner.caption)
    everything = fine_tune_snapshot(owner)
    assert set(everything.train_writers) | set(everything.held_out_writers) == {*PUBLIC_WRITERS, *STUDENTS}
    assert len(everything.train_y) + len(everything.held_out_y) == 24


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
    assert "Held-out writers (never trained on): pen-03" in as_read(texts(at.caption))
    assert button(at, "Promote to models/")
