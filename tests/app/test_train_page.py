"""The Train page in AppTest: a real tiny training run started from the form, and the runs table's actions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from digitlab import jobs
from digitlab.registry import active_model_name
from digitlab.ui.train_view import runs_table_key

PAGE = Path(__file__).resolve().parents[2] / "pages" / "train.py"
RUN_TIMEOUT = 150  # seconds for a 2,000-image, one-epoch mlp run, on a busy two-core machine


def open_page() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def button(at: AppTest, label: str):
    matches = [widget for widget in at.button if widget.label == label]
    assert matches, f"no '{label}' button; buttons: {[widget.label for widget in at.button]}"
    return matches[0]


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def select_rows(at: AppTest, rows: list[int]) -> AppTest:
    """Select rows of the runs table, as a click on their checkboxes would."""
    key = runs_table_key(jobs.list_runs())
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def start_tiny_run(at: AppTest) -> AppTest:
    """Fill the form for a one-epoch mlp run on 2,000 images and press Start."""
    at.selectbox(key="train_arch").set_value("mlp")
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_images").set_value(2000)
    at.toggle(key="train_augment").set_value(False)
    return button(at, "Start training").click().run()


@pytest.fixture
def finished_run(runs_dir, small_run) -> Path:
    """The session's small finished cnn-small run, copied into this test's runs folder."""
    return Path(shutil.copytree(small_run, runs_dir / "20260101-120000-cnn-small"))


def test_tiny_run_started_from_the_form_shows_progress_then_its_metrics(models_dir, runs_dir):
    """Test that Start launches a run, the live view shows its progress, and its test accuracy when done."""
    at = open_page()
    start_tiny_run(at)
    assert not at.exception, [exception.value for exception in at.exception]

    runs = jobs.list_runs(runs_dir)
    assert len(runs) == 1 and runs[0].train_config["arch"] == "mlp"
    assert at.get("progress"), "the live view shows a progress bar while the run is going"
    assert button(at, "Start training").disabled, "one run at a time: Start is off while a run is going"

    saw_chart = False
    deadline = time.time() + RUN_TIMEOUT
    while "Finished" not in texts(at.success) and time.time() < deadline:
        time.sleep(1)
        at.run()  # what the fragment's one-second refresh does in a browser
        assert not at.exception, [exception.value for exception in at.exception]
        assert not at.error, texts(at.error)
        saw_chart = saw_chart or bool(at.get("plotly_chart"))

    assert "Finished" in texts(at.success), f"the run did not finish in {RUN_TIMEOUT} s"
    assert saw_chart, "the training curves appear"
    metrics = {metric.label: metric.value for metric in at.metric}
    assert metrics["Test accuracy"].endswith("%") and float(metrics["Test accuracy"][:-1]) > 30
    assert not at.get("progress")
    table = at.dataframe[0].value
    assert list(table["Status"]) == ["done"] and table["Test accuracy"][0] > 0.3
    assert not button(at, "Start training").disabled


def test_stop_button_ends_a_running_run(models_dir, runs_dir):
    """Test that Stop on the live view ends the run within seconds and the page then shows it stopped."""
    from digitlab.settings import Settings
    from digitlab.train import TrainConfig

    config = TrainConfig(arch="mlp", epochs=20, limit=20_000, batch_size=32, augment=False)
    run = jobs.start_run(config, Settings(), runs_dir)
    try:
        deadline = time.time() + RUN_TIMEOUT
        while jobs.read_run(run.dir).status.get("batch", 0) == 0 and time.time() < deadline:
            time.sleep(0.5)
        at = open_page()
        assert at.get("progress") and f"Run {run.name}" in texts(at.subheader), "another tab sees the live run"

        button(at, "Stop").click().run()
        assert (run.dir / "STOP").exists()
        deadline = time.time() + 30
        while "Stopped" not in texts(at.warning) and time.time() < deadline:
            time.sleep(1)
            at.run()
        assert "Stopped" in texts(at.warning), f"still {jobs.read_run(run.dir).state} 30 s after Stop"
        assert jobs.read_run(run.dir).state == "stopped"
        assert not button(at, "Start training").disabled
    finally:
        if jobs.refresh_run(jobs.read_run(run.dir)).is_active:
            jobs.force_stop(run)


def test_selecting_several_runs_overlays_their_curves(models_dir, finished_run, runs_dir):
    """Test that selecting two runs draws both runs' curves in one chart."""
    second = shutil.copytree(finished_run, runs_dir / "20260101-130000-cnn-small")
    status = json.loads((second / "status.json").read_text())
    (second / "status.json").write_text(json.dumps({**status, "started_at": status["started_at"] + 60}))

    at = select_rows(open_page(), [0, 1])

    charts = at.get("plotly_chart")
    assert len(charts) == 1, "one chart overlays the selected runs"
    traces = {trace["name"] for trace in json.loads(charts[0].proto.spec)["data"]}
    assert {f"{finished_run.name} validation", f"{second.name} validation"} <= traces


def test_use_this_model_promotes_the_run_and_selects_it(models_dir, finished_run):
    """Test that a selected finished run's model is copied into models/ and becomes the active model."""
    at = select_rows(open_page(), [0])
    assert "Finished" in texts(at.success), "the selected run's outcome is shown"
    at.text_input(key=f"promote-name-{finished_run.name}").set_value("my-digits")
    button(at, "Use this model").click().run()

    assert not at.exception, [exception.value for exception in at.exception]
    assert (models_dir / "my-digits.keras").is_file() and (models_dir / "my-digits.json").is_file()
    assert active_model_name(models_dir) == "my-digits"
    assert at.session_state["model_name"] == "my-digits", "the sidebar picks the new model"
    assert "my-digits" in texts(at.success)


def test_promoting_over_an_existing_model_name_is_refused(models_dir, finished_run):
    """Test that 'Use this model' never overwrites a model already in models/ (the default included)."""
    at = select_rows(open_page(), [0])
    at.text_input(key=f"promote-name-{finished_run.name}").set_value("default")
    button(at, "Use this model").click().run()

    assert "already exists" in texts(at.error)
    assert active_model_name(models_dir) == "default"


def test_delete_removes_the_selected_run(models_dir, finished_run, runs_dir):
    """Test that deleting a selected run removes its folder and its row."""
    at = select_rows(open_page(), [0])
    button(at, "Delete").click().run()

    assert not finished_run.exists()
    assert not at.dataframe, "no runs are left to list"
    assert "Deleted" in texts(at.success)


def test_a_run_whose_process_died_shows_as_failed_with_its_log(models_dir, runs_dir):
    """Test that a run whose process is gone is listed as failed, with the end of its log, not as running."""
    run_dir = runs_dir / "20260101-120000-digitnet"
    run_dir.mkdir()
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    (run_dir / "status.json").write_text(json.dumps({"state": "running", "pid": process.pid, "epoch": 3, "epochs": 20,
                                                     "started_at": time.time() - 300, "arch": "digitnet"}))
    (run_dir / "log.txt").write_text("Epoch 3/20\nMemoryError: could not allocate the batch\n")

    at = select_rows(open_page(), [0])

    assert list(at.dataframe[0].value["Status"]) == ["failed"]
    assert "ended without finishing" in texts(at.error)
    assert "MemoryError" in texts(at.code)
    assert not at.get("progress"), "a dead run is not shown as progressing"


def test_training_can_be_turned_off_for_a_public_deployment(models_dir, finished_run, monkeypatch):
    """Test that with training disabled there is no form and no run actions, only the runs to look at."""
    monkeypatch.setenv("DIGITLAB_TRAINING_ENABLED", "false")
    at = select_rows(open_page(), [0])

    assert "turned off" in texts(at.info)
    labels = [widget.label for widget in at.button]
    assert "Start training" not in labels and "Use this model" not in labels and "Delete" not in labels
    assert len(at.dataframe[0].value) == 1


def test_default_models_recipe_comes_from_its_card_within_the_caps(models_dir, runs_dir, monkeypatch):
    """Test that the preset repeats the default model's recorded config, capped by the deployment's limits."""
    card = json.loads((models_dir / "default.json").read_text())["config"]  # cnn-small, 2 epochs, 8,000 images
    monkeypatch.setenv("DIGITLAB_MAX_EPOCHS", "3")
    monkeypatch.setenv("DIGITLAB_MAX_TRAIN_IMAGES", "5000")
    at = open_page()
    button(at, "Default model's settings").click().run()

    assert at.selectbox(key="train_arch").value == card["arch"]
    assert at.number_input(key="train_epochs").value == card["epochs"] <= 3
    assert at.number_input(key="train_images").value == 5000 < card["limit"]
    assert at.toggle(key="train_augment").value == card["augment"]
    assert "capped" in texts(at.warning)
    assert at.number_input(key="train_epochs").max == 3


def test_ensemble_default_presets_its_first_members_recipe(models_dir, runs_dir):
    """Test that when the default is an ensemble, the preset fills in the recipe of one of its member runs."""
    card_path = models_dir / "default.json"
    card = json.loads(card_path.read_text())
    member_config = {**card.pop("config"), "arch": "digitnet", "epochs": 7, "seed": 5}
    card["members"] = [{"run": "member-a", "config": member_config}, {"run": "member-b", "config": None}]
    card_path.write_text(json.dumps(card))
    at = open_page()
    button(at, "Default model's settings").click().run()

    assert at.selectbox(key="train_arch").value == "digitnet"
    assert at.number_input(key="train_epochs").value == 7
    assert at.number_input(key="train_seed").value == 5


def test_run_goes_on_after_its_tab_is_closed_and_the_next_visitor_sees_it(models_dir, runs_dir):
    """Test that a run started from a tab that is then closed keeps training and shows up in a new tab."""
    at = open_page()
    start_tiny_run(at)
    [run] = jobs.list_runs(runs_dir)
    del at  # the tab is closed: its session, and every widget in it, is gone

    later = open_page()
    assert f"Run {run.name}" in texts(later.subheader)
    deadline = time.time() + RUN_TIMEOUT
    while jobs.refresh_run(jobs.read_run(run.dir)).is_active and time.time() < deadline:
        time.sleep(1)
    assert jobs.read_run(run.dir).state == "done"
    later.run()
    assert list(later.dataframe[0].value["Status"]) == ["done"]
