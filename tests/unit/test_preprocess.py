"""Preprocessing: any digit image becomes an MNIST-style 28x28, and blanks become "no digit"."""

import numpy as np
import pytest
from PIL import Image, ImageDraw

from digitlab.serving.ink import to_ink
from digitlab.serving.preprocess import MNIST_SIZE, preprocess, stroke_width
from tests.helpers.canvases import canvas_from_digit


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.indices(image.shape)
    total = image.sum()
    return float((ys * image).sum() / total), float((xs * image).sum() / total)


def draw_seven(size=280, width=18, background=0, ink=255, box=(60, 50, 220, 240)) -> np.ndarray:
    image = Image.new("L", (size, size), background)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = box
    draw.line([(left, top), (right, top), (left + (right - left) // 3, bottom)], fill=ink, width=width, joint="curve")
    return np.asarray(image)


def test_blank_canvas_is_no_digit():
    """Test that an empty transparent canvas gives no prediction input and a reason."""
    result = preprocess(np.zeros((280, 280, 4), np.uint8))
    assert not result.has_digit and "blank" in result.reason


def test_single_dot_is_no_digit():
    """Test that a stray click (a tiny dot) is not read as a digit."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[140:143, 140:143] = 255
    assert not preprocess(canvas).has_digit


def test_faint_noise_is_no_digit():
    """Test that low-contrast paper texture is treated as blank."""
    rng = np.random.default_rng(0)
    paper = (230 + rng.integers(0, 20, (200, 200))).astype(np.uint8)
    assert not preprocess(paper).has_digit


@pytest.mark.parametrize("layout", ["white_on_black", "black_on_white", "transparent_rgba", "black_background_rgba"])
def test_polarity_is_detected(layout):
    """Test that white-on-black, dark-on-light and canvas RGBA drawings all give the same bright-on-black digit."""
    seven = draw_seven()
    if layout == "white_on_black":
        image = seven
    elif layout == "black_on_white":
        image = 255 - seven
    elif layout == "transparent_rgba":
        image = np.dstack([np.full((280, 280, 3), 255, np.uint8), seven])
    else:
        image = np.dstack([seven, seven, seven, np.full((280, 280), 255, np.uint8)])
    result = preprocess(image)
    reference = preprocess(seven).mnist
    assert result.mnist.shape == (MNIST_SIZE, MNIST_SIZE) and result.mnist.dtype == np.uint8
    assert result.mnist[0, :].max() == 0 and result.mnist.max() == 255  # black border, bright ink
    assert np.abs(result.mnist.astype(int) - reference.astype(int)).mean() < 3


@pytest.mark.parametrize("box", [(10, 10, 60, 70), (200, 190, 270, 270), (100, 100, 130, 140), (5, 5, 275, 275)])
def test_digit_is_fitted_to_20px_and_centred(box):
    """Test that off-centre, tiny and huge drawings all come out 20 px tall and centred by mass."""
    result = preprocess(draw_seven(box=box, width=6 if box[2] - box[0] < 60 else 14))
    ink_rows = np.flatnonzero(result.mnist.max(axis=1) > 30)
    assert 18 <= ink_rows[-1] - ink_rows[0] + 1 <= 21
    com_y, com_x = centre_of_mass(result.mnist.astype(float))
    assert abs(com_y - 13.5) <= 1.0 and abs(com_x - 13.5) <= 1.0


def test_aspect_ratio_is_kept_for_a_one():
    """Test that a tall thin stroke stays thin (not stretched into a block)."""
    canvas = np.zeros((280, 280), np.uint8)
    canvas[40:240, 130:148] = 255
    result = preprocess(canvas).mnist
    ink_cols = np.flatnonzero(result.max(axis=0) > 30)
    assert len(ink_cols) <= 6


@pytest.mark.parametrize("brush", [3, 100])
def test_thin_and_thick_strokes_reach_mnist_widths(brush):
    """Test that a hairline or a marker-blob stroke is normalised to an MNIST-like stroke width."""
    result = preprocess(draw_seven(width=brush)).mnist
    big = np.asarray(Image.fromarray(result).resize((112, 112), Image.Resampling.BILINEAR))
    width = stroke_width(big > 0.35 * 255) / 4
    # Drawn, these strokes would be about 0.3 and 9 MNIST pixels wide.
    assert 2.0 <= width <= 5.0, width


def test_mnist_digit_pasted_into_canvas_comes_back(mnist):
    """Test that an MNIST test digit, enlarged and pasted off-centre into a canvas, survives preprocessing."""
    for index in range(20):
        original = mnist.x_test[index]
        canvas = canvas_from_digit(original, scale=6, offset=(25, -30))
        restored = preprocess(canvas).mnist.astype(float)
        # Centring by mass may land a pixel away from MNIST's own placement: allow a 1 px shift.
        similarity = max(
            np.corrcoef(original.ravel().astype(float), np.roll(restored, (dy, dx), axis=(0, 1)).ravel())[0, 1]
            for dy in (-1, 0, 1) for dx in (-1, 0, 1)
        )
        assert similarity > 0.85, (index, similarity)


def test_photo_with_uneven_paper_reads_ink_as_bright():
    """Test that dark ink on grey-ish paper becomes bright ink on black."""
    seven = draw_seven()
    photo = (200 - (seven.astype(int) * 170 // 255)).astype(np.uint8)
    photo = np.dstack([photo, photo, (photo * 0.95).astype(np.uint8)])
    ink = to_ink(photo)
    assert ink[0, 0] == 0.0 and ink[seven > 128].mean() > 0.9


def test_wrong_array_shape_is_a_clear_error():
    """Test that a forged array of the wrong shape is refused with a message, not an IndexError."""
    with pytest.raises(ValueError, match="shape"):
        preprocess(np.zeros((280, 280, 7), np.uint8))
