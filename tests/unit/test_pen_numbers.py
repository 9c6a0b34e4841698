"""Numbers built from real pen writers: what the number benchmark is measured on."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SHARED_PENDIGITS


@pytest.fixture(scope="module")
def pen_digits():
    if not SHARED_PENDIGITS.exists():
        pytest.skip(f"pen trajectories not found at {SHARED_PENDIGITS}")
    from digitlab.datasets.pendigits import read_pendigits

    return read_pendigits(SHARED_PENDIGITS)


def test_numbers_are_one_writers_digits_laid_out_left_to_right(pen_digits):
    """Test that each built number is 2-6 digits by one writer, drawn inside the wide canvas, its true
    boxes left to right at one shared height, and that some neighbours touch while others stand apart
    (and with the overlapping gaps of the stress set, some reach into each other)."""
    from digitlab.serving.number_segmentation import NUMBER_CANVAS_SIZE as NUMBER_CANVAS
    from digitlab.datasets.pen_numbers import OVERLAPPING_GAP_RANGE, build_numbers, digits_by_writer

    by_writer = digits_by_writer(pen_digits)
    touching_to_wide = _gaps(build_numbers(pen_digits, 120, seed=4), by_writer, NUMBER_CANVAS)
    assert touching_to_wide.min() > -0.03 and (touching_to_wide < 0.03).any() and touching_to_wide.max() > 0.4
    overlapping = _gaps(build_numbers(pen_digits, 120, seed=4, gap_range=OVERLAPPING_GAP_RANGE), by_writer,
                        NUMBER_CANVAS)
    assert overlapping.min() < -0.08 and overlapping.max() > 0.4


def _gaps(numbers, by_writer, canvas_size) -> np.ndarray:
    """Check each number's layout; return the gaps between neighbouring boxes in digit heights."""
    gaps = []
    for number in numbers:
        assert 2 <= len(number.text) <= 6 and len(number.boxes) == len(number.text)
        assert set(number.text) <= {str(d.label) for d in by_writer[number.writer]}
        assert number.canvas.shape == (canvas_size[1], canvas_size[0], 4)
        boxes = np.array(number.boxes)
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= canvas_size[0]).all()
        assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= canvas_size[1]).all()
        centres = (boxes[:, 0] + boxes[:, 2]) / 2
        assert (np.diff(centres) > 0).all()
        heights = boxes[:, 3] - boxes[:, 1]
        assert heights.max() <= 1.3 * heights.min()  # one height, give or take the writer's own
        assert len({stroke.width for stroke in number.strokes}) == 1  # one pen
        gaps.extend((boxes[1:, 0] - boxes[:-1, 2]) / np.median(heights))
    return np.array(gaps)


def test_same_seed_builds_the_same_numbers(pen_digits):
    """Test that a benchmark set is fixed by its seed, so runs are comparable."""
    from digitlab.datasets.pen_numbers import build_numbers

    first, second = build_numbers(pen_digits, 5, seed=9), build_numbers(pen_digits, 5, seed=9)
    assert [n.text for n in first] == [n.text for n in second]
    assert all(np.array_equal(a.canvas, b.canvas) for a, b in zip(first, second))
