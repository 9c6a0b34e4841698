"""The Train page's Sweep section in AppTest: a real sweep started from the form, watched from two sessions."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from digitlab.config.access import hash_password
from digitlab.store.registry import active_model_name
from digitlab.training.sweeps import study_store as store
from digitlab.ui.access import OWNER_ONLY_NOTE, PASSWORD_ACCEPTED_KEY
from tests.databases import BACKENDS, fresh_database_url

PAGE = Path(__file__).resolve().parents[2] / "pages" / "train.py"
SWEEP_TIMEOUT = 300  # seconds for four tiny trials, two at a time, on two busy cores
SAME_COLUMNS = ["Trial", "Outcome", "Validation accuracy", "Test accuracy", "Run"]


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path, monkeypatch, runs_dir, models_dir, mnist) -> str:
    """A fresh database of each kind; a deployment with an owner password and memory for two tiny trials at once.

    Any sweep driver still running at the end (a failed test) is killed.
    """
    url = fresh_database_url(request.param, tmp_path)
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", url)
    monkeypatch.setenv("DIGITLAB_TRAIN_MEMORY_MB", "8000")
    monkeypatch.setenv("DIGITLAB_OWNER_PASSWORD_HASH", hash_password("owner's secret", iterations=1000))
    yield url
    if store.has_sweeps(url):
        for sweep in store.read_sweeps(store.open_storage(url)):
            if sweep.driver and store.driver_alive(sweep.driver, sweep.heartbeat):
                os.killpg(int(sweep.driver["pid"]), signal.SIGKILL)


def open_page(owner: bool) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    if owner:
        at.session_state[PASSWORD_ACCEPTED_KEY] = True
    return rerun(at)


def rerun(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def labels(at: AppTest) -> list[str]:
    return [widget.label for widget in at.button]


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def trials_table(at: AppTest):
    tables = [table.value for table in at.dataframe if "Trial" in table.value.columns]
    return tables[0] if tables else None


def start_tiny_sweep(at: AppTest) -> AppTest:
    """Fill the sweep form for four one-epoch mlp trials on 1,000 images, two at a time, and press Start."""
    at.text_input(key="sweep_name").set_value("watched")
    at.selectbox(key="sweep_arch").set_value("mlp")
    at.number_input(key="sweep_epochs").set_value(1)
    at.number_input(key="sweep_images").set_value(1000)
    at.number_input(key="sweep_trials").set_value(4)
    at.number_input(key="sweep_parallel").set_value(2)
    at.text_area(key="sweep_params").set_value("lr=1e-3:1e-2:log\nbatch_size=32,128")
    next(widget for widget in at.button if widget.label == "Start sweep").click()
    return rerun(at)


# On the server kind a shared deployment keeps its sweeps in (the sweeps' own tests cover SQLite): a sweep on
# SQLite watched from the page was the same two-minute test again.
@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_owners_sweep_is_watched_live_by_a_visitor_who_sees_the_same_trials_and_cannot_steer_it(database,
                                                                                                  models_dir):
    """Test that the owner's Start launches a real sweep that goes on by itself; a visitor's session watches it
    live without Start, Cancel or Promote; both sessions show the same trials, the history, parallel-coordinates
    and importance figures and the verdict; and the owner's "Promote the best trial" makes its model the default."""
    owner = start_tiny_sweep(open_page(owner=True))
    assert "Cancel sweep" in labels(owner), texts(owner.error)
    visitor = open_page(owner=False)
    assert not {"Start sweep", "Cancel sweep"} & set(labels(visitor))
    assert "Only the owner of this deployment starts, cancels and promotes sweeps" in texts(visitor.caption)

    seen_running = set()
    deadline = time.time() + SWEEP_TIMEOUT
    while time.time() < deadline:
        for name, session in (("owner", owner), ("visitor", visitor)):
            rerun(session)  # what the section's two-second refresh does in a browser
            if "**running**" in texts(session.caption):
                seen_running.add(name)
        if store.read_sweep(store.open_storage(database), "watched").state == "finished":
            break
        time.sleep(2)
    rerun(owner), rerun(visitor)

    assert seen_running == {"owner", "visitor"}, "both sessions saw the sweep while it ran"
    assert "**finished** · 4 of 4 trials done" in texts(visitor.caption), texts(visitor.caption)
    mine, theirs = trials_table(owner), trials_table(visitor)
    assert len(mine) == 4 and set(mine["Outcome"]) == {"complete"}
    assert mine[SAME_COLUMNS].equals(theirs[SAME_COLUMNS]), "both sessions show the same trials"
    for session in (owner, visitor):
        assert len(session.get("plotly_chart")) == 3, "history, parallel coordinates and importances"
        assert "default settings" in texts(session.info) + texts(session.success)
    assert "Promote the best trial" not in labels(visitor) and OWNER_ONLY_NOTE in texts(visitor.caption)

    make_default = next(box for box in owner.checkbox if box.label == "Make it the default for everyone")
    assert make_default.value is False, "promoting only adds a model unless the owner asks for more"
    make_default.check()
    rerun(owner)
    next(widget for widget in owner.button if widget.label == "Promote the best trial").click()
    rerun(owner)
    validation = mine["Validation accuracy"].str.rstrip("%").astype(float)  # the table writes "96.80%"
    best = mine.loc[validation.sort_values(ascending=False, kind="stable").index[0]]
    assert active_model_name(models_dir) == best["Run"]
    assert f"Model **{best['Run']}** is now the default model for everyone." in texts(owner.success)


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_a_sweeps_table_locked_by_another_session_is_reported_in_seconds_not_waited_on(database, monkeypatch):
    """Test that with Optuna's tables locked by another session (a statement stuck in psql, a stuck process), the
    Train page says in seconds that the sweeps' database did not answer, and shows the rest of the page, instead of
    hanging on the lock (the sweeps' storage had no statement timeout) or showing a traceback."""
    from sqlalchemy import create_engine, text

    from digitlab.bank import engine
    from digitlab.ui.sweep_form import cached_storage

    monkeypatch.setattr(engine, "POSTGRES_STATEMENT_TIMEOUT_S", 1)  # for 30 s
    cached_storage.clear()  # a storage opened by an earlier test keeps the bound it was opened with
    spec = store.SweepSpec(base=store.TrainConfig(arch="mlp", epochs=1, limit=1000), params=["lr=1e-3:1e-2:log"],
                           trials=2, parallel=1)
    store.create_sweep(store.open_storage(database), "locked", spec)
    other = create_engine(database)
    connection = other.connect()
    try:
        connection.execute(text("LOCK TABLE studies IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        at = open_page(owner=True)
        seconds = time.monotonic() - started
    finally:
        connection.rollback()
        connection.close()
        other.dispose()
        cached_storage.clear()
    assert seconds < 20
    assert "The sweeps' database did not answer in time" in texts(at.warning)
    assert {"Sweep", "Runs"} <= {subheader.value for subheader in at.subheader}  # the rest of the page is there
