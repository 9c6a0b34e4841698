"""Models known by the name given to them: labels, --model on the command line, and names two runs share."""

from __future__ import annotations

import json

import pytest

from digitlab.store.run_config import TrainConfig
from tests.run_fixtures import make_run
from tests.unit.test_cli import digitlab

SETTINGS = dict(arch="cnn-small", epochs=3, limit=8000, augment=False, seed=1)  # the same for every run below


@pytest.fixture
def named_runs(tmp_path, small_run):
    """Four finished runs with the same settings: 'quick-1', two called 'twin', and one given no name."""
    runs_dir = tmp_path / "runs"
    for folder, title in (("20260101-120000-cnn-small", "quick-1"), ("20260101-130000-cnn-small", "twin"),
                          ("20260101-140000-cnn-small", "twin"), ("20260101-150000-cnn-small", "")):
        make_run(runs_dir, folder, "done", model_from=small_run, config=TrainConfig(**SETTINGS, title=title),
                 test_accuracy=0.9602)
    return runs_dir


def test_a_run_is_labelled_by_its_given_name_start_architecture_and_accuracy(named_runs):
    """Test that a run's label leads with the name given to it and says when it started, and that runs with the
    same settings get different labels."""
    from digitlab.store.registry import list_run_models

    labels = [entry.label for entry in list_run_models(named_runs)]
    assert labels == ["run 20260101-150000 (cnn-small, 96.02%)",
                      "twin (run 20260101-140000, cnn-small, 96.02%)",
                      "twin (run 20260101-130000, cnn-small, 96.02%)",
                      "quick-1 (run 20260101-120000, cnn-small, 96.02%)"]


def test_predict_and_evaluate_take_a_runs_given_name_with_or_without_run_prefix(named_runs, small_models_dir,
                                                                                  tmp_path, mnist):
    """Test that `predict --model quick-1` and `--model run:quick-1` read with that run's model, and `evaluate`
    names the run it measured."""
    from PIL import Image

    seven = tmp_path / "seven.png"
    Image.fromarray(mnist.x_test[0]).resize((140, 140)).save(seven)
    for name in ("quick-1", "run:quick-1"):
        predicted = digitlab("predict", str(seven), "--json", "--model", name, models_dir=small_models_dir,
                             runs_dir=named_runs)
        assert predicted.returncode == 0, predicted.stderr
        assert json.loads(predicted.stdout)["digit"] == 7
    evaluated = digitlab("evaluate", "--json", "--model", "quick-1", models_dir=small_models_dir, runs_dir=named_runs)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["model"] == "run:20260101-120000-cnn-small"


def test_a_name_given_to_two_runs_is_refused_naming_both(named_runs, small_models_dir):
    """Test that `--model twin`, the name of two runs, picks neither and lists both runs by the name that works."""
    result = digitlab("evaluate", "--model", "twin", models_dir=small_models_dir, runs_dir=named_runs)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'twin' is the name of 2 runs" in result.stderr
    assert "run:20260101-130000-cnn-small" in result.stderr and "run:20260101-140000-cnn-small" in result.stderr


def test_models_lists_runs_by_given_name_and_what_model_takes(named_runs, small_models_dir):
    """Test that `models` shows each run by its given name and start, and the --model text that picks it alone."""
    listed = digitlab("models", models_dir=small_models_dir, runs_dir=named_runs)
    assert listed.returncode == 0, listed.stderr
    lines = [line.split() for line in listed.stdout.splitlines()]
    quick = next(line for line in lines if line[0] == "quick-1")
    assert " ".join(quick) == "quick-1 (run 20260101-120000, cnn-small, 96.02%) --model quick-1"
    twins = [" ".join(line) for line in lines if line[0] == "twin"]
    assert twins == ["twin (run 20260101-140000, cnn-small, 96.02%) --model run:20260101-140000-cnn-small",
                     "twin (run 20260101-130000, cnn-small, 96.02%) --model run:20260101-130000-cnn-small"]
    rows = [json.loads(line) for line in digitlab("models", "--json", models_dir=small_models_dir,
                                                   runs_dir=named_runs).stdout.splitlines()]
    assert {row["name"]: row["given_name"] for row in rows if row["name"].startswith("run:")} == {
        "run:20260101-120000-cnn-small": "quick-1", "run:20260101-130000-cnn-small": "twin",
        "run:20260101-140000-cnn-small": "twin", "run:20260101-150000-cnn-small": None}


def test_a_model_in_models_comes_before_a_run_given_its_name(named_runs, models_dir, small_run):
    """Test that where a model in models/ and a run share the name, the name picks the model in models/ and
    run:<name> the run."""
    from digitlab.store.registry import promote_run, resolve_model

    promote_run(small_run, "quick-1", models_dir)
    assert resolve_model("quick-1", named_runs).name == "quick-1"
    assert resolve_model("run:quick-1", named_runs).name == "run:20260101-120000-cnn-small"


def test_promote_takes_a_runs_given_name_and_refuses_a_shared_one(named_runs, small_models_dir, tmp_path):
    """Test that `promote quick-1` promotes the run given that name, and `promote twin` names both runs instead."""
    import shutil

    models_dir = shutil.copytree(small_models_dir, tmp_path / "models")
    promoted = digitlab("promote", "quick-1", "--name", "q1", models_dir=models_dir, runs_dir=named_runs)
    assert promoted.returncode == 0, promoted.stderr
    card = json.loads((models_dir / "q1.json").read_text())
    assert card["promoted_from"] == "20260101-120000-cnn-small"

    shared = digitlab("promote", "twin", "--name", "t", models_dir=models_dir, runs_dir=named_runs)
    assert shared.returncode == 2 and "'twin' is the name of 2 runs" in shared.stderr
    assert not (models_dir / "t.json").exists()


def test_models_quotes_a_name_with_spaces_as_the_next_command_must_be_given_it(small_run, small_models_dir, tmp_path):
    """Test that `models` shows a given name holding spaces and an apostrophe the way a shell must be given it,
    so that the --model text copied from the listing picks that run, and that --json keeps the name as it is."""
    import shlex

    runs_dir = tmp_path / "runs"
    name = "Anna's first run"
    make_run(runs_dir, "20260101-120000-cnn-small", "done", model_from=small_run,
             config=TrainConfig(**SETTINGS, title=name), test_accuracy=0.9602)

    listed = digitlab("models", models_dir=small_models_dir, runs_dir=runs_dir)

    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.lstrip().startswith(name))
    typed = line.split("  --model ", 1)[1]
    assert typed == shlex.quote(name) and shlex.split(typed) == [name]
    rows = [json.loads(row) for row in digitlab("models", "--json", models_dir=small_models_dir,
                                                runs_dir=runs_dir).stdout.splitlines()]
    assert [row["model_argument"] for row in rows if row["name"].startswith("run:")] == [name]
