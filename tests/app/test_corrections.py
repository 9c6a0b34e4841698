"""The Draw page's corrections in AppTest: "Right" or "Wrong, it's a ..." stores the drawing in the bank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from digitlab.bank.records import DrawingFilter
from digitlab.bank.repository import DrawingBank
from tests.databases import BACKENDS, fresh_database_url
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


def test_wrong_then_a_digit_stores_the_drawing_with_that_label_and_take_back_removes_it(
        monkeypatch, model_entry, bank_url, mnist):
    """Test that "Wrong, it's a 3" stores the drawing labelled 3 with the reading, and Take back takes it out again."""
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

    at.button(key="bank_take_back").click().run()
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
    at.button(key="bank_take_back").click().run()  # the panel asks again, the tag still filled in
    assert at.text_input(key="bank_writer_input").value == "Class 4B"
    at.button(key="bank_right").click().run()
    assert [drawing.writer for drawing in DrawingBank(bank_url).drawings()] == ["Class 4B"]


def test_a_writer_tag_the_bank_refuses_is_said_at_once_and_answers_still_store_under_the_tag_in_use(
        monkeypatch, model_entry, bank_url, mnist):
    """Test that typing a tag the bank cannot store is refused as it is typed (not at each answer), the answer
    after it is stored under the tag in use, and a good tag afterwards is taken."""
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.text_input(key="bank_writer_input").input("Class 4B").run()
    at.text_input(key="bank_writer_input").input("Zoë <script>").run()
    [problem] = [element.value for element in at.error if "writer tag must be" in element.value]
    assert "stored under Class 4B until it is changed" in problem
    assert not any("<script>" in element.value for element in at.caption if "under the writer tag" in element.value)
    at.button(key="bank_right").click().run()
    assert [drawing.writer for drawing in DrawingBank(bank_url).drawings()] == ["Class 4B"]
    assert not any("Not saved" in element.value for element in [*at.error, *at.info])

    at.text_input(key="bank_writer_input").input("![x](http://example.com/x.png) [click](http://example.com)").run()
    [problem] = [element.value for element in at.error if "writer tag must be" in element.value]
    assert r"\!\[x\]\(http" in problem and r"\[click\]\(http" in problem, "quoted as typed: no picture, no link"

    at.text_input(key="bank_writer_input").input("Class 4C").run()
    assert not any("writer tag must be" in element.value for element in at.error)
    assert any("under the writer tag **Class 4C**" in element.value for element in at.caption)


def test_the_same_digit_drawn_again_elsewhere_is_another_drawing_but_the_same_one_answered_twice_is_not(
        monkeypatch, model_entry, bank_url, mnist):
    """Test that two canvases the model sees alike (a straight 1 drawn at two places gives one 28x28 image) are two
    drawings to store, while answering the very drawing on screen again is refused as already stored."""
    from digitlab.bank.drawing_checks import encode_png

    canvas_image = canvas_from_digit(mnist.x_test[0])
    moved = np.roll(canvas_image, 30, axis=1)  # the same drawing further right: the model's input is the same
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.session_state["canvas_last_message"] = (encode_png(canvas_image), None)
    at.run()
    at.button(key="bank_right").click().run()
    at.button(key="bank_right").click().run()
    assert any("already stored as drawing #" in element.value for element in at.info)
    assert DrawingBank(bank_url).count() == 1

    at.session_state["canvas_last_message"] = (encode_png(moved), None)
    at.run()
    at.button(key="bank_right").click().run()
    assert not any("already stored" in element.value for element in at.info)
    assert DrawingBank(bank_url).count() == 2


@pytest.fixture
def visitor(monkeypatch):
    """This test's sessions are a visitor, all from one client, with a save limit nobody else has touched."""
    import uuid

    import digitlab.ui.bank
    from digitlab.bank.save_limits import SaveRateLimiter

    client = f"ip:203.0.113.{uuid.uuid4().int % 250}-{uuid.uuid4().hex[:6]}"
    monkeypatch.setattr(digitlab.ui.bank, "viewer_is_owner", lambda: False)
    monkeypatch.setattr(digitlab.ui.bank, "viewer_id", lambda: client)
    monkeypatch.setattr(digitlab.ui.bank, "visitor_saves", SaveRateLimiter())
    return client


def test_a_visitor_may_not_type_a_writer_tag_kept_for_an_imported_writer_or_another_session(
        monkeypatch, model_entry, bank_url, mnist, visitor):
    """Test that a visitor who types pen-01 (the import's tag for pen-digit writer 1) or another browser session's tag
    is told why it is refused and that answers go on under the tag in use, that their own session's tag is taken,
    and that a tag of their own afterwards clears the refusal."""
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.text_input(key="bank_writer_input").input("Class 4B").run()
    at.text_input(key="bank_writer_input").input("pen-01").run()
    [problem] = [element.value for element in at.error if "is the form kept for" in element.value]
    assert "imported pen\\-digit writer" in problem and "stored under Class 4B until it is changed" in problem
    at.button(key="bank_right").click().run()
    assert [drawing.writer for drawing in DrawingBank(bank_url).drawings()] == ["Class 4B"]

    at.text_input(key="bank_writer_input").input("visitor-1a2b3c4d5e").run()
    [problem] = [element.value for element in at.error if "is the form kept for" in element.value]
    assert "another visitor's browser session" in problem
    own = at.session_state["bank_session_tag"]
    at.text_input(key="bank_writer_input").input(own).run()
    assert not any("is the form kept for" in element.value for element in at.error)
    at.text_input(key="bank_writer_input").input("Class 4C").run()
    assert not any("is the form kept for" in element.value for element in at.error)
    assert any("under the writer tag **Class 4C**" in element.value for element in at.caption)


def test_the_owner_may_label_pen_digits_by_hand_under_a_pen_writer_s_tag(monkeypatch, model_entry, bank_url, mnist):
    """Test that the owner (this machine's browser) may type pen-01 and store answers under it."""
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.text_input(key="bank_writer_input").input("pen-01").run()
    assert not at.error
    at.button(key="bank_right").click().run()
    assert [drawing.writer for drawing in DrawingBank(bank_url).drawings()] == ["pen-01"]


def test_a_visitor_over_the_save_limit_is_told_and_nothing_more_is_stored(monkeypatch, model_entry, bank_url, mnist,
                                                                          visitor):
    """Test that a visitor's second save within a minute (limit 1) is refused with a message."""
    monkeypatch.setenv("DIGITLAB_BANK_SAVES_PER_MINUTE", "1")
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.button(key="bank_label_1").click().run()
    at.button(key="bank_take_back")  # saved once
    at.session_state["bank_last_save"] = None  # as if the next drawing were on screen
    at.run()
    at.button(key="bank_label_2").click().run()
    assert any("in the last minute" in message.value for message in at.error)
    assert DrawingBank(bank_url).count(DrawingFilter()) == 1


def test_a_reload_does_not_reset_the_save_limit(monkeypatch, model_entry, bank_url, mnist, visitor):
    """Test that a new session of the same client (a reload: a new session tag) is still held to the minute's limit,
    while another client is not."""
    import digitlab.ui.bank

    monkeypatch.setenv("DIGITLAB_BANK_SAVES_PER_MINUTE", "1")
    first = draw(monkeypatch, model_entry, mnist.x_test[0])
    first.button(key="bank_label_1").click().run()
    assert first.button(key="bank_take_back")  # saved

    reloaded = draw(monkeypatch, model_entry, mnist.x_test[1])
    assert reloaded.session_state["bank_session_tag"] != first.session_state["bank_session_tag"]
    reloaded.button(key="bank_label_2").click().run()
    assert any("in the last minute" in message.value for message in reloaded.error)
    assert DrawingBank(bank_url).count() == 1

    monkeypatch.setattr(digitlab.ui.bank, "viewer_id", lambda: "ip:198.51.100.77")
    other_client = draw(monkeypatch, model_entry, mnist.x_test[1])
    other_client.button(key="bank_label_2").click().run()
    assert not other_client.error
    assert DrawingBank(bank_url).count() == 2


def test_a_relabel_whose_second_write_fails_leaves_exactly_one_row(monkeypatch, model_entry, bank_url, mnist):
    """Test that "Right" then "Wrong, it's a 3", with the database failing from the relabel's second write on,
    leaves one stored drawing, and what the page says matches the bank."""
    from sqlalchemy import event, exc

    from digitlab.bank.repository import open_bank

    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    reading = int(at.metric[0].value)
    other = 3 if reading != 3 else 5
    at.button(key="bank_right").click().run()
    bank = open_bank(bank_url)  # the very bank (and engine) the page uses
    writes = []

    def fail_the_second_write(_connection, _cursor, statement, *_args):
        if statement.lstrip().split()[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            writes.append(statement)
            if len(writes) >= 2:
                raise exc.OperationalError(statement, {}, Exception("server closed the connection unexpectedly"))

    event.listen(bank.engine, "before_cursor_execute", fail_the_second_write)
    try:
        at.button(key=f"bank_label_{other}").click().run()
    finally:
        event.remove(bank.engine, "before_cursor_execute", fail_the_second_write)
    assert not at.exception
    [stored] = bank.drawings()
    said_stored = [message.value for message in at.success if f"drawing #{stored.id}" in message.value]
    said_not_saved = [message.value for message in at.error if "Not saved" in message.value]
    assert said_stored != [] or said_not_saved != []
    assert stored.label == (other if said_stored else reading)


def test_a_broken_configuration_turns_saving_off_and_opens_no_bank(monkeypatch, model_entry, bank_url, tmp_path, mnist):
    """Test that with a secrets file that does not parse the panel says saving is off and offers no answer, and the
    Drawings page says so too, without any bank being opened."""
    import streamlit as st

    import digitlab.bank.repository

    def no_bank(*_args, **_kwargs):
        raise AssertionError("a bank was opened although the configuration is broken")

    folder = tmp_path / "deployment"
    (folder / ".streamlit").mkdir(parents=True)
    (folder / ".streamlit" / "secrets.toml").write_text('DIGITLAB_DATABASE_URL = "sqlite:///chosen.sqlite"\n[auth\n')
    monkeypatch.chdir(folder)  # the folder the server runs in: its .streamlit/secrets.toml is the deployment's
    monkeypatch.setattr(digitlab.bank.repository, "open_bank", no_bank)
    st.secrets._reset()
    try:
        at = draw(monkeypatch, model_entry, mnist.x_test[0])
        assert not at.exception, [e.value for e in at.exception]
        [switched_off] = [message.value for message in at.warning if message.value.startswith("Saving drawings is off: ")]
        assert "secrets.toml" in switched_off
        assert not [button for button in at.button if button.key and button.key.startswith("bank_")]

        drawings = AppTest.from_file(PAGE.with_name("drawings.py"), default_timeout=60).run()
        assert not drawings.exception, [e.value for e in drawings.exception]
        assert any(message.value == switched_off for message in drawings.error)
    finally:
        st.secrets._reset()  # Streamlit copies top-level secrets into os.environ: take them back
    assert not (folder / "chosen.sqlite").exists()


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
    """Test that after a save and a new drawing, neither the stored message nor Take back is shown for the new one,
    so Take back can only act on the drawing on screen."""
    import digitlab.ui.canvas

    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    at.button(key="bank_right").click().run()
    assert any("Stored in the drawing bank" in message.value for message in at.success)
    assert any(caption.value.startswith("With the image and the model's reading") for caption in at.caption)
    assert not any("its strokes" in caption.value for caption in at.caption)  # the fake canvas sent no strokes

    another = canvas_from_digit(mnist.x_test[1])
    monkeypatch.setattr(digitlab.ui.canvas, "drawing_canvas", lambda *args, **kwargs: another)
    at.run()  # the next stroke
    assert not at.success and not [button for button in at.button if button.key == "bank_take_back"]
    assert DrawingBank(bank_url).count() == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_right_then_a_digit_relabels_one_drawing_and_take_back_undoes_one_answer_at_a_time(
        monkeypatch, model_entry, mnist, tmp_path, backend):
    """Test that "Right" then "Wrong, it's a 3" keeps one stored drawing (same id, now a 3), that Take back gives it
    its "right" label again, and that a second Take back removes it from the bank."""
    url = fresh_database_url(backend, tmp_path)
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", url)
    at = draw(monkeypatch, model_entry, mnist.x_test[0])
    reading = int(at.metric[0].value)
    other = 3 if reading != 3 else 5
    bank = DrawingBank(url)
    at.button(key="bank_right").click().run()
    [first] = bank.drawings()
    at.button(key=f"bank_label_{other}").click().run()
    [relabelled] = bank.drawings()
    assert (relabelled.id, relabelled.label) == (first.id, other)

    at.button(key="bank_take_back").click().run()
    assert not at.exception
    [back] = bank.drawings()
    assert (back.id, back.label, back.reading) == (first.id, reading, reading)
    assert any(f"drawing #{first.id} (right)" in message.value for message in at.success)
    assert any(f"#{first.id} is back to its label before: right" in message.value for message in at.info)

    at.button(key="bank_take_back").click().run()
    assert bank.count() == 0
    assert any(f"#{first.id} was removed from the bank" in message.value for message in at.info)
    assert not [button for button in at.button if button.key == "bank_take_back"]


@pytest.fixture(scope="module")
def refuser_entry(small_run, tmp_path_factory):
    """The small run's network with a "not a digit" output that refuses every drawing."""
    from tests.refusal_models import register_with_not_a_digit

    return register_with_not_a_digit(small_run, tmp_path_factory.mktemp("refuser"), "refuser", 30.0)


def test_a_drawing_the_model_refuses_can_be_labelled_with_the_digit_it_is(monkeypatch, refuser_entry, bank_url, mnist):
    """Test that a real 7 the model calls "not a digit" is stored when "7" is clicked (reading: none), and that
    "Right", which has no digit to store, says to click the digit instead of "Draw a digit first"."""
    at = draw(monkeypatch, refuser_entry, mnist.x_test[0])  # a 7
    assert any(message.value.startswith("Not a digit.") for message in at.warning)
    at.button(key="bank_right").click().run()
    assert any("click the digit it is" in message.value for message in at.info)
    assert not any("Draw a digit first" in message.value for message in at.info)
    assert not Path(bank_url.removeprefix("sqlite:///")).exists(), "nothing was stored for 'Right'"

    at.button(key="bank_label_7").click().run()
    assert not at.exception
    [stored] = DrawingBank(bank_url).drawings()
    assert (stored.label, stored.reading, stored.model_sha256) == (7, None, refuser_entry.sha256)
    assert len(stored.probabilities) == 10 and stored.mnist.max() > 200
    assert any(f"drawing #{stored.id} (a 7, refused as not a digit)" in message.value for message in at.success)
