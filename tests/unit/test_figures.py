"""The Draw page's figures: the probability chart built fast, and the model's view inlined in the page."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image

from digitlab.ui.figures.probabilities import (CHECKER_LEVELS, on_checkerboard, pixel_image, png_data_url,
                                               probability_chart)


def test_fast_chart_is_the_figure_plotly_would_validate():
    """Test that the chart built without validation equals the one plotly's validating constructor builds."""
    probabilities = np.array([0.01, 0.7, 0.05, 0.004, 0.1, 0.03, 0.02, 0.05, 0.026, 0.02])
    fast = probability_chart(probabilities)
    checked = probability_chart(probabilities, validate=True)
    assert fast.to_dict() == checked.to_dict()
    grey, top = fast.data
    assert (grey.marker.color, top.marker.color) == ("#A3A8B8", "#FF4B4B")
    assert list(top.y) == [0.0, 0.7] + [0.0] * 8  # only digit 1, the top one, is highlighted, at its own height
    assert fast.data[0].text[1] == "70%"
    assert fast.layout.barmode == "overlay"  # the red bar covers its grey one instead of standing beside it


def test_model_view_data_url_holds_the_enlarged_pixels():
    """Test that the inlined model view decodes to exactly the enlarged 28x28 image."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    enlarged = pixel_image(digit, 7)
    url = png_data_url(enlarged)
    assert url.startswith("data:image/png;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    np.testing.assert_array_equal(decoded, enlarged)


def test_labels_of_touching_digits_do_not_overlap():
    """Test that the boxed number picture puts the labels of digits whose boxes touch where both can be read, and each
    label clear of its own box's line."""
    from PIL import Image, ImageDraw

    from digitlab.serving.number_segmentation import DigitReading, NumberReading
    from digitlab.serving.predictor import Prediction
    from digitlab.ui.figures.numbers import box_outline, digit_label, digit_label_places, label_gap, reading_overlay

    def digit(value: int, box: tuple[int, int, int, int]) -> DigitReading:
        probabilities = np.full(10, 0.03)
        probabilities[value] = 0.73
        return DigitReading(box, Prediction(value, probabilities, np.zeros((28, 28), np.uint8)))

    # Four digits of a year written tight: boxes 30 px apart, narrower than a label.
    reading = NumberReading([digit(value, (40 + 30 * index, 60, 70 + 30 * index, 170))
                             for index, value in enumerate((2, 0, 2, 6))])
    canvas = np.zeros((230, 400, 4), np.uint8)
    picture = reading_overlay(canvas, reading)
    assert picture.shape == (230, 400, 3)
    size = max(14, 230 // 12)
    draw = ImageDraw.Draw(Image.new("RGB", (400, 230)))
    boxes = [draw.textbbox(place, digit_label(d), font_size=size)
             for d, place in zip(reading.digits, digit_label_places(draw, reading, size))]
    for index, first in enumerate(boxes):
        for second in boxes[index + 1:]:
            apart = first[2] <= second[0] or second[2] <= first[0] or first[3] <= second[1] or second[3] <= first[1]
            assert apart, f"labels {first} and {second} overlap"
    # Each label stands clear of its own box's line, above or under it (right on the line, it read as part of it).
    gap = label_gap(size)
    for label, digit_box in zip(boxes, (d.box for d in reading.digits)):
        _, outline_top, _, outline_bottom = box_outline(digit_box)
        assert label[3] <= outline_top - gap or label[1] >= outline_bottom + 1 + gap, (label, digit_box)


def test_a_see_through_upload_is_previewed_over_a_chequerboard_so_white_ink_shows():
    """Test that white ink on a transparent PNG (invisible on the page's white) is previewed over grey squares, the
    ink still white, and that an opaque image is previewed unchanged."""
    upload = np.zeros((64, 64, 4), np.uint8)
    upload[20:44, 30:34] = 255  # a white, opaque stroke; the rest transparent
    preview = on_checkerboard(upload)

    assert preview.shape == (64, 64, 3)
    assert (preview[20:44, 30:34] == 255).all(), "the ink as drawn"
    paper = preview[:16, :32, 0]
    assert set(np.unique(paper)) == set(CHECKER_LEVELS), "the see-through paper as two greys, neither white"
    opaque = np.dstack([np.full((8, 8, 3), 200, np.uint8), np.full((8, 8), 255, np.uint8)])
    assert on_checkerboard(opaque) is opaque
