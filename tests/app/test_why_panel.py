"""The Draw page's Why? panel in AppTest: closed it computes nothing; open it shows saliency, neighbours, what-ifs, layers."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers.canvases import canvas_from_digit

PAGE = Path(__file__).resolve().parents[2] / "pages" / "draw.py"
PANEL_KEY = "why_panel"


@pytest.fixture(scope="module")
def model_entry(small_models_dir):
    from digitlab.store.registry import entry_for_path

    entry = entry_for_path(small_models_dir / "default.keras")
    assert entry.usable, entry.problem
    return entry


def draw_page(monkeypatch, entry, canvas_image, panel_open: bool) -> AppTest:
    import digitlab.ui.canvas
    import digitlab.ui.why_panel

    monkeypatch.setattr(digitlab.ui.canvas, "drawing_canvas", lambda *args, **kwargs: canvas_image)
    monkeypatch.setattr(digitlab.ui.why_panel, "TRAINING_DIGITS", 500)  # an index of 60,000 is too slow for a test
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["selected_model"] = entry
    if panel_open:
        at.session_state[PANEL_KEY] = True
    return at.run()


def test_closed_panel_computes_nothing(monkeypatch, model_entry, mnist):
    """Test that with the panel closed the page shows its label and no explanation is computed."""
    import digitlab.explain.explainer

    def fail(*args, **kwargs):
        raise AssertionError("an explanation was computed while the panel was closed")

    monkeypatch.setattr(digitlab.explain.explainer.Explainer, "explain", fail)
    at = draw_page(monkeypatch, model_entry, canvas_from_digit(mnist.x_test[0]), panel_open=False)
    assert not at.exception
    assert [expander.label for expander in at.expander] == ["Why this answer? What the model looked at, and what it resembles"]
    assert at.metric[0].value == "7"


def test_open_panel_shows_saliency_neighbours_what_ifs_and_feature_maps(monkeypatch, model_entry, mnist):
    """Test that opening the panel shows where the ink counted, similar training digits, what-ifs and each layer."""
    at = draw_page(monkeypatch, model_entry, canvas_from_digit(mnist.x_test[0]), panel_open=True)
    assert not at.exception
    panel = at.expander[0]
    text = " ".join(element.value for element in panel.markdown)
    for heading in ("Where the ink counted", "most similar MNIST training digits", "What if the drawing",
                    "What each layer sees"):
        assert heading in text
    captions = " ".join(element.value for element in panel.caption)
    assert "Red ink argued for 7" in captions
    assert "are 7s" in captions
    pictures = [caption for image in panel.image for caption in image.captions]
    assert any(caption.startswith("shifted 4 px left: ") for caption in pictures)
    assert any(caption.startswith("thinner: ") for caption in pictures)
    assert any("26 × 26 × 32" in caption for caption in pictures)  # cnn-small's convolution
    assert any("64 hidden units" in caption for caption in pictures)
    assert sum(caption.count(" · #") for caption in pictures) == 8  # eight neighbours: label · similarity · #index



def test_the_first_explanation_says_what_it_is_doing_and_later_ones_go_straight_to_it(monkeypatch, model_entry,
                                                                                       mnist, tmp_path):
    """Test that opening the panel for a model the first time shows a status box naming each slow step (TensorFlow
    and the Keras file, building the nearest-digit index once, the explanation) and how long it took, and that the
    next reading is explained without it."""
    monkeypatch.setenv("DIGITLAB_CACHE", str(tmp_path / "cache"))  # no index built by an earlier test
    at = draw_page(monkeypatch, model_entry, canvas_from_digit(mnist.x_test[0]), panel_open=True)
    assert not at.exception

    assert len(at.status) == 1
    status = at.status[0]
    assert status.label.startswith("Ready in ") and "later explanations of this model are quick" in status.label
    steps = " ".join(str(element.value) for element in status.markdown)
    assert "Loading TensorFlow and the model's Keras file" in steps
    assert "Building the index of the nearest training digits" in steps and "once per model" in steps
    assert "Computing where the ink counted" in steps
    assert "Where the ink counted" in " ".join(element.value for element in at.expander[0].markdown)

    at.run()
    assert not at.exception and len(at.status) == 0, "the next explanation needs no status box"


def test_the_panel_is_offered_before_any_drawing_and_asks_for_one(monkeypatch, model_entry):
    """Test that an empty canvas already shows the Why? panel (it no longer appears only after the first stroke), and
    that opened before anything is drawn it says to draw a digit instead of explaining nothing."""
    at = draw_page(monkeypatch, model_entry, None, panel_open=False)
    assert not at.exception
    assert [expander.label for expander in at.expander] == ["Why this answer? What the model looked at, and what it resembles"]
    at = draw_page(monkeypatch, model_entry, None, panel_open=True)
    assert not at.exception
    assert [info.value for info in at.expander[0].info] == ["Draw a digit: this panel then shows why the model reads "
                                                           "it as it does."]
