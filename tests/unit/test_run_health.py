"""Tests for digitlab.training.run_health: the warning a run that did not learn ends with."""

from __future__ import annotations

import pytest

from digitlab.training.run_health import run_warning


def test_run_at_chance_is_warned_about():
    """Test that a run reading 11% of test digits (a digitnet whose batch norm never settled) gets a warning."""
    warning = run_warning(0.11, training_accuracy=0.35)
    assert warning is not None
    assert "11%" in warning and "guessing" in warning


def test_run_that_memorised_its_images_is_warned_about():
    """Test that test accuracy far below training accuracy is called memorising, with both figures."""
    warning = run_warning(0.72, training_accuracy=0.99)
    assert warning is not None
    assert "72%" in warning and "99%" in warning and "memorised" in warning


@pytest.mark.parametrize("test_accuracy, training_accuracy", [(0.9166, 0.8569), (0.995, 0.99), (0.93, None)])
def test_run_that_learned_gets_no_warning(test_accuracy, training_accuracy):
    """Test that ordinary runs (including augmented ones, whose training accuracy is lower than test) pass."""
    assert run_warning(test_accuracy, training_accuracy) is None


def test_run_without_a_test_figure_gets_no_warning():
    """Test that a stopped or failed run without a test accuracy is left to its own message."""
    assert run_warning(None, 0.5) is None


def test_short_digitnet_run_learns(tmp_path, mnist):
    """Test that a short digitnet run (2 epochs, 1,000 images) reads well above chance and raises no warning.

    Before batch-norm momentum was lowered, such runs predicted from unsettled statistics: about 11%.
    """
    from digitlab.store.run_config import TrainConfig
    from digitlab.training.trainer import run_training

    status = run_training(TrainConfig(arch="digitnet", epochs=2, limit=1000, batch_size=32, augment=False, seed=0),
                          tmp_path / "short")
    assert status.state == "done", status
    assert status.test_accuracy > 0.6, status.test_accuracy
    assert run_warning(status.test_accuracy) is None and status.warning is None, "no warning on a run that learned"
