"""The recipe on a machine of one's own: all its cores and free memory, and a stopped recipe goes on where it was."""

from __future__ import annotations

import os
from dataclasses import replace

import psutil

from digitlab.config.settings import TRAIN_MEMORY_MB_VAR, TRAIN_THREADS_VAR
from digitlab.store import run_folder as runs
from digitlab.training.memory_budget import estimate_run_memory
from digitlab.training.recipe import STUDENT, TEACHER, finished_step, recipe_settings


def test_the_recipe_uses_every_core_and_the_free_memory_unless_the_deployment_sets_them(monkeypatch, tmp_path):
    """Test that the recipe's runs are not held to the Train page's one thread and 1,500 MB, which refused its
    student step before it began, and that a deployment's own settings still win."""
    monkeypatch.delenv(TRAIN_THREADS_VAR, raising=False)
    monkeypatch.delenv(TRAIN_MEMORY_MB_VAR, raising=False)
    student = replace(STUDENT, pen_digits=str(tmp_path / "pen.tra"), unipen=str(tmp_path / "unipen.tar.gz"),
                      teacher=str(tmp_path / "teacher"))
    free_mb = psutil.virtual_memory().available / (1 << 20)
    settings = recipe_settings()
    assert settings.train_threads == (os.cpu_count() or 1)
    assert settings.train_memory_mb >= min(free_mb * 0.9, 1500)
    if free_mb > 2 * estimate_run_memory(student).total_mb:  # a machine with room for it
        assert estimate_run_memory(student).refusal(settings.train_memory_mb) is None

    monkeypatch.setenv(TRAIN_THREADS_VAR, "1")
    monkeypatch.setenv(TRAIN_MEMORY_MB_VAR, "1500")
    held = recipe_settings()
    assert (held.train_threads, held.train_memory_mb) == (1, 1500)
    assert estimate_run_memory(student).refusal(held.train_memory_mb) is not None, "the student needs more than 1,500 MB"


def test_a_step_that_finished_in_the_folder_is_found_and_others_are_not(tmp_path):
    """Test that a finished step with the same config (trained with any number of threads) is taken up again,
    and that a different step, or the same one not finished, is trained afresh."""
    out = tmp_path / "recipe"
    (tmp_path / "pen.tra").write_text("")  # a config names its data files, which must exist; nothing reads them here
    (tmp_path / "unipen.tar.gz").write_bytes(b"")
    teacher = replace(TEACHER, epochs=1, limit=300, pen_digits=str(tmp_path / "pen.tra"),
                      unipen=str(tmp_path / "unipen.tar.gz"))
    done_dir = runs.create_run(replace(teacher, threads=1), out)
    runs.update_status(done_dir, state="done", message="Finished")
    failed_dir = runs.create_run(replace(teacher, seed=7, threads=1), out)
    runs.update_status(failed_dir, state="failed", message="Killed")

    found = finished_step(out, teacher)
    assert found is not None and found.dir == done_dir
    assert finished_step(out, replace(teacher, seed=7)) is None, "a failed step is trained again"
    assert finished_step(out, replace(teacher, epochs=2)) is None, "another config is another step"
    assert finished_step(tmp_path / "nowhere", teacher) is None
