"""The run folder: the config written once and trained as written, typed status, listing, history."""

from __future__ import annotations

import json

import pytest

from digitlab.store import run_folder as runs
from digitlab.store.run_config import TrainConfig
from tests.run_fixtures import fake_trainer, make_run
from digitlab.store.run_config import train_command
from digitlab.store.run_history import read_history
from digitlab.store.run_records import RunStatus


def test_config_is_written_once_and_read_back_whole(tmp_path):
    """Test that every field of the config, the rarely changed ones included, survives the run folder."""
    config = TrainConfig(arch="mlp", epochs=2, validation_fraction=0.2, label_smoothing=0.0, limit=500,
                         title="no smoothing", notes="does smoothing matter?")
    run_dir = runs.create_run(config, tmp_path)

    assert runs.read_config(run_dir) == config
    with pytest.raises(FileExistsError):
        runs.create_run(config, run_dir=run_dir)


def test_a_config_that_cannot_be_trained_is_refused_before_a_folder_is_made(tmp_path):
    """Test that an invalid config never becomes a run folder."""
    with pytest.raises(ValueError, match="Unknown architecture"):
        runs.create_run(TrainConfig(arch="resnet"), tmp_path)
    with pytest.raises(ValueError, match="label smoothing"):
        runs.create_run(TrainConfig(label_smoothing=1.5), tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("state", ["running", "done", "stopped", "failed", "stale"])
def test_run_folders_in_every_state_read_back(state, runs_dir, small_run):
    """Test that a run folder in each state reads back with its state, its config and whether it has a model."""
    trainer = fake_trainer() if state == "running" else None
    try:
        run_dir = make_run(runs_dir, f"20260101-120000-{state}", state, model_from=small_run,
                           pid=trainer.pid if trainer else None)
        run = runs.read_run(run_dir)
        assert run.state == ("running" if state == "stale" else state)
        assert run.config.arch == "cnn-small" and run.config_problem is None
        assert run.has_model == (state in ("done", "stopped"))
        assert run.status.partial == (state == "stopped")
        assert len(read_history(run_dir)) in (2, 4)
    finally:
        if trainer:
            trainer.kill()
            trainer.wait()


def test_listing_is_newest_first_and_skips_folders_being_deleted(runs_dir, small_run):
    """Test that runs are listed newest first and a folder renamed for deletion is not listed."""
    older = make_run(runs_dir, "older", "failed", started_at=1000.0)
    newer = make_run(runs_dir, "newer", "done", model_from=small_run, started_at=2000.0)
    (runs_dir / ".deleting-gone-1234").mkdir()

    assert [run.name for run in runs.list_runs(runs_dir)] == [newer.name, older.name]
    runs.delete_run_folder(older)
    assert [run.name for run in runs.list_runs(runs_dir)] == [newer.name]
    assert not older.exists()


def test_a_hand_edited_status_is_read_as_far_as_it_makes_sense(tmp_path):
    """Test that mistyped fields in status.json are ignored rather than breaking the page."""
    status = RunStatus.from_json({"state": "done", "epoch": "three", "test_accuracy": 0.9, "partial": "yes",
                                  "unknown_field": 1})
    assert status.state == "done" and status.epoch == 0 and status.test_accuracy == 0.9 and status.partial is False
    assert RunStatus.from_json(["not", "a", "dict"]).state == "unknown"


def test_status_updates_refuse_fields_that_do_not_exist(tmp_path):
    """Test that a misspelt status field is an error for the writer, not a silently lost value."""
    run_dir = runs.create_run(TrainConfig(arch="mlp"), tmp_path)
    with pytest.raises(TypeError, match="test_acuracy"):
        runs.update_status(run_dir, test_acuracy=0.5)
    status = runs.update_status(run_dir, state="running", epoch=1)
    assert json.loads((run_dir / runs.STATUS_FILE).read_text())["epoch"] == 1 and status.updated_at


def test_a_run_is_found_by_folder_name_only_inside_the_runs_root(runs_dir, tmp_path):
    """Test that find_run never follows a name out of the runs root."""
    make_run(runs_dir, "20260101-120000-mlp", "failed")
    (tmp_path / "outside").mkdir()
    assert runs.find_run("20260101-120000-mlp", runs_dir).name == "20260101-120000-mlp"
    for name in ("../outside", "/etc", ".", "", "missing"):
        assert runs.find_run(name, runs_dir) is None


def test_history_skips_a_row_cut_short_by_a_concurrent_write(tmp_path):
    """Test that a half-written last history row is left out instead of breaking the chart."""
    (tmp_path / "history.csv").write_text(
        "kind,epoch,batch,step,elapsed,loss,accuracy,val_loss,val_accuracy\n"
        "batch,1,10,10,1.0,2.1,0.3,,\n"
        "epoch,1,15,15,1.5,1.9,0.4,1.7,0.55\n"
        "batch,2,10,2")

    history = read_history(tmp_path)

    assert list(history["kind"]) == ["batch", "epoch"]
    assert history["val_accuracy"].iloc[1] == pytest.approx(0.55)


def test_the_recorded_command_retrains_the_same_config():
    """Test that a card's command names every setting that decides what is trained."""
    command = train_command(TrainConfig(arch="digitnet", epochs=12, lr=0.002, augment=False, seed=3, limit=9000))
    assert command == ("python -m digitlab train --arch digitnet --epochs 12 --batch-size 128 --lr 0.002 "
                       "--no-augment --seed 3 --limit 9000")


@pytest.mark.parametrize(("file", "edit", "words"), [
    ("config.json", {"epochs": "3"}, "epochs as '3', which is not a whole number"),
    ("config.json", {"title": 5}, "title as 5, which is not text"),
    ("config.json", {"lr": None}, "lr as None, which is not a number"),
    ("config.json", {"extra": [1]}, "extra as [1], which is not an object"),
    ("status.json", {"started_at": "yesterday"}, None),
])
def test_a_run_folder_with_a_mistyped_field_does_not_break_the_lists_of_runs_and_models(runs_dir, small_run, file,
                                                                                        edit, words):
    """Test that a hand-edited config.json ("epochs": "3") or status.json ("started_at": "yesterday") in one run
    folder leaves every list of runs and models working: a config says what is wrong with it, a status field
    is read as missing."""
    import shutil

    from digitlab.store.model_names import model_label
    from digitlab.store.registry import list_models, resolve_model

    edited = runs_dir / "20261207-080000-cnn-small"
    shutil.copytree(small_run, runs_dir / "20261207-070000-cnn-small")
    shutil.copytree(small_run, edited)
    data = json.loads((edited / file).read_text())
    (edited / file).write_text(json.dumps({**data, **edit}))

    listed = {run.name: run for run in runs.list_runs(runs_dir)}
    assert set(listed) == {"20261207-070000-cnn-small", edited.name}
    if words:
        assert words in listed[edited.name].config_problem
    else:
        assert listed[edited.name].status.started_at is None and listed[edited.name].has_model
    assert [model_label(entry) for entry in list_models()]
    assert resolve_model("run:20261207-070000-cnn-small").usable
