"""Canvas drawings are read on their strokes' bounding box alone, with exactly the result of reading them whole."""

from __future__ import annotations

import numpy as np
import pytest

import digitlab.serving.preprocess as preprocess_module
from digitlab.serving.ink import strokes_box, white_strokes_alpha
from digitlab.serving.preprocess import preprocess
from tests.conftest import SHARED_PENDIGITS


def read_whole(image) -> preprocess_module.Preprocessed:
    """preprocess with the strokes-box shortcut turned off: to_ink reads every pixel."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(preprocess_module, "strokes_box", lambda array: None)
        return preprocess(image)


def variants(canvas: np.ndarray) -> list[np.ndarray]:
    """A canvas drawing as the canvas sends it, plus the ways another canvas or browser might send it."""
    black_ink = canvas.copy()
    black_ink[:, :, :3] = 0
    faint = canvas.copy()
    faint[:, :, 3] = canvas[:, :, 3] // 3
    transparent_black = canvas.copy()
    transparent_black[canvas[:, :, 3] == 0] = 0  # what a browser's toDataURL leaves where nothing is drawn
    colour = canvas.copy()
    colour[:, :, 1] //= 2
    on_the_edge = np.roll(canvas, 140, axis=1)  # strokes cut by the edge: read whole
    return [canvas, black_ink, faint, transparent_black, colour, on_the_edge]


@pytest.fixture(scope="module")
def pen_canvases() -> list[np.ndarray]:
    if not SHARED_PENDIGITS.is_file():
        pytest.skip(f"pen digits not found at {SHARED_PENDIGITS}")
    from digitlab.datasets.pendigits import read_pendigits, render_on_canvas

    rng = np.random.default_rng(5)
    return [render_on_canvas(digit, rng) for digit in read_pendigits(SHARED_PENDIGITS)[::40]]


def test_pen_drawings_give_the_same_model_input_as_reading_them_whole(pen_canvases):
    """Test that every pen digit, in every variant, reaches the model exactly as when every pixel is read."""
    used_shortcut = 0
    for canvas in pen_canvases:
        # The plain canvas takes the shortest way: its alpha read as the ink's 8-bit levels.
        assert white_strokes_alpha(strokes_box(canvas)).max() == 255
        for image in variants(canvas):
            fast, whole = preprocess(image), read_whole(image)
            assert fast.reason == whole.reason
            np.testing.assert_array_equal(fast.mnist, whole.mnist)
            used_shortcut += strokes_box(image) is not None
    assert used_shortcut >= 3 * len(pen_canvases)  # the plain, black, faint and browser-style canvases


@pytest.mark.parametrize("alpha", [0, 1, 40])
def test_blank_and_dot_canvases_say_the_same_as_reading_them_whole(alpha):
    """Test that an empty canvas, a faint smudge and a tiny dot get the same answer either way."""
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[:, :, :3] = 255
    canvas[100:104, 100:104, 3] = alpha
    fast, whole = preprocess(canvas), read_whole(canvas)
    assert (fast.mnist is None) == (whole.mnist is None) and fast.reason == whole.reason


def test_a_canvas_drawings_ink_is_the_same_read_on_its_box_or_whole(pen_canvases):
    """Test that the ink Number mode reads from a canvas (computed on the strokes' box) is to_ink's, pixel
    for pixel, in every variant a canvas or browser might send."""
    from digitlab.serving.ink import ink_of_image, to_ink

    for canvas in pen_canvases[:20]:
        for image in variants(canvas):
            np.testing.assert_array_equal(ink_of_image(image), to_ink(image))
