"""The Draw page's corrections in AppTest: "Right" or "Wrong, it's a ..." stores the drawing in the bank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from digitlab.bank.records import DrawingFilter
from digitlab.bank.repository import DrawingBank
from tests.helpers.canvases import canvas_from_digit

PAGE = Path(__file__).resolve().parents[2] / "pages" / "draw.py"


@pytest.fixture(scope="module")
def model_entry(small_models_dir):
    from digitlab.store.registry import entry_for_path

    return entry_for_path(small_models_dir / "default.keras")


@pytest.fixture
def bank_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'drawings.sqlite'}"
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", url)
    return url


def draw(monkeypatch, entry, digit_image: np.ndarray) -> AppTest:
    import digitlab.ui.canvas

    canvas_image = None if digit_image is None else canvas_from_digit(digit_image)
    monkeypatch.setattr(digitlab.ui.canvas, "drawing_canvas", lambda *args, **kwargs: canvas_image)
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["selected_model"] = entry
    return at.run()


def test_wrong_then_a_digit_stores_the_drawing_with_that_label_and_undo_removes_it(
        monkeypatch, model_entry, bank_url, mnist):
    """Test that "Wrong, it's a 3" stores the drawing labelled 3 with the reading, and Undo takes it out again."""
    at = draw(monkeypatch, model_entry, mnist.x_test[0])  # a 7
    assert not at.exception
    reading = int(at.metric[0].value)
    label = 3 if reading != 3 else 5
    at.button(key=f"bank_label_{label}").click().run()
    assert not at.exception
    bank = DrawingBank(bank_url)
    [stored] = bank.drawings()
    assert (stored.label, stored.reading, stored.source, stored.model_sha256) == (
        label, reading, "draw", model_entry.sha256)
    assert stored.writer.startswith("visitor-") and stored.session == stored.writer
    assert len(stored.probabilities) == 10 and stored.mnist.max() > 200
    assert any(f"drawing #{stored.id}" in message.value for message in at.success)

    at.button(key="bank_undo").click().run()
    assert bank.count() == 0
    assert any("removed from the bank" in message.value for message in at.info)
    assert at.button(key="bank_right")  # the question is back for the same drawing


def test_right_stores_the_reading_as_the_label_under_the_writer_tag_which_is_kept(monkeypatch, model_entry, bank_url, mnist):
    """Test that "Right" stores the drawing labelled with the model's reading, under the writer tag typed in."""
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.text_input(key="bank_writer_input").input("Class 4B").run()
    at.button(key="bank_right").click().run()
    [stored] = DrawingBank(bank_url).drawings()
    assert stored.label == stored.reading == int(at.metric[0].value)
    assert stored.writer == "Class 4B"
    at.button(key="bank_undo").click().run()  # the panel asks again, the tag still filled in
    assert at.text_input(key="bank_writer_input").value == "Class 4B"
    at.button(key="bank_right").click().run()
    assert [drawing.writer for drawing in DrawingBank(bank_url).drawings()] == ["Class 4B"]


def test_a_visitor_over_the_save_limit_is_told_and_nothing_more_is_stored(monkeypatch, model_entry, bank_url, mnist):
    """Test that a visitor's second save within a minute (limit 1) is refused with a message."""
    import digitlab.ui.bank

    monkeypatch.setattr(digitlab.ui.bank, "viewer_is_owner", lambda: False)
    monkeypatch.setenv("DIGITLAB_BANK_SAVES_PER_MINUTE", "1")
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.button(key="bank_label_1").click().run()
    at.button(key="bank_undo")  # saved once
    at.session_state["bank_last_save"] = None  # as if the next drawing were on screen
    at.run()
    at.button(key="bank_label_2").click().run()
    assert any("in the last minute" in message.value for message in at.error)
    assert DrawingBank(bank_url).count(DrawingFilter()) == 1


def test_an_unwritable_bank_says_nothing_was_saved(monkeypatch, model_entry, tmp_path, mnist):
    """Test that a save to a database that cannot be opened shows a message instead of a traceback."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the database folder should be")
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", f"sqlite:///{blocker / 'drawings.sqlite'}")
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.button(key="bank_label_1").click().run()
    assert not at.exception
    assert any("Not saved" in message.value for message in at.error)


def test_a_second_answer_for_the_same_drawing_relabels_it_instead_of_storing_it_twice(
        monkeypatch, model_entry, bank_url, mnist):
    """Test that "Right" then "Wrong, it's a 3" on one drawing leaves one stored drawing, labelled 3."""
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    reading = int(at.metric[0].value)
    other = 3 if reading != 3 else 5
    at.button(key="bank_right").click().run()
    at.button(key="bank_right").click().run()
    assert any("already stored" in message.value for message in at.info)
    at.button(key=f"bank_label_{other}").click().run()

    [stored] = DrawingBank(bank_url).drawings()
    assert (stored.label, stored.reading) == (other, reading)
    assert any(f"drawing #{stored.id} (a {other}, read as {reading})" in message.value for message in at.success)


def test_answering_before_drawing_asks_for_a_drawing_and_stores_nothing(monkeypatch, model_entry, bank_url):
    """Test that the panel's buttons on an empty canvas say to draw first, and nothing reaches the bank."""
    at = draw(monkeypatch, model_entry, None)
    at.button(key="bank_label_4").click().run()
    assert not at.exception
    assert any("Draw a digit first" in message.value for message in at.info)
    assert not Path(bank_url.removeprefix("sqlite:///")).exists(), "the bank was not even opened"


def test_what_was_stored_shows_beside_its_own_drawing_only(monkeypatch, model_entry, bank_url, mnist):
    """Test that after a save and a new drawing, neither the stored message nor Undo is shown for the new one,
    so Undo can only remove the drawing on screen."""
    import digitlab.ui.canvas

    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.button(key="bank_right").click().run()
    assert any("Stored in the drawing bank" in message.value for message in at.success)
    assert "with the image, its strokes" not in at.success[0].value  # the fake canvas sent no strokes

    another = canvas_from_digit(mnist.x_test[1])
    monkeypatch.setattr(digitlab.ui.canvas, "drawing_canvas", lambda *args, **kwargs: another)
    at.run()  # the next stroke
    assert not at.success and not [button for button in at.button if button.key == "bank_undo"]
    assert DrawingBank(bank_url).count() == 1
