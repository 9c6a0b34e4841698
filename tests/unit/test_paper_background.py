"""Photos' paper under uneven light: ink is read against the paper at each place, never the light itself."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from digitlab.serving.ink import INK_THRESHOLD, to_ink
from digitlab.serving.paper_background import dark_ink_on_light, local_contrast_ink, otsu_threshold
from digitlab.serving.preprocess import preprocess

HEIGHT, WIDTH = 300, 400


def _photo(light: np.ndarray, paper: float = 0.9, seed: int = 0) -> np.ndarray:
    """An opaque RGB picture of blank paper under the given light, with a camera's noise."""
    noise = np.random.default_rng(seed).normal(0, 0.01, light.shape)
    levels = np.clip(np.round((paper * light + noise) * 255), 0, 255).astype(np.uint8)
    return np.repeat(levels[:, :, None], 3, axis=2)


def _across(start: float, end: float) -> np.ndarray:
    return np.tile(np.linspace(start, end, WIDTH, dtype=np.float32), (HEIGHT, 1))


def _shadow(depth: float = 0.55, softness: float = 15.0) -> np.ndarray:
    """Light falling off a little left to right, and a soft shadow over the right third."""
    columns = np.arange(WIDTH, dtype=np.float32)
    shade = 1 - depth / (1 + np.exp(np.clip(-(columns - 0.66 * WIDTH) / softness, -50, 50)))
    return np.tile(shade, (HEIGHT, 1)) * _across(1.0, 0.85)


def _with_stroke(picture: np.ndarray, darkness: float, columns: slice) -> np.ndarray:
    """picture with an upright stroke that takes darkness of the light its paper gives back (a pencil's
    about half), 8 pixels wide and two thirds of the height, in columns."""
    picture = picture.copy()
    stroke = picture[HEIGHT // 6 : 5 * HEIGHT // 6, columns]
    stroke[:] = np.round(stroke * (1 - darkness)).astype(np.uint8)
    return picture


def test_a_gradient_with_no_ink_gives_no_ink():
    """Test that blank paper whose light falls from bright to dim across the picture has no ink anywhere."""
    assert not to_ink(_photo(_across(1.0, 0.45))).any()


def test_a_soft_shadow_over_blank_paper_gives_no_ink():
    """Test that a soft shadow across one side of blank paper, and a hard-edged one, are not ink, so a
    photo of blank paper has no digit."""
    for softness in (15.0, 1.0):
        picture = _photo(_shadow(softness=softness))
        assert not to_ink(picture).any()
        assert not preprocess(picture).has_digit


def test_a_stroke_in_the_shadow_is_ink_and_the_shadow_is_not():
    """Test that a faint stroke inside the shadow is ink while the paper around it, lit or shaded, is not."""
    picture = _with_stroke(_photo(_shadow()), 0.45, slice(330, 338))
    ink = to_ink(picture) > INK_THRESHOLD
    assert ink[HEIGHT // 2, 330:338].all()
    ink[:, 326:342] = False
    assert not ink.any()


def test_the_table_past_the_paper_edge_is_not_ink():
    """Test that a dark strip of table along one side of the picture is not read as ink (it would be
    read as a 1), while a stroke on the paper still is."""
    picture = _with_stroke(_photo(_across(1.0, 0.8)), 0.5, slice(180, 188))
    picture[:, :25] = 60  # the table, past the paper's left edge
    ink = to_ink(picture) > INK_THRESHOLD
    assert ink[HEIGHT // 2, 180:188].all()
    assert not ink[:, :60].any()


def test_a_grainy_table_that_comes_close_to_the_writing_is_not_ink():
    """Test that a table whose grain reads as blotches of ink, past an edge a few pixels from the first
    stroke (so the two form one group), is dropped while both strokes stay ink (it was read as a digit)."""
    picture = _with_stroke(_with_stroke(_photo(_across(1.0, 0.8)), 0.5, slice(50, 58)), 0.5, slice(200, 208))
    grain = ndimage.gaussian_filter(np.random.default_rng(1).normal(0, 1, (HEIGHT, 42)), 3)
    picture[:, :42] = np.clip(50 + 25 * grain / grain.std(), 0, 255).astype(np.uint8)[:, :, None]
    ink = to_ink(picture) > INK_THRESHOLD
    assert ink[HEIGHT // 2, 50:58].all() and ink[HEIGHT // 2, 200:208].all()
    assert not ink[:, :44].any()


def test_ink_side_is_found_under_a_shadow_for_either_polarity():
    """Test that dark ink on light paper and light ink on a dark ground are told apart even when a shadow
    darkens a third of the picture, where the border's median level would call the paper dark."""
    picture = _with_stroke(_photo(_shadow(depth=0.7)), 0.8, slice(150, 158))
    gray = picture[:, :, 0].astype(np.float32) / 255
    assert dark_ink_on_light(gray)
    assert not dark_ink_on_light(1.0 - gray)
    inverted = to_ink(255 - picture) > INK_THRESHOLD
    assert inverted[HEIGHT // 2, 150:158].all() and inverted.sum() < 2 * 8 * (2 * HEIGHT // 3)


def test_drawings_with_even_paper_keep_the_whole_picture_reading():
    """Test that a picture whose border is one level (a saved drawing, an MNIST digit) is left to the
    whole-picture threshold: local_contrast_ink declines it."""
    drawing = np.zeros((28, 28), np.float32)
    drawing[6:22, 12:16] = 1.0
    assert local_contrast_ink(drawing) is None


def test_otsu_threshold_splits_two_levels():
    """Test that Otsu's threshold falls between two well-separated levels, in the middle of the gap between
    them rather than at the edge of either (where noise of the larger would cross it)."""
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(0.05, 0.02, 9000), rng.normal(0.6, 0.05, 1000)]).clip(0, 1)
    assert 0.2 < otsu_threshold(values) < 0.4


def test_a_pencil_stroke_broken_by_its_grain_is_one_piece_of_ink():
    """Test that an upright stroke with two-pixel breaks (a pencil's grain skipping) comes out as one piece of
    ink, so a number's reader does not take its pieces for separate digits."""
    from scipy import ndimage

    picture = _with_stroke(_photo(_shadow()), 0.5, slice(150, 158))
    for row in (110, 150, 190):
        picture[row : row + 2, 150:158] = _photo(_shadow())[row : row + 2, 150:158]
    ink = to_ink(picture) > INK_THRESHOLD
    _, pieces = ndimage.label(ink, structure=np.ones((3, 3), bool))
    assert pieces == 1 and ink[HEIGHT // 6 + 2 : 5 * HEIGHT // 6 - 2, 154].all()
