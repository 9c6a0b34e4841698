"""How the Train page reports runs that did not finish: a stopped run's row, and a failed run's cause."""

from __future__ import annotations

import subprocess
import time

from digitlab.config.access import hash_password
from digitlab.store import run_folder as runs
from digitlab.store.run_config import TrainConfig
from digitlab.training.jobs import trainer_command
from tests.app.test_train_page import open_page, select_rows, texts


def test_a_run_stopped_before_its_first_epoch_shows_why_it_has_no_figures(models_dir, runs_dir):
    """Test that the runs table shows a run stopped before its first epoch as such, with "no model" for its test
    accuracy and no cell left empty ("None")."""
    run_dir = runs.create_run(TrainConfig(arch="cnn-small", epochs=3, limit=2000), run_dir=runs_dir / "stopped-early")
    started = time.time() - 30
    runs.update_status(run_dir, state="stopped", started_at=started, finished_at=started + 20, elapsed=20.0,
                       message="Stopped before the first epoch finished: no model was saved.")

    table = open_page().dataframe[0].value

    row = table.iloc[0]
    assert row["Status"] == "stopped before epoch 1"
    assert row["Test accuracy"] == "no model" and row["Best val accuracy"] == "–" and row["Parameters"] == "–"
    assert not table.isna().any().any(), "no cell is empty (shown as None)"
    assert "None" not in table.astype(str).to_numpy().ravel().tolist()


def test_the_status_column_has_room_for_a_long_status_and_the_run_name_stays_in_view(models_dir, runs_dir):
    """Test that the runs table gives its Status column the width of the longest status shown (the grid sizes a column
    once, for the text it first shows, so a run that stopped while the table was on the page was cut to "stoppe"),
    and keeps each run's name in view while the wide table is scrolled sideways."""
    import json

    started = time.time() - 600
    failed = runs.create_run(TrainConfig(arch="cnn-small", epochs=10, limit=2000), run_dir=runs_dir / "failed-late")
    runs.update_status(failed, state="failed", epoch=10, started_at=started, finished_at=started + 500, elapsed=500.0,
                       warning="Its accuracy fell to chance.", message="The trainer ran out of memory.")
    early = runs.create_run(TrainConfig(arch="cnn-small", epochs=3, limit=2000), run_dir=runs_dir / "stopped-early")
    runs.update_status(early, state="stopped", started_at=started, finished_at=started + 20, elapsed=20.0)

    table = open_page().dataframe[0]

    statuses = table.value["Status"].tolist()
    assert sorted(statuses) == ["failed in epoch 10 of 10 ⚠", "stopped before epoch 1"]
    columns = json.loads(table.proto.columns)
    # Source Sans at the grid's 14 px is at most 7 px a character, and a cell pads its text by 8 px a side.
    assert columns["Status"]["width"] >= max(len(status) for status in statuses) * 7 + 16
    assert columns["Run"]["pinned"] is True


def test_a_real_failed_run_shows_its_cause_in_one_line_and_its_traceback_folded(models_dir, runs_dir, monkeypatch):
    """Test that a trainer process that fails (it is to start from a model that does not exist) is shown to the owner
    with a one-line cause and where its log is, its traceback only inside a collapsed expander; and to a visitor with
    the cause alone (the log's path and traceback name the server's folders)."""
    run_dir = runs.create_run(TrainConfig(arch="mlp", epochs=1, limit=200, init_from="no-such-model"),
                              run_dir=runs_dir / "fails")
    with runs.open_log(run_dir) as log:
        subprocess.run(trainer_command(run_dir), stdout=log, stderr=subprocess.STDOUT, timeout=300, check=False)
    assert runs.read_status(run_dir).state == "failed"
    assert "Traceback" in (run_dir / runs.LOG_FILE).read_text()

    at = select_rows(open_page(), [0])

    errors = [str(error.value) for error in at.error]
    assert len(errors) == 1 and errors[0].startswith("The run failed. ") and "\n" not in errors[0]
    assert "Traceback" not in errors[0]
    assert f"Its full log: {run_dir / runs.LOG_FILE}" in texts(at.caption)
    folded = [expander for expander in at.expander if expander.label == "The end of its log"]
    assert len(folded) == 1 and not folded[0].proto.expanded
    assert "Traceback" in texts(folded[0].code)
    shown_unfolded = [code for code in at.code if code not in folded[0].code]
    assert not any("Traceback" in str(code.value) for code in shown_unfolded)

    monkeypatch.setenv("DIGITLAB_OWNER_PASSWORD_HASH", hash_password("owner's secret", iterations=1000))
    visitor = select_rows(open_page(), [0])  # the cause, but neither the server's folders nor the traceback
    assert [str(error.value) for error in visitor.error] == errors
    assert str(runs_dir) not in texts(visitor.caption)
    assert not any(expander.label == "The end of its log" for expander in visitor.expander)
    assert not any("Traceback" in str(code.value) for code in visitor.code)
