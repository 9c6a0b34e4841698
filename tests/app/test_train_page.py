"""The Train page in AppTest: one real run started from the form; everything else on run folders in each state."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from digitlab.store import run_folder as runs
from digitlab.training import jobs
from digitlab.config.access import hash_password
from digitlab.store.registry import active_model_name
from digitlab.ui.access import PASSWORD_ACCEPTED_KEY
from digitlab.ui.runs_table import runs_table_key
from tests.run_fixtures import fake_trainer, make_run, wait_for
from digitlab.store.run_config import TrainConfig

PAGE = Path(__file__).resolve().parents[2] / "pages" / "train.py"
RUN_TIMEOUT = 150  # seconds for a 2,000-image, one-epoch mlp run, on a busy two-core machine


def open_page(owner: bool | None = None) -> AppTest:
    """The page in a fresh session; owner=True signs the session in as the owner (where one is configured)."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    if owner:
        at.session_state[PASSWORD_ACCEPTED_KEY] = True
    at.run()
    assert not at.exception, [exception.value for exception in at.exception]
    return at


def button(at: AppTest, label: str):
    matches = [widget for widget in at.button if widget.label == label]
    assert matches, f"no '{label}' button; buttons: {[widget.label for widget in at.button]}"
    return matches[0]


def labels(at: AppTest) -> list[str]:
    return [widget.label for widget in at.button]


def texts(elements) -> str:
    return "\n".join(str(element.value) for element in elements)


def select_rows(at: AppTest, rows: list[int]) -> AppTest:
    """Select rows of the runs table, as a click on their checkboxes would."""
    key = runs_table_key(runs.list_runs())
    at.session_state[key] = {"selection": {"rows": rows, "columns": [], "cells": []}}
    return at.run()


def start_tiny_run(at: AppTest) -> AppTest:
    """Fill the form for a one-epoch mlp run on 2,000 images and press Start."""
    at.selectbox(key="train_arch").set_value("mlp")
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_images").set_value(2000)
    at.toggle(key="train_augment").set_value(False)
    at.text_input(key="train_title").set_value("tiny mlp")
    return button(at, "Start training").click().run()


@pytest.fixture
def finished_run(runs_dir, small_run) -> Path:
    """A finished cnn-small run (the session's small run's model) in this test's runs folder."""
    return make_run(runs_dir, "20260101-120000-cnn-small", "done", model_from=small_run)


@pytest.fixture
def visitors_only(monkeypatch):
    """A deployment with an owner password: a session that has not entered it is a visitor."""
    monkeypatch.setenv("DIGITLAB_OWNER_PASSWORD_HASH", hash_password("owner's secret", iterations=1000))


def test_run_started_from_the_form_trains_on_after_its_tab_closes_and_the_next_visitor_sees_it_finish(
        models_dir, runs_dir):
    """Test that Start launches a real training process that writes its run folder; the live view shows its
    progress; closing the tab does not stop it; a new tab sees it finish with its test accuracy."""
    at = open_page()
    start_tiny_run(at)
    assert not at.exception, [exception.value for exception in at.exception]
    [run] = runs.list_runs(runs_dir)
    assert run.config.arch == "mlp" and run.config.title == "tiny mlp" and run.job.command[-2] == "--run-dir"
    assert at.get("progress"), "the live view shows a progress bar while the run is going"
    assert button(at, "Start training").disabled, "one run at a time: Start is off while a run is going"
    del at  # the tab is closed: its session, and every widget in it, is gone

    later = open_page()
    assert "Run tiny mlp" in texts(later.subheader), "another tab sees the live run under its name"
    deadline = time.time() + RUN_TIMEOUT
    while "Finished" not in texts(later.success) and time.time() < deadline:
        time.sleep(1)
        later.run()  # what the fragment's refresh does in a browser
        assert not later.exception, [exception.value for exception in later.exception]
        assert not later.error, texts(later.error)

    assert "Finished" in texts(later.success), f"the run did not finish in {RUN_TIMEOUT} s"
    metrics = {metric.label: metric.value for metric in later.metric}
    assert metrics["Test accuracy"].endswith("%") and float(metrics["Test accuracy"][:-1]) > 30
    assert later.get("plotly_chart"), "the training curves are shown"
    done = runs.read_run(run.dir)
    for name in ("config.json", "job.json", "status.json", "history.csv", "log.txt", "model.keras"):
        assert (run.dir / name).is_file(), name
    table = later.dataframe[0].value
    assert list(table["Status"]) == ["done"] and list(table["Run"]) == ["tiny mlp"]
    assert table["Test accuracy"][0] == metrics["Test accuracy"] == f"{done.status.test_accuracy:.2%}"
    assert not button(later, "Start training").disabled


def test_a_running_run_is_shown_live_and_stop_asks_it_to_end(models_dir, runs_dir):
    """Test that a run in progress shows its progress with Start off, and Stop leaves the trainer its STOP file."""
    trainer = fake_trainer(holding_lock_for=runs_dir / "20260101-120000-cnn-small")
    try:
        run_dir = make_run(runs_dir, "20260101-120000-cnn-small", "running", pid=trainer.pid)
        at = open_page()

        assert at.get("progress") and f"Run {run_dir.name}" in texts(at.subheader)
        assert button(at, "Start training").disabled
        assert list(at.dataframe[0].value["Status"]) == ["running"]
        button(at, "Stop").click().run()

        assert (run_dir / "STOP").exists()
        at.run()  # the live view's next refresh
        assert "Stop requested" in texts(at.caption)
    finally:
        trainer.kill()
        trainer.wait()


def test_selecting_several_runs_overlays_their_curves_under_their_names(models_dir, finished_run, runs_dir,
                                                                         small_run):
    """Test that selecting two runs draws both runs' curves in one chart, named as the user named them."""
    named = make_run(runs_dir, "20260101-130000-cnn-small", "done", model_from=small_run, started_at=time.time(),
                     config=TrainConfig(arch="cnn-small", title="bigger batch", batch_size=256))

    at = select_rows(open_page(), [0, 1])

    charts = at.get("plotly_chart")
    assert len(charts) == 1, "one chart overlays the selected runs"
    traces = {trace["name"] for trace in json.loads(charts[0].proto.spec)["data"]}
    assert {f"{finished_run.name} validation", "bigger batch validation"} <= traces
    assert named.exists()


def test_the_owner_promotes_a_run_which_becomes_the_default(models_dir, finished_run):
    """Test that the owner's Promote, with "Make it the default" ticked, copies a finished run's model into models/
    and makes it the default."""
    at = select_rows(open_page(owner=True), [0])
    assert "Finished" in texts(at.success), "the selected run's outcome is shown"
    at.text_input(key=f"promote-name-{finished_run.name}").set_value("my-digits")
    at.checkbox(key=f"promote-default-{finished_run.name}").check()
    button(at, "Promote to models/").click().run()

    assert not at.exception, [exception.value for exception in at.exception]
    assert (models_dir / "my-digits.keras").is_file() and (models_dir / "my-digits.json").is_file()
    assert active_model_name(models_dir) == "my-digits"
    assert at.session_state["model_name"] == "my-digits", "the sidebar picks the new model"


def test_promoting_over_an_existing_name_needs_a_confirmation_and_keeps_the_old_version(models_dir, finished_run):
    """Test that Promote under a taken name is refused, saying to tick 'Replace', and replacing keeps version 1."""
    original = (models_dir / "default.keras").read_bytes()
    at = select_rows(open_page(owner=True), [0])
    at.text_input(key=f"promote-name-{finished_run.name}").set_value("default")
    button(at, "Promote to models/").click().run()

    assert "already exists" in texts(at.error) and "Replace a model of that name" in texts(at.error)
    assert texts(at.error).count("choose another name") == 1  # the advice once, in the form's own words
    assert json.loads((models_dir / "default.json").read_text()).get("version", 1) == 1
    at.checkbox(key=f"promote-replace-{finished_run.name}").check()
    button(at, "Promote to models/").click().run()

    card = json.loads((models_dir / "default.json").read_text())
    assert card["version"] == 2 and card["file"] == "default.v2.keras"
    assert (models_dir / "default.keras").read_bytes() == original


def test_a_name_and_boxes_changed_just_before_promote_all_count(models_dir, finished_run):
    """Test that a model name typed and "Make it the default" ticked right before clicking Promote (no rerun
    between them) reach the promotion together: it lands under that name and becomes the default."""
    at = select_rows(open_page(owner=True), [0])
    at.text_input(key=f"promote-name-{finished_run.name}").set_value("quick-1")
    at.checkbox(key=f"promote-default-{finished_run.name}").check()
    button(at, "Promote to models/").click().run()

    assert (models_dir / "quick-1.keras").is_file()
    assert active_model_name(models_dir) == "quick-1"
    assert "is now the default model for everyone" in texts(at.success)


def test_promote_leaves_the_default_unless_the_box_is_ticked(models_dir, finished_run):
    """Test that "Make it the default for everyone" starts unticked, as `promote` without --default, so a
    promotion only adds the model to models/ and every visitor keeps the model they had."""
    at = select_rows(open_page(owner=True), [0])
    assert at.checkbox(key=f"promote-default-{finished_run.name}").value is False
    at.text_input(key=f"promote-name-{finished_run.name}").set_value("kept-aside")
    button(at, "Promote to models/").click().run()

    assert (models_dir / "kept-aside.keras").is_file()
    assert active_model_name(models_dir) == "default"
    assert "is now in models/" in texts(at.success)


def test_a_visitor_can_read_with_a_run_but_not_promote_or_delete(models_dir, finished_run, visitors_only):
    """Test that where an owner is configured a visitor gets no Promote or Delete, and 'Read with it in this tab'
    changes only their own session's model."""
    at = select_rows(open_page(), [0])

    assert "Promote to models/" not in labels(at) and not any(label.startswith("Delete") for label in labels(at))
    assert "for the owner" in texts(at.caption)
    button(at, "Read with it in this tab").click().run()

    assert at.session_state["model_name"] == f"run:{finished_run.name}"
    assert any(notice.value.startswith("This tab now reads with the model of run") for notice in at.success), (
        "the click says what it did")
    assert active_model_name(models_dir) == "default", "nobody else's model changed"
    assert finished_run.exists()


def test_the_owner_signed_in_by_password_may_delete(models_dir, finished_run, visitors_only):
    """Test that the same deployment lets a session that entered the owner password delete a run."""
    at = select_rows(open_page(owner=True), [0])
    button(at, "Delete").click().run()

    assert not finished_run.exists()
    assert "Deleted" in texts(at.success)


def test_a_visitor_over_the_hourly_quota_is_told_when_to_come_back(models_dir, runs_dir, small_run, visitors_only,
                                                                   monkeypatch):
    """Test that a visitor who used up the runs-per-hour quota gets a message and no new run."""
    import digitlab.ui.train_form as train_form

    monkeypatch.setenv("DIGITLAB_MAX_RUNS_PER_HOUR", "1")
    monkeypatch.setattr(train_form, "viewer_id", lambda: "ip:10.0.0.7")
    make_run(runs_dir, "20260101-120000-mlp", "done", model_from=small_run, started_at=time.time() - 60,
             started_by="ip:10.0.0.7")

    at = start_tiny_run(open_page())

    assert "1 runs in the last hour" in texts(at.warning) and "per visitor" in texts(at.warning)
    assert len(runs.list_runs(runs_dir)) == 1


def test_a_run_whose_process_died_shows_as_failed_with_its_log(models_dir, runs_dir):
    """Test that a run whose process is gone is listed as failed, with the end of its log, not as running."""
    make_run(runs_dir, "20260101-120000-digitnet", "stale", log="Epoch 3/20\nMemoryError: could not allocate\n")

    at = select_rows(open_page(), [0])

    assert list(at.dataframe[0].value["Status"]) == ["failed in epoch 2 of 3"]
    assert "ended without finishing" in texts(at.error)
    assert "MemoryError" in texts(at.code)
    assert not at.get("progress"), "a dead run is not shown as progressing"


def test_a_run_that_learned_nothing_is_not_shown_as_a_green_success(models_dir, runs_dir, small_run):
    """Test that a finished run carrying a warning is shown with it, and the owner is warned before promoting."""
    from digitlab.training.run_health import run_warning

    run_dir = make_run(runs_dir, "20260101-120000-digitnet", "done", model_from=small_run, test_accuracy=0.11,
                       warning=run_warning(0.11))

    at = select_rows(open_page(owner=True), [0])

    assert not texts(at.success).startswith("Finished.")
    assert "about what guessing gets" in texts(at.warning) and "Check before promoting" in texts(at.warning)
    assert button(at, "Promote to models/").disabled, "promoting it needs a confirmation"
    at.checkbox(key=f"promote-anyway-{run_dir.name}").check().run()
    at.text_input(key=f"promote-name-{run_dir.name}").set_value("guesser")  # in the form: sent with the click
    button(at, "Promote to models/").click().run()
    assert (models_dir / "guesser.json").is_file()


def test_training_can_be_turned_off_for_a_public_deployment(models_dir, finished_run, monkeypatch):
    """Test that with training disabled there is no form, only the runs to look at."""
    monkeypatch.setenv("DIGITLAB_TRAINING_ENABLED", "false")
    at = select_rows(open_page(), [0])

    assert "turned off" in texts(at.info)
    assert "Start training" not in labels(at)
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


def test_augmentation_preview_shows_digits_and_their_augmented_versions_when_opened(models_dir, runs_dir):
    """Test that the augmentation preview computes nothing while closed and shows originals and variants open."""
    at = open_page()
    assert not at.image, "closed: no images were made"
    opened = AppTest.from_file(PAGE, default_timeout=60)
    opened.session_state["train_augmentation_preview"] = True
    opened.run()

    assert any(expander.label == "What does augmentation do?" for expander in opened.expander)
    assert len(opened.image) == 3 * 8, "eight digits, each with two augmented versions"


def test_a_finished_runs_curves_explain_the_loss_floor_of_label_smoothing(models_dir, finished_run):
    """Test that the loss curve's caption names the smoothing and the loss a perfect model would still have."""
    at = select_rows(open_page(), [0])
    assert "label smoothing 0.05" in texts(at.caption) and "0.28" in texts(at.caption)


# --- who may stop and delete, and memory ------------------------------------------------------------------------


@pytest.fixture
def visitor_at(monkeypatch, visitors_only):
    """This session is a visitor whose viewer id is 10.0.0.7 (the address digitlab.ui.access would report)."""
    import digitlab.ui.access

    monkeypatch.setattr(digitlab.ui.access, "viewer_id", lambda: "ip:10.0.0.7")
    return "ip:10.0.0.7"


def test_a_visitor_gets_no_stop_for_a_run_they_did_not_start_and_stop_for_their_own(models_dir, runs_dir,
                                                                                      visitor_at):
    """Test that a visitor watching the owner's run sees its progress but no Stop, and that the same visitor
    gets Stop, which works, on a run they started."""
    from dataclasses import replace

    from digitlab.training.visitors import visitor_token

    trainer = fake_trainer(holding_lock_for=runs_dir / "20260101-120000-cnn-small")
    try:
        run_dir = make_run(runs_dir, "20260101-120000-cnn-small", "running", pid=trainer.pid, started_by="local")
        at = open_page()

        assert at.get("progress") and "Stop" not in labels(at)
        assert "Only the visitor who started this run, or the owner, can stop it." in texts(at.caption)

        job = runs.read_run(run_dir).job
        runs.write_job(run_dir, replace(job, started_by=visitor_token(visitor_at, runs_dir)))
        button(at.run(), "Stop").click().run()

        assert (run_dir / "STOP").exists()
    finally:
        trainer.kill()
        trainer.wait()


def test_a_run_a_visitor_starts_is_stopped_from_their_browser_only(models_dir, runs_dir, visitor_at, monkeypatch):
    """Test that Start records the visitor's browser with the run (as a token, not the secret), and that Stop is then
    offered to that browser and not to a classmate's browser at the same address."""
    import digitlab.ui.access
    import digitlab.ui.train_form as train_form
    from digitlab.training.visitors import browser_token

    ann, bob = "a1" * 16, "b2" * 16  # two browsers' secrets (config.access.browser_secret)
    monkeypatch.setattr(train_form, "viewer_id", lambda: visitor_at)
    monkeypatch.setattr(train_form, "browser_key", lambda: ann)
    monkeypatch.setattr(digitlab.ui.access, "browser_key", lambda: ann)
    at = start_tiny_run(open_page())
    run = runs.list_runs(runs_dir)[0]
    try:
        assert run.started_in == browser_token(ann, runs_dir) and ann not in (run.dir / runs.JOB_FILE).read_text()
        assert "Stop" in labels(at)

        monkeypatch.setattr(digitlab.ui.access, "browser_key", lambda: bob)
        at = open_page()
        assert "Stop" not in labels(at) and "Only the visitor who started this run, or the owner" in texts(at.caption)
    finally:
        jobs.request_stop(run, jobs.Requester.owner())
        wait_for(lambda: not runs.read_run(run.dir).is_active, RUN_TIMEOUT, "the tiny run to stop")


def test_a_visitor_may_delete_their_own_run_but_not_anothers(models_dir, runs_dir, small_run, visitor_at):
    """Test that Delete is offered to a visitor for a run they started, and not for another visitor's run."""
    from digitlab.training.visitors import visitor_token

    theirs = make_run(runs_dir, "20260101-120000-cnn-small", "done", model_from=small_run,
                      started_by=visitor_token("ip:10.0.0.8", runs_dir), started_at=time.time() - 600)
    mine = make_run(runs_dir, "20260101-130000-cnn-small", "done", model_from=small_run,
                    started_by=visitor_token(visitor_at, runs_dir), started_at=time.time() - 60)

    at = select_rows(open_page(), [1])  # newest first: theirs is the second row
    assert not any(label.startswith("Delete") for label in labels(at))
    assert "for the owner and for the visitor who started it" in texts(at.caption)

    at = select_rows(open_page(), [0])
    button(at, "Delete").click().run()
    assert not mine.exists() and theirs.exists()
    assert "Deleted" in texts(at.success)


def test_a_run_over_the_memory_budget_is_refused_with_what_it_needs(models_dir, runs_dir, monkeypatch):
    """Test that the form shows a run's estimated memory against the budget before Start, and that Start refuses
    a run over it with how much it needs and what to cut, starting nothing."""
    at = open_page()
    assert "Estimated peak memory" in texts(at.caption) and "of the 1,500 MB" in texts(at.caption)

    monkeypatch.setenv("DIGITLAB_TRAIN_MEMORY_MB", "900")
    at = start_tiny_run(open_page())

    assert "would need about" in texts(at.error) and "allows a run 900 MB" in texts(at.error)
    assert "DIGITLAB_TRAIN_MEMORY_MB" in texts(at.error)
    assert runs.list_runs(runs_dir) == []


def test_the_default_models_recipe_the_heaviest_preset_fits_the_default_memory_budget(runs_dir):
    """Test that "Default model's settings" (the shipped default's own recipe: digitnet on all of MNIST with the pen
    digits and 6,000 non-digits) is estimated within the default 1,500 MB budget, so it may start. An epoch of it
    peaked at 1,308 MB when measured (estimate 1,438 MB); before the trainer loaded frugally it peaked at 4.0 GB."""
    from digitlab.datasets.pendigits import pendigits_path

    at = open_page()
    button(at, "Default model's settings").click().run()

    assert at.toggle(key="train_non_digits").value and at.number_input(key="train_images").value == 60_000
    assert at.toggle(key="train_pen_digits").value == (pendigits_path() is not None)
    assert not any("would need about" in str(warning.value) for warning in at.warning)
    note = next(caption.value for caption in at.caption if caption.value.startswith("Estimated peak memory"))
    assert "of the 1,500 MB this deployment allows" in note
    assert ("pen digits" in note) == (pendigits_path() is not None)


def test_every_number_box_of_the_form_says_its_range():
    """Test that each number box's help names the range it takes (a number outside it is outlined in red and not
    taken, and Streamlit says why only on hover), read from the box itself."""
    from digitlab.ui.train_form import FORM_KEYS

    at = open_page(owner=True)
    boxes = {box.label: box for box in at.number_input if box.key in FORM_KEYS.values()}
    assert set(boxes) == {"Epochs", "Training images", "Batch size", "Learning rate", "Seed", "Bank weight"}
    for box in boxes.values():
        low, high = box.proto.min, box.proto.max
        numbers = [f"{low:,.0f}", f"{high:,.0f}"] if box.proto.data_type == box.proto.INT else [f"{low:g}", f"{high:g}"]
        assert f"{numbers[0]}-{numbers[1]}" in box.help, (box.label, box.help, numbers)
    assert any("outlined in red and not taken" in caption.value for caption in at.caption)


@pytest.mark.parametrize("field, text", [
    ("train_title", "![pixel](https://tracker.example/p.png) [Owner sign-in](https://evil.example)"),
    ("train_notes", "see <a href='https://evil.example'>here</a>"),
])
def test_a_run_name_or_notes_that_would_put_links_on_everyone_s_page_is_refused(models_dir, runs_dir, field, text):
    """Test that a visitor cannot start a run whose name or notes (shown on every visitor's Train page) hold
    Markdown links or pictures, or HTML for the curves' legend: Start says why and starts nothing."""
    at = open_page()
    at.selectbox(key="train_arch").set_value("mlp")
    at.number_input(key="train_epochs").set_value(1)
    at.number_input(key="train_images").set_value(2000)
    at.text_input(key=field).set_value(text)
    at = button(at, "Start training").click().run()

    assert "may not contain [ ] < >" in texts(at.error)
    assert runs.list_runs(runs_dir) == []
