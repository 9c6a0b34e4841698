"""`python -m digitlab recipe default --tiny`: three real runs, a candidate with a card written by code, reproducible."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitlab.config.paths import REPO_ROOT
from digitlab.store.atomic import read_json
from digitlab.store.run_config import train_command
from digitlab.store.run_folder import read_run
from digitlab.training.jobs import trainer_command
from tests.conftest import SHARED_PENDIGITS
from tests.helpers.unipen_sample import SHARED_UNIPEN, write_small_unipen

pytestmark = pytest.mark.skipif(not (SHARED_PENDIGITS.is_file() and SHARED_UNIPEN.is_file()),
                                reason="needs pendigits-orig.tra and unipen-dev.tar.gz")
STEPS = ("teacher", "student", "polish")
SAME_FIGURE_TOLERANCE = 0.002  # 0.2 points: two runs from one seed must agree at least this closely


def _small_pendigits(path: Path) -> Path:
    lines = SHARED_PENDIGITS.read_text().splitlines()
    segments = [index for index, line in enumerate(lines) if line.startswith(".SEGMENT")]
    keep: set[int] = set()
    for start in segments[:: len(segments) // 60]:
        end = next((s for s in segments if s > start), len(lines))
        keep.update(range(start, end))
    path.write_text("\n".join(lines[: segments[0]] + [lines[i] for i in sorted(keep)]) + "\n")
    return path


def _recipe_command(out: Path, pen: Path, unipen: Path) -> list[str]:
    return [sys.executable, "-m", "digitlab", "recipe", "default", "--out", str(out), "--seed", "3",
            "--pen-digits", str(pen), "--unipen", str(unipen), "--tiny"]


def _recipe(out: Path, pen: Path, unipen: Path) -> tuple[list[str], subprocess.CompletedProcess]:
    command = _recipe_command(out, pen, unipen)
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=1800,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    return command, done


@pytest.fixture(scope="module")
def two_recipes(tmp_path_factory, mnist):
    """The tiny recipe run twice from the same seed, each into its own folder."""
    data = tmp_path_factory.mktemp("recipe-data")
    pen, unipen = _small_pendigits(data / "pen.tra"), write_small_unipen(data / "unipen.tar.gz")
    results = []
    for number in (1, 2):
        out = tmp_path_factory.mktemp(f"recipe-{number}") / "recipe"
        command, done = _recipe(out, pen, unipen)
        results.append((out, command, done))
    return results


def test_the_candidates_card_lists_the_commands_that_ran(two_recipes):
    """Test that the candidate's card names each step's run, the command of its config, its time and data sha256."""
    out, command, done = two_recipes[0]
    printed = json.loads(done.stdout.strip().splitlines()[-1])
    card = read_json(out / "candidate" / "default.json")
    recipe = card["recipe"]
    assert recipe["command"] == "python -m digitlab " + " ".join(command[3:])
    assert [step["step"] for step in recipe["steps"]] == list(STEPS)
    runs = [read_run(Path(path)) for path in printed["runs"]]
    for step, run in zip(recipe["steps"], runs):
        assert step["run"] == run.name and run.state == "done"
        assert step["command"] == train_command(run.config)
        assert run.job is not None and run.job.command == trainer_command(run.dir), "launched as the Train page does"
        assert step["seconds"] == round(run.status.elapsed, 1) > 0
        assert step["model_sha256"] == run.status.model_sha256
        parts = {name: part["images_sha256"] for name, part in run.status.extra_training_data.items()}
        assert {k: v for k, v in step["data_sha256"].items() if not k.startswith("mnist_")} == parts
        assert run.config.epochs == 1 and run.config.limit <= 300
    teacher, student, polish = runs
    assert student.config.teacher == polish.config.teacher == str(teacher.dir)
    assert polish.config.init_from == str(student.dir)
    assert {"unipen_digits", "unipen_letters", "pen_styles", "non_digits"} <= set(student.status.extra_training_data)
    assert card["sha256"] == polish.status.model_sha256 == printed["sha256"]
    assert card["command"] == recipe["steps"][-1]["command"]
    assert printed["next_step"] == f"python -m digitlab promote {polish.dir} --name default --replace"
    assert "--replace" in done.stderr


def test_a_second_recipe_from_the_same_seed_gives_the_same_figures(two_recipes):
    """Test that two tiny recipes from one seed train on identical images and agree within 0.2 points."""
    first, second = (read_json(out / "candidate" / "default.json")["recipe"]["steps"] for out, _, _ in two_recipes)
    for one, other in zip(first, second):
        assert one["data_sha256"] == other["data_sha256"]
        assert abs(one["mnist_test_accuracy"] - other["mnist_test_accuracy"]) <= SAME_FIGURE_TOLERANCE


def test_a_folder_that_holds_a_recipe_is_refused(two_recipes):
    """Test that a recipe into a folder that already holds one stops with a message, before training anything."""
    out, command, _ = two_recipes[0]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "already holds" in done.stderr and "Traceback" not in done.stderr


def _first_trainer(recipe: subprocess.Popen, timeout: float):
    """The recipe's first training process (`train --run-dir`), once it has started; fails if none starts."""
    import psutil

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and recipe.poll() is None:
        for child in psutil.Process(recipe.pid).children():
            try:
                if "--run-dir" in child.cmdline():
                    return child
            except psutil.Error:  # between fork and exec, or gone
                continue
        time.sleep(0.05)
    raise AssertionError(f"the recipe started no trainer: {recipe.communicate(timeout=30)[1][-3000:]}")


def test_a_stopped_recipe_ends_its_training_run_and_frees_the_training_lock(tmp_path):
    """Test that SIGTERM to a recipe that is training its first step ends that step's trainer (which runs in a
    session of its own, out of the signal's reach) within a few seconds, frees the training lock, and exits
    nonzero saying it was stopped and that finished steps are kept."""
    import psutil

    from digitlab.training.run_lock import holder

    pen, unipen = _small_pendigits(tmp_path / "pen.tra"), write_small_unipen(tmp_path / "unipen.tar.gz")
    out = tmp_path / "recipe"
    recipe = subprocess.Popen(_recipe_command(out, pen, unipen), cwd=REPO_ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    trainer = None
    try:
        trainer = _first_trainer(recipe, timeout=120)
        run_dir = Path(trainer.cmdline()[-1])
        recipe.send_signal(signal.SIGTERM)

        _, stderr = recipe.communicate(timeout=30)
        gone, _ = psutil.wait_procs([trainer], timeout=10)
        assert gone, "the trainer outlived the recipe that started it"
        assert holder(out) is None, "the training lock is still held"
        assert recipe.returncode == 128 + signal.SIGTERM and "Traceback" not in stderr
        assert "The recipe was stopped (SIGTERM) during its teacher step" in stderr
        assert "The steps that finished are kept" in stderr
        ended = read_run(run_dir)  # what the Train page and a second recipe see of the step it was training
        assert ended.state == "failed" and "Ended when the recipe that started it was stopped" in ended.status.message
    finally:  # on failure: end what this test started, the recipe and the trainer it left behind
        if recipe.poll() is None:
            recipe.kill()
        if trainer is not None and trainer.is_running():
            trainer.kill()
        recipe.communicate(timeout=30)
