"""Real pen trajectories: parsed from UNIPEN text, split by writer, drawn as the canvas draws."""

import numpy as np
import pytest

from digitlab.datasets.pendigits import HELD_OUT_WRITERS, read_pendigits, render_on_canvas, split_by_writer
from tests.conftest import SHARED_PENDIGITS

SAMPLE = """.SEGMENT DIGIT 0 ? "7"
.COMMENT 7 3 1
.PEN_DOWN
 100  400
 300  400
 150  100
.PEN_UP
.DT 100
.SEGMENT DIGIT 1-2 ? "4"
.COMMENT 4 12 1
.PEN_DOWN
 100  400
 100  250
 300  250
.PEN_UP
.PEN_DOWN
 250  400
 250  100
.PEN_UP
"""


def test_unipen_text_is_parsed_into_labelled_strokes_with_y_pointing_down(tmp_path):
    """Test that each segment becomes a digit with its label, writer and strokes, y flipped for the screen."""
    path = tmp_path / "sample.tra"
    path.write_text(SAMPLE)
    seven, four = read_pendigits(path)

    assert (seven.label, seven.writer, len(seven.strokes)) == (7, 3, 1)
    assert (four.label, four.writer, len(four.strokes)) == (4, 12, 2)
    assert seven.strokes[0][0].tolist() == [100.0, 100.0], "y = 500 - 400"


def test_a_drawing_is_white_ink_on_a_transparent_canvas_of_the_canvas_size(tmp_path):
    """Test that a rendered digit is a 280x280 RGBA canvas with ink inside it and varied brush widths."""
    path = tmp_path / "sample.tra"
    path.write_text(SAMPLE)
    digit = read_pendigits(path)[1]
    rng = np.random.default_rng(0)
    drawings = [render_on_canvas(digit, rng) for _ in range(5)]

    assert all(drawing.shape == (280, 280, 4) for drawing in drawings)
    inked = [int((drawing[:, :, 3] > 128).sum()) for drawing in drawings]
    assert min(inked) > 300 and len(set(inked)) > 1


@pytest.mark.skipif(not SHARED_PENDIGITS.exists(), reason="needs ../shared/data/pendigits-orig.tra (real pen drawings)")
def test_the_held_out_writers_are_on_one_side_only():
    """Test that the split puts every digit of a held-out writer on the held-out side and no writer on both."""
    training, held_out = split_by_writer(read_pendigits(SHARED_PENDIGITS))

    assert {digit.writer for digit in held_out} == set(HELD_OUT_WRITERS)
    assert not {digit.writer for digit in training} & {digit.writer for digit in held_out}
    assert len(training) + len(held_out) == 7494 and len(held_out) > 6 * 200
