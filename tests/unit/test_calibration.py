"""Calibration: reliability bins and ECE against numbers worked out by hand, and the hardest images."""

import numpy as np
import pytest

from digitlab.evaluation.calibration import expected_calibration_error, hardest_examples, per_image_loss, reliability_bins

# Four answers over three classes. With two bins, (0, 0.5] and (0.5, 1]:
#   high bin: confidences 0.9 (right) and 0.8 (wrong): mean confidence 0.85, accuracy 0.5, gap 0.35
#   low bin:  confidences 0.4 (right) and 0.45 (wrong): mean confidence 0.425, accuracy 0.5, gap 0.075
#   ECE = 2/4 * 0.35 + 2/4 * 0.075 = 0.2125
PROBABILITIES = np.array([[0.9, 0.05, 0.05], [0.2, 0.8, 0.0], [0.4, 0.35, 0.25], [0.3, 0.45, 0.25]])
LABELS = np.array([0, 0, 0, 2])


def test_ece_matches_the_hand_computed_value():
    """Test that the expected calibration error equals the value worked out by hand above."""
    assert expected_calibration_error(PROBABILITIES, LABELS, bins=2) == pytest.approx(0.2125)


def test_reliability_bins_hold_count_confidence_and_accuracy():
    """Test that each bin reports its answers' count, mean confidence and accuracy."""
    low, high = reliability_bins(PROBABILITIES, LABELS, bins=2)
    assert (low.count, low.confidence, low.accuracy) == (2, pytest.approx(0.425), 0.5)
    assert (high.count, high.confidence, high.accuracy) == (2, pytest.approx(0.85), 0.5)


def test_a_perfectly_calibrated_model_scores_zero():
    """Test that answers right exactly as often as their confidence says give an ECE of 0."""
    probabilities = np.array([[1.0, 0.0]] * 5)
    assert expected_calibration_error(probabilities, np.zeros(5, int)) == 0.0


def test_hardest_examples_are_the_highest_loss_first():
    """Test that the hardest images are ordered by cross-entropy, a zero probability counting as finite."""
    loss = per_image_loss(PROBABILITIES, LABELS)
    assert loss[0] == pytest.approx(-np.log(0.9))
    assert list(hardest_examples(PROBABILITIES, LABELS, 2)) == [1, 3]  # 0.2 for the true class, then 0.25
    assert np.isfinite(per_image_loss(np.array([[1.0, 0.0]]), np.array([1]))).all()
