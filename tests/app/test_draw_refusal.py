"""The Draw page when the model judges a drawing not a digit: it says so plainly, with no bars for a guess."""

from __future__ import annotations

import pytest

from tests.app.test_draw_page import chart_bars, draw_page, plotly_charts
from tests.helpers.canvases import canvas_from_digit
from tests.refusal_models import register_with_not_a_digit


@pytest.fixture(scope="module")
def refusal_entries(small_run, tmp_path_factory):
    directory = tmp_path_factory.mktemp("refusal-models")
    return {"refuser": register_with_not_a_digit(small_run, directory, "refuser", 30.0),
            "reader": register_with_not_a_digit(small_run, directory, "reader", -30.0)}


def test_refused_drawing_says_not_a_digit_without_a_chart(monkeypatch, refusal_entries, mnist):
    """Test that a drawing the model refuses gets a plain 'Not a digit' note, and neither a prediction nor bars."""
    at = draw_page(monkeypatch, refusal_entries["refuser"], canvas_from_digit(mnist.x_test[0]))

    assert not at.exception
    [warning] = at.warning
    assert warning.value.startswith("Not a digit.")
    assert "Draw a single digit from 0 to 9" in warning.value
    assert not at.metric
    assert not plotly_charts(at)


def test_model_with_not_a_digit_output_still_reads_digits(monkeypatch, refusal_entries, mnist):
    """Test that the same page with an 11-output model that accepts the drawing shows the digit and ten bars."""
    at = draw_page(monkeypatch, refusal_entries["reader"], canvas_from_digit(mnist.x_test[0]))

    assert not at.exception
    assert at.metric[0].label == "Prediction"
    assert chart_bars(at)["digits"] == [str(digit) for digit in range(10)]


def test_an_uploaded_photo_refused_says_to_upload_another_not_to_draw(refusal_entries, mnist):
    """Test that a photo the model refuses is told "Not a digit." with what to upload instead, not "Draw a single
    digit" (on Upload there is nothing to draw on), and no "does not look like a digit" said twice."""
    from tests.app.test_draw_page import upload_page
    from digitlab.bench.canvases import canvas_png

    at = upload_page(refusal_entries["refuser"], "photo.png", canvas_png(255 - mnist.x_test[0]), "image/png")

    assert not at.exception
    [warning] = at.warning
    assert warning.value == "Not a digit. Upload a photo of a single digit from 0 to 9, large and centred."
    assert not at.metric
