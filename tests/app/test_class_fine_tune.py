"""The Class page's "fine-tune on this class", in AppTest: a class of pen writers, a real trainer process, and
its before/after on the class's held-out students beside MNIST test."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from digitlab.bank.archive import import_unipen
from digitlab.bank.classes import ClassBook
from digitlab.bank.repository import open_bank
from digitlab.bank.snapshot import read_bank_drawings
from digitlab.store import run_folder as runs
from digitlab.training import jobs
from tests.conftest import SHARED_PENDIGITS
from tests.helpers.markdown import as_read

PAGE = Path(__file__).resolve().parents[2] / "pages" / "class.py"
PEN_STUDENTS = [1, 2, 3, 4]  # four pen writers: one of them is held out


def test_fine_tuning_on_a_class_of_pen_writers_shows_before_and_after(tmp_path, monkeypatch, models_dir, runs_dir):
    """Test that the owner's fine-tune learns from the class's students only (one held out whole, none of another
    class), and that the page then shows before/after on MNIST test and on the held-out student."""
    if not SHARED_PENDIGITS.exists():
        pytest.skip(f"needs the pen writers' file {SHARED_PENDIGITS}")
    url = f"sqlite:///{tmp_path / 'drawings.sqlite'}"
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", url)
    bank = open_bank(url)
    book = ClassBook(bank)
    pen_class, _ = book.create("pen writers")
    other_class, _ = book.create("another class")
    imported = import_unipen(bank, SHARED_PENDIGITS, writers=PEN_STUDENTS, class_id=pen_class.id)
    import_unipen(bank, SHARED_PENDIGITS, writers=[5], class_id=other_class.id)

    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["class_page_chosen"] = pen_class.id
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key="class_tune_epochs").set_value(1)
    at.number_input(key="class_tune_replay").set_value(1000)
    at.button(key="class_tune_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    [run] = runs.list_runs(runs_dir)
    # Still loading TensorFlow as the page shows it: the owner who started it can stop it from the class's page.
    assert "Stop" in [button.label for button in at.button], [button.label for button in at.button]
    deadline = time.monotonic() + 600
    while jobs.refresh_run(run).is_active and time.monotonic() < deadline:
        time.sleep(2)
    run = jobs.refresh_run(run)
    assert run.state == "done", run.log_tail(30)

    snapshot = read_bank_drawings(run.dir)
    assert set(snapshot.train_writers) | set(snapshot.held_out_writers) == {f"pen-{n:02d}" for n in PEN_STUDENTS}
    assert len(set(snapshot.held_out_writers)) == 1
    assert len(snapshot.train_y) + len(snapshot.held_out_y) == len(imported.added)

    at.run()
    assert not at.exception, [e.value for e in at.exception]
    [table] = [frame.value for frame in at.dataframe if "Dataset" in frame.value.columns]
    assert table["Dataset"].tolist() == ["MNIST test", "Held-out writers' drawings"]
    assert table["Images"].tolist() == [10_000, len(snapshot.held_out_y)]
    assert all(0 < value <= 100 for value in table["Before"].tolist() + table["After"].tolist())
    assert any(f"Held-out writers (never trained on): {snapshot.held_out_writers[0]}" in as_read(caption.value)
               for caption in at.caption)
    assert any("full-precision weights" in caption.value for caption in at.caption), "why it may differ from above"
