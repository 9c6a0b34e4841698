"""Stroke-level styles: the slash of a zero, the bar of a seven, the foot and flag of a one, each in its place."""

from __future__ import annotations

import numpy as np
import pytest

from digitlab.datasets.pen_styles import bar_seven, foot_one, slash_zero, with_style


def _ring() -> list[np.ndarray]:
    angles = np.linspace(0, 2 * np.pi, 60)
    return [np.stack([200 + 100 * np.cos(angles), 250 + 200 * np.sin(angles)], axis=1).astype(np.float32)]


def _seven() -> list[np.ndarray]:  # bar from (100, 50) to (400, 50), stem from (400, 50) down to (200, 450)
    return [np.array([[100, 50], [400, 50], [200, 450]], np.float32)]


def _stick() -> list[np.ndarray]:
    return [np.array([[250, 50], [250, 450]], np.float32)]


def _distance_to_segment(point: np.ndarray, start: np.ndarray, end: np.ndarray) -> float:
    t = np.clip(np.dot(point - start, end - start) / np.dot(end - start, end - start), 0, 1)
    return float(np.linalg.norm(start + t * (end - start) - point))


@pytest.mark.parametrize("seed", range(8))
def test_slash_crosses_the_zero_through_its_middle_and_overshoots(seed):
    """Test that a slashed zero gains one stroke from above its top right to below its bottom left, via the centre."""
    ring = _ring()
    slashed = slash_zero(ring, np.random.default_rng(seed))
    assert len(slashed) == 2 and slashed[0] is ring[0]
    slash = slashed[1]
    start, end = slash[0], slash[-1]
    assert start[1] < 50 and end[1] > 450, "it overshoots the ring above and below"
    assert start[0] > end[0], "it leans like /, top right to bottom left"
    assert _distance_to_segment(np.array([200, 250]), start, end) < 0.1 * 400


@pytest.mark.parametrize("seed", range(8))
def test_bar_crosses_the_sevens_stem_about_halfway_down(seed):
    """Test that a barred seven gains a short, nearly level stroke across its stem (not its top bar)."""
    barred = bar_seven(_seven(), np.random.default_rng(seed))
    assert len(barred) == 2
    bar = barred[1]
    left, right = bar[0], bar[-1]
    assert abs(right[1] - left[1]) < 0.2 * (right[0] - left[0]), "nearly level"
    y = float(bar[:, 1].mean())
    assert 50 + 0.4 * 400 < y < 50 + 0.65 * 400, "halfway down the seven, below its top bar"
    stem_x = 400 + (200 - 400) * (y - 50) / 400
    assert left[0] < stem_x < right[0], "it crosses the stem"
    assert (right[0] - left[0]) < 300, "shorter than the top bar, so it does not become a 4's crossbar"


@pytest.mark.parametrize("seed", range(8))
def test_foot_sits_under_the_one_and_a_flag_tops_a_plain_stick(seed):
    """Test that a plain one gains a flag down-left from its top (drawn first) and a level foot centred under it."""
    stick = _stick()
    footed = foot_one(stick, np.random.default_rng(seed))
    assert len(footed) == 3
    flag, _, foot = footed
    assert np.allclose(flag[-1], [250, 50]) and flag[0][0] < 250 and flag[0][1] > 50
    assert abs(foot[0][1] - foot[-1][1]) < 1e-3 * 400 + 0.05 * (foot[-1][0] - foot[0][0])
    assert foot[:, 1].min() >= 450 - 0.05 * 400, "at the bottom of the stem"
    assert foot[0][0] < 250 < foot[-1][0] and abs((foot[0][0] + foot[-1][0]) / 2 - 250) < 5


def test_a_one_that_has_a_flag_gets_only_a_foot():
    """Test that a one already wider than a stick (it has its flag) is given a foot and no second flag."""
    flagged = [np.array([[150, 200], [250, 50], [250, 450]], np.float32)]
    assert len(foot_one(flagged, np.random.default_rng(0))) == 2


@pytest.mark.parametrize("label, strokes", [(0, _ring), (7, _seven), (1, _stick)])
def test_styles_are_deterministic_from_a_seed_and_vary_between_seeds(label, strokes):
    """Test that the same seed gives the same styled strokes, another seed other geometry, and 3 is left alone."""
    first = with_style(label, strokes(), np.random.default_rng(5))
    again = with_style(label, strokes(), np.random.default_rng(5))
    other = with_style(label, strokes(), np.random.default_rng(6))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))
    plain = strokes()
    assert with_style(3, plain, np.random.default_rng(5)) is plain
