"""Number mode of the Draw page in AppTest: the wide canvas replaced by real MNIST digits side by side."""

from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from digitlab.bench.canvases import canvas_png
from digitlab.serving.number_segmentation import read_number
from tests.app.test_draw_page import PAGE, clear_digits, model_entry, predictor  # noqa: F401 (fixtures)
from tests.helpers.canvases import canvas_from_digit

NUMBER_SOURCE_KEY = "input_source"


def number_page(monkeypatch, entry, drawn) -> AppTest:
    """The Draw page in Number mode, its wide canvas returning `drawn` ((image, strokes) or None)."""
    import digitlab.ui.canvas

    monkeypatch.setattr(digitlab.ui.canvas, "number_canvas", lambda *args, **kwargs: drawn)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = entry
    at.session_state["read_mode"] = "A number"
    return at.run()


def side_by_side(*digits: np.ndarray) -> np.ndarray:
    """MNIST digits drawn on canvases laid next to each other: one wide drawing."""
    return np.concatenate([canvas_from_digit(digit, scale=7) for digit in digits], axis=1)


def test_drawn_number_shows_number_boxes_and_bars_per_digit(monkeypatch, model_entry, predictor, clear_digits):
    """Test that a number drawn on the wide canvas is shown in large type, with the input boxed and a
    probability chart and model view for each digit, and the least certain digit named."""
    drawing = side_by_side(clear_digits[7], clear_digits[0], clear_digits[4])
    expected = read_number(predictor, drawing)
    assert expected.number == "704"

    at = number_page(monkeypatch, model_entry, (drawing, []))

    assert not at.exception and not at.error
    [metric] = at.metric
    assert (metric.label, metric.value) == ("Number", "704")
    [chart] = at.get("plotly_chart")  # one chart, a bar chart per digit
    figure = json.loads(chart.proto.spec)
    assert len(figure["data"]) == 3
    assert all(len(bars["y"]) == 10 for bars in figure["data"])
    assert len(at.image) == 1 + 3  # the boxed input, and what the model saw of each digit
    least = expected.digits[expected.least_certain[0]].prediction
    notes = [element.value for element in [*at.caption, *at.warning]]
    assert any("Least certain" in note and f"read as {least.digit}" in note for note in notes)


def test_empty_number_canvas_shows_prompt(monkeypatch, model_entry):
    """Test that Number mode with nothing drawn prompts for a number and shows no reading."""
    at = number_page(monkeypatch, model_entry, None)

    assert not at.exception
    assert any("Write a number" in info.value for info in at.info)
    assert not at.metric and not at.get("plotly_chart")


def test_mark_between_digits_is_reported(monkeypatch, model_entry, clear_digits):
    """Test that a dash between two digits is reported as not a digit, and the number leaves it out."""
    drawing = side_by_side(clear_digits[1], np.zeros((28, 28), np.uint8), clear_digits[7])
    drawing[130:142, 330:420, 3] = 255  # a dash on the middle canvas

    at = number_page(monkeypatch, model_entry, (drawing, []))

    assert at.metric[0].value == "17"
    assert any("not a digit" in info.value for info in at.info)


def test_uploaded_photo_of_a_number_is_read(model_entry, clear_digits):
    """Test that a photo of a number (dark ink on paper) uploaded in Number mode is read."""
    drawing = side_by_side(clear_digits[4], clear_digits[1])
    photo = 255 - drawing[:, :, 3]
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = model_entry
    at.session_state["read_mode"] = "A number"
    at.session_state[NUMBER_SOURCE_KEY] = "Upload"
    at.run()
    at.file_uploader(key="number_upload").set_value(("number.png", canvas_png(photo), "image/png"))
    at.run()

    assert not at.exception and not at.error
    assert at.metric[0].value == "41"


def test_number_mode_titles_the_page_and_a_second_click_on_it_keeps_it(monkeypatch, model_entry):
    """Test that Number mode's title says so, and clicking the selected mode again leaves that mode on."""
    at = number_page(monkeypatch, model_entry, None)
    assert [title.value for title in at.title] == ["Write a number"]

    at.button_group(key="read_mode").unselect("A number").run()

    assert not at.exception
    assert at.session_state["read_mode"] == "A number"
    assert [title.value for title in at.title] == ["Write a number"]
    assert at.button_group(key="read_mode").value == "A number"


def test_one_digit_mode_is_titled_draw_a_digit(monkeypatch, model_entry):
    """Test that the Draw page opens in One digit mode under the title "Draw a digit"."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = model_entry
    at.run()
    assert [title.value for title in at.title] == ["Draw a digit"]
    at.button_group[0].set_value("A number").run()
    assert [title.value for title in at.title] == ["Write a number"]
