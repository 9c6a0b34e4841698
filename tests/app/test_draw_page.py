"""The Draw page in AppTest: the canvas wrapper is replaced by real MNIST digits drawn on a canvas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from digitlab.bench.canvases import canvas_png
from digitlab.ui.figures.probabilities import OTHER_COLOR, TOP_COLOR
from tests.helpers.canvases import canvas_from_digit

PAGE = Path(__file__).resolve().parents[2] / "pages" / "draw.py"
SOURCE_KEY = "input_source"
CLEAR_CONFIDENCE = 0.95  # test digits the model reads at least this surely


@pytest.fixture(scope="module")
def model_entry(small_models_dir):
    """The registry entry of the small trained model, as the sidebar would hand it to the page."""
    from digitlab.store.registry import entry_for_path

    entry = entry_for_path(small_models_dir / "default.keras")
    assert entry.usable, entry.problem
    return entry


@pytest.fixture(scope="module")
def predictor(model_entry):
    from digitlab.serving.predictor import Predictor

    return Predictor.from_file(model_entry.path, model_entry.sha256)


@pytest.fixture(scope="module")
def clear_digits(mnist, predictor) -> dict[int, np.ndarray]:
    """For digits 0, 1, 4 and 7: the first MNIST test image the model reads surely and correctly."""
    found = {}
    for image, label in zip(mnist.x_test[:3000], mnist.y_test[:3000]):
        label = int(label)
        if label in (0, 1, 4, 7) and label not in found:
            prediction = predictor.predict_image(canvas_from_digit(image))
            if prediction.digit == label and prediction.confidence >= CLEAR_CONFIDENCE:
                found[label] = image
    assert sorted(found) == [0, 1, 4, 7]
    return found


@pytest.fixture(scope="module")
def unsure_digit(mnist, predictor) -> np.ndarray:
    """An MNIST test image the model is unsure about once drawn on the canvas."""
    for image in mnist.x_test[:3000]:
        if predictor.predict_image(canvas_from_digit(image)).is_unsure:
            return image
    pytest.fail("the model is sure of all of the first 3000 test digits; no unsure example to show")


def draw_page(monkeypatch, entry, canvas_image) -> AppTest:
    """The Draw page, with the model entry selected and the canvas returning `canvas_image`."""
    import digitlab.ui.canvas

    monkeypatch.setattr(digitlab.ui.canvas, "drawing_canvas", lambda *args, **kwargs: canvas_image)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = entry
    return at.run()


def upload_page(entry, name: str, data: bytes, mime: str) -> AppTest:
    """The Draw page reading from Upload after uploading a file."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = entry
    at.session_state[SOURCE_KEY] = "Upload"
    at.run()
    at.file_uploader[0].set_value((name, data, mime))
    return at.run()


def chart_messages(at: AppTest) -> list[dict]:
    """What the page sent its probability chart component (AppTest cannot draw a custom component)."""
    return [json.loads(element.proto.json) for element in at.get("bidi_component")
            if element.proto.component_name == "digitlab.probability_chart"]


def plotly_charts(at: AppTest) -> list:
    """The probability charts showing bars: the chart component with a figure, or a Streamlit plotly chart."""
    return [message for message in chart_messages(at) if message["probabilities"] is not None] + at.get("plotly_chart")


def chart_bars(at: AppTest) -> dict:
    """The bar trace and y axis of the page's probability chart, as sent to the browser."""
    [message] = plotly_charts(at)
    figure = message["figure"]
    bars, top_bar = figure["data"]  # grey bars, and the top digit's bar in red laid over its own
    return {"digits": bars["x"], "heights": bars["y"], "colors": [bars["marker"]["color"], top_bar["marker"]["color"]],
            "highlighted": [digit for digit, height in enumerate(top_bar["y"]) if height > 0],
            "highlight_heights": [height for height in top_bar["y"] if height > 0],
            "y_range": figure["layout"]["yaxis"]["range"], "probabilities": message["probabilities"]}


@pytest.mark.parametrize("label", [0, 1, 4, 7])
def test_drawn_digit_shows_its_prediction_and_chart(monkeypatch, model_entry, predictor, clear_digits, label):
    """Test that a clearly drawn digit is named by the Prediction metric, with its probability and chart."""
    drawing = canvas_from_digit(clear_digits[label])
    expected = predictor.predict_image(drawing)

    at = draw_page(monkeypatch, model_entry, drawing)

    assert not at.exception
    assert not at.error
    [metric] = at.metric
    assert metric.label == "Prediction"
    assert metric.value == str(label) == str(expected.digit)
    assert f"{expected.confidence:.0%}" in metric.proto.delta
    bars = chart_bars(at)
    assert bars["digits"] == [str(digit) for digit in range(10)]
    assert bars["heights"] == bars["probabilities"] == pytest.approx(expected.probabilities.tolist(), abs=1e-9)
    assert bars["y_range"] == [0, 1]
    assert bars["highlighted"] == [label] and bars["highlight_heights"] == [bars["heights"][label]]
    assert bars["colors"] == [OTHER_COLOR, TOP_COLOR]
    assert len(at.image) == 1  # the enlarged 28x28 the model saw
    assert not at.warning  # a sure answer carries no "unsure" note


def test_unsure_reading_names_the_runner_up(monkeypatch, model_entry, predictor, unsure_digit):
    """Test that when the model is unsure the page says so and names its second choice."""
    drawing = canvas_from_digit(unsure_digit)
    expected = predictor.predict_image(drawing)

    at = draw_page(monkeypatch, model_entry, drawing)

    assert at.metric[0].value == str(expected.digit)
    [warning] = at.warning
    assert "unsure" in warning.value
    assert f"a {expected.runner_up}" in warning.value


def test_empty_canvas_shows_prompt_and_no_prediction(monkeypatch, model_entry):
    """Test that an empty canvas shows a drawing prompt and no digit read yet, with empty bars where the
    reading's bars will stand, so that the first stroke only changes their heights."""
    at = draw_page(monkeypatch, model_entry, None)

    assert not at.exception
    assert any("Draw a digit" in info.value for info in at.info)
    [metric] = at.metric
    assert (metric.label, metric.value, metric.delta) == ("Prediction", "–", "draw a digit")
    assert not plotly_charts(at)
    [empty] = chart_messages(at)
    assert empty["probabilities"] is None
    assert empty["figure"]["data"][0]["y"] == [0.0] * 10 and set(empty["figure"]["data"][0]["text"]) == {""}
    assert empty["figure"]["data"][1]["y"] == [0.0] * 10  # no digit highlighted


def test_stray_dot_says_why_there_is_no_prediction(monkeypatch, model_entry):
    """Test that a canvas holding only a dot explains there is too little ink instead of guessing."""
    drawing = np.zeros((280, 280, 4), np.uint8)
    drawing[..., 3] = 255
    drawing[140:143, 140:143, :3] = 255

    at = draw_page(monkeypatch, model_entry, drawing)

    assert not at.exception
    assert any("too little ink" in info.value for info in at.info)
    assert not at.metric
    assert not plotly_charts(at)


def test_missing_model_shows_error(monkeypatch):
    """Test that with no model selected the page shows an error instead of failing."""
    at = draw_page(monkeypatch, None, None)

    assert not at.exception
    assert "no model" in at.error[0].value
    assert not at.metric


def test_unloadable_model_shows_its_problem(monkeypatch, tmp_path):
    """Test that a broken model entry shows the reason it cannot be used, and the page stays up."""
    from digitlab.store.registry import ModelEntry

    broken = ModelEntry("broken", tmp_path / "broken.keras", {}, "the model file broken.keras is missing")
    at = draw_page(monkeypatch, broken, None)

    assert not at.exception
    assert "broken.keras is missing" in at.error[0].value
    assert not at.metric


def test_uploaded_photo_is_predicted_like_a_drawing(model_entry, clear_digits):
    """Test that an uploaded PNG of dark ink on white paper is read as its digit."""
    photo = 255 - np.asarray(Image.fromarray(clear_digits[7]).resize((112, 112), Image.Resampling.BILINEAR))

    at = upload_page(model_entry, "seven.png", canvas_png(photo), "image/png")

    assert not at.exception
    assert not at.error
    assert at.metric[0].label == "Prediction"
    assert at.metric[0].value == "7"
    assert len(plotly_charts(at)) == 1


def test_the_draw_upload_switch_shows_only_the_input_chosen(monkeypatch, model_entry, clear_digits):
    """Test that the page opens on Draw (the canvas, no uploader), that choosing Upload shows the uploader and
    runs no canvas, and that Draw brings the canvas back; the choice holds across One digit and A number."""
    import digitlab.ui.canvas

    canvases = []
    monkeypatch.setattr(digitlab.ui.canvas, "drawing_canvas", lambda *a, **k: canvases.append("digit") or None)
    monkeypatch.setattr(digitlab.ui.canvas, "number_canvas", lambda *a, **k: canvases.append("number") or None)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = model_entry
    at.run()
    assert at.button_group(key=SOURCE_KEY).value == "Draw" and canvases == ["digit"] and not at.file_uploader

    at.button_group(key=SOURCE_KEY).set_value("Upload").run()
    assert canvases == ["digit"], "no canvas runs while Upload is chosen"
    assert [uploader.label for uploader in at.file_uploader] == ["Photo or scan of one digit"]
    assert "Upload a PNG or JPEG photo or scan of one handwritten digit." in [info.value for info in at.info]

    at.button_group(key=SOURCE_KEY).set_value("Draw").run()
    assert canvases == ["digit", "digit"] and not at.file_uploader

    at.button_group(key="read_mode").set_value("A number").run()
    assert canvases[-1] == "number"
    at.button_group(key=SOURCE_KEY).set_value("Upload").run()
    assert [uploader.label for uploader in at.file_uploader] == ["Photo or scan of a number"]
    assert canvases.count("number") == 1
    at.button_group(key="read_mode").set_value("One digit").run()
    assert at.button_group(key=SOURCE_KEY).value == "Upload"
    assert [uploader.label for uploader in at.file_uploader] == ["Photo or scan of one digit"]
    assert not at.exception


def test_bad_upload_shows_error_and_page_keeps_working(model_entry, clear_digits):
    """Test that a file that is not an image gets a clear error, and a good upload afterwards still works."""
    at = upload_page(model_entry, "digit.png", b"this is not an image", "image/png")

    assert not at.exception
    [error] = at.error
    assert "digit.png" in error.value and "not a PNG or JPEG" in error.value
    assert not at.metric

    at.file_uploader[0].set_value(("one.png", canvas_png(255 - clear_digits[1]), "image/png"))
    at.run()
    assert not at.error
    assert at.metric[0].value == "1"


def test_several_visitors_drawing_in_turn_each_get_their_own_digit(monkeypatch, model_entry, clear_digits):
    """Test that four open Draw page sessions, their strokes interleaved, each show their own canvas's digit.

    AppTest sessions share one process-wide test runtime, so their script runs cannot overlap in time
    here; predictions from many threads at once are covered by tests/unit/test_concurrency.py.
    """
    import streamlit as st

    import digitlab.ui.canvas

    canvases = {label: canvas_from_digit(image) for label, image in clear_digits.items()}
    # The patched canvas hands each session the drawing of the digit named in its own session state.
    monkeypatch.setattr(digitlab.ui.canvas, "drawing_canvas",
                        lambda *args, **kwargs: canvases[st.session_state["drawn_digit"]])
    sessions = {}
    for label in canvases:
        at = AppTest.from_file(PAGE, default_timeout=60)
        at.session_state["selected_model"] = model_entry
        at.session_state["drawn_digit"] = label
        sessions[label] = at
    for _ in range(3):  # a few strokes each, taking turns
        for at in sessions.values():
            at.run()

    assert {label: at.metric[0].value for label, at in sessions.items()} == {label: str(label) for label in canvases}


def test_an_image_sent_from_evaluate_is_read_on_the_upload_tab(model_entry, predictor, clear_digits):
    """Test that a test image the Evaluate page sends opens under Upload with its caption and reading."""
    from digitlab.ui.digit_reading import SENT_IMAGE_KEY

    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = model_entry
    at.session_state[SOURCE_KEY] = "Upload"
    at.session_state[SENT_IMAGE_KEY] = (clear_digits[4], "MNIST test image 42 (a 4)")
    at.run()

    assert not at.exception, [e.value for e in at.exception]
    assert at.image[0].captions == ["MNIST test image 42 (a 4)"]
    metric = {m.label: m.value for m in at.metric}
    assert metric["Prediction"] == str(predictor.predict_image(clear_digits[4]).digit) == "4"
    # The same ten probabilities Evaluate gave it (it reads the test set as it is), not those of the image
    # preprocessed again as a drawing would be, whose ink moves.
    [shown] = [message["probabilities"] for message in chart_messages(at)]
    assert shown == pytest.approx(predictor.predict_mnist(clear_digits[4][None])[0].tolist(), abs=1e-6)


def test_a_new_stroke_updates_the_same_chart(monkeypatch, model_entry, predictor, clear_digits):
    """Test that from the empty page through two readings the chart keeps one element and only its values
    change, so the browser redraws the chart it has instead of mounting a new one each stroke."""
    import digitlab.ui.canvas

    drawings = iter([None, canvas_from_digit(clear_digits[1]), canvas_from_digit(clear_digits[7])])
    current = {}
    monkeypatch.setattr(digitlab.ui.canvas, "drawing_canvas", lambda *args, **kwargs: current["drawing"])
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = model_entry
    ids, sent = [], []
    for drawing in drawings:
        current["drawing"] = drawing
        at.run()
        [chart] = [element for element in at.get("bidi_component")
                   if element.proto.component_name == "digitlab.probability_chart"]
        ids.append(chart.proto.id)
        sent.append(json.loads(chart.proto.json)["probabilities"])

    assert len(set(ids)) == 1
    assert sent[0] is None
    assert sent[1] == pytest.approx(predictor.predict_image(canvas_from_digit(clear_digits[1])).probabilities.tolist())
    assert sent[2] == pytest.approx(predictor.predict_image(canvas_from_digit(clear_digits[7])).probabilities.tolist())


FORGED_CANVAS_MESSAGES = {
    "data-url-without-base64": {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": "data:image/png,xyz"}},
    "bad-base64": {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": "data:image/png;base64,@@@"}},
    "raw-is-a-list": {"drawing": {"raw": [1, 2], "data": None}},
    "drawing-is-text": {"drawing": "hello"},
    "data-is-a-number": {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": 5}},
}


@pytest.mark.parametrize("message", FORGED_CANVAS_MESSAGES.values(), ids=FORGED_CANVAS_MESSAGES.keys())
def test_a_forged_canvas_message_is_an_unreadable_drawing_not_a_broken_page(model_entry, message):
    """Test that a canvas message the component never sends (a hostile client's websocket) leaves the page
    working: no exception, the canvas still there, and a warning that the drawing could not be read."""
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = model_entry
    at.run()
    canvas_id = next(element.proto.id for element in at.get("bidi_component")
                     if "drawable_canvas" in element.proto.component_name)
    states = at._tree.get_widget_states()
    forged = states.widgets.add()
    forged.id, forged.json_value = canvas_id, json.dumps(message)
    at = at._run(widget_state=states)

    assert not at.exception, [exception.value for exception in at.exception]
    assert any("drawable_canvas" in element.proto.component_name for element in at.get("bidi_component"))
    if message.get("drawing", {}) != {"raw": [1, 2], "data": None}:  # a list of strokes is just no strokes
        assert any("could not be read" in warning.value for warning in at.warning)
    [metric] = at.metric
    assert metric.value == "–"
