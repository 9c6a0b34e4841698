"""The Class page and joining a class by its link, in AppTest, on a real SQLite bank."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from digitlab.bank.classes import ClassBook
from digitlab.bank.drawing_checks import encode_png, prepare_drawing
from digitlab.bank.records import DrawingFilter
from digitlab.config.sign_in_throttle import SignInThrottle
from tests.app.test_drawings_page import bank  # noqa: F401 (a fixture: this test's own SQLite bank)
from tests.helpers.canvases import canvas_from_digit
from tests.helpers.markdown import as_read

PAGES = Path(__file__).resolve().parents[2] / "pages"


@pytest.fixture
def fresh_throttle(monkeypatch):
    """A join throttle of this test's own, on a clock the test moves."""
    import digitlab.ui.class_join

    clock = [1000.0]
    throttle = SignInThrottle(server_checks_per_minute=600, clock=lambda: clock[0])
    monkeypatch.setattr(digitlab.ui.class_join, "CLASS_JOIN_THROTTLE", throttle)
    return clock


@pytest.fixture(scope="module")
def draw_model(small_models_dir):
    from digitlab.store.registry import entry_for_path

    return entry_for_path(small_models_dir / "default.keras")


def class_page() -> AppTest:
    return AppTest.from_file(PAGES / "class.py", default_timeout=60).run()


def draw_page(monkeypatch, entry, digit_image: np.ndarray | None, code: str | None) -> AppTest:
    import digitlab.ui.canvas

    canvas = None if digit_image is None else canvas_from_digit(digit_image)
    monkeypatch.setattr(digitlab.ui.canvas, "drawing_canvas", lambda *args, **kwargs: canvas)
    at = AppTest.from_file(PAGES / "draw.py", default_timeout=60)
    at.session_state["selected_model"] = entry
    if code is not None:
        at.query_params["class"] = code
    return at.run()


def texts(elements) -> str:
    return " ".join(str(element.value) for element in elements)


def test_only_the_owner_gets_the_class_page(bank, monkeypatch):
    """Test that a visitor (not on the server's machine, no owner sign-in) is told the page is the owner's, and
    sees no class, while the owner makes one."""
    import digitlab.ui.access

    ClassBook(bank).create("7B")
    monkeypatch.setattr(digitlab.ui.access, "client_connection", lambda: ("203.0.113.9", ()))
    at = class_page()
    assert not at.exception
    assert "for the teacher who owns this deployment" in texts(at.info)
    assert not at.selectbox and not at.text_input and "7B" not in texts(at.markdown) + texts(at.caption)


def test_the_owner_makes_a_class_gets_its_link_and_closes_it(bank):
    """Test that the owner's new class comes with a link whose code joins it, that submitting its name again (Enter,
    then the button) makes no second class and says so without an error, and that Close closes it."""
    at = class_page()
    assert "There is no class yet" in texts(at.info)
    at.text_input[0].input("7B maths")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    [link] = [element.value for element in at.code]
    code = re.search(r"\?class=([0-9A-Z]{10})$", link).group(1)
    book = ClassBook(bank)
    [school_class] = book.all()
    assert school_class.name == "7B maths" and book.find_by_code(code) == school_class
    assert "No drawings yet" in texts(at.info)
    at.button[0].click().run()  # the button clicked after Enter had made the class: no second class, no error
    assert not at.error and "The class 7B maths was made just now" in texts(at.info) and len(book.all()) == 1
    assert [element.value for element in at.code] == [link], "its link still shown"
    other = class_page()  # another session: a second open class of the name would look the same in the picker
    other.text_input[0].input("7B maths")
    other.button[0].click().run()
    assert "A class named 7B maths is open already" in texts(other.error) and len(book.all()) == 1

    at.button(key="class_close").click().run()
    assert not book.get(school_class.id).is_open
    assert "This class is closed" in texts(at.warning) and not at.code
    assert book.create("7B maths")[0].is_open, "the name is free again once its class is closed"
    at.run()
    at.selectbox(key="class_page_chosen").set_value(school_class.id).run()
    at.button(key="class_reopen").click().run()  # the closed one cannot come back beside its open namesake
    assert "A class named 7B maths is open already" in texts(at.error) and not book.get(school_class.id).is_open


def test_a_student_joins_by_link_and_draws_into_the_class_under_a_nickname(bank, monkeypatch, draw_model, mnist,
                                                                         fresh_throttle):
    """Test that the link puts the session in the class, that an answer stores the drawing with the class and the
    nickname, that a bad nickname is refused, and that the student's own line counts their drawing."""
    school_class, code = ClassBook(bank).create("7B")
    at = draw_page(monkeypatch, draw_model, mnist.x_test[0], code.lower())  # a 7, the code as typed by hand
    assert not at.exception, [e.value for e in at.exception]
    assert "You are in the class **7B**" in texts(at.markdown)
    at.text_input(key="class_nickname_input").input("<b>Ana</b>").run()
    assert "nickname" in texts(at.error)
    assert popover_labels(at.main) == ["Nickname"]  # no Writer popover in a class: the nickname names the student
    at.text_input(key="class_nickname_input").input("Ana 7").run()
    assert popover_labels(at.main)[0] == "Nickname: Ana 7", "the nickname taken is seen without opening the popover"
    at.button(key="bank_label_4").click().run()
    [stored] = bank.drawings()
    assert (stored.class_id, stored.nickname, stored.label) == (school_class.id, "Ana 7", 4)
    assert "You drew **1** digit in this class" in texts(at.markdown)

    at.button(key="class_leave").click().run()  # drawings from now on are outside the class
    at.session_state["bank_last_save"] = None
    at.run()
    at.button(key="bank_right").click().run()
    assert [(d.class_id, d.nickname) for d in bank.drawings(newest_first=False)] == [
        (school_class.id, "Ana 7"), (None, None)]


def test_a_student_s_answers_go_under_their_nickname_with_no_writer_tag_of_their_own(bank, monkeypatch, draw_model,
                                                                                      mnist, fresh_throttle):
    """Test that in a class the Right/Wrong bar has no Writer box (the class knows a student by their nickname), says
    the drawing goes to the class under the nickname (or under the browser's tag, until one is given), and stores the
    browser's tag as the writer, not a tag typed before joining (which made a second student of them); and that what
    an answer stored names the nickname too."""
    school_class, code = ClassBook(bank).create("7B")
    at = draw_page(monkeypatch, draw_model, mnist.x_test[0], code)
    at.session_state["bank_writer"] = "Amira K"  # typed in the Writer box before the link was opened
    at.run()
    assert popover_labels(at.main) == ["Nickname"]
    tag = at.session_state["bank_session_tag"]
    [where] = [as_read(caption.value) for caption in at.caption if "Your answer stores" in caption.value]
    assert f"in your class's drawings, under no nickname (your teacher sees **{tag}**;" in where

    at.text_input(key="class_nickname_input").input("Ana 7").run()
    [where] = [as_read(caption.value) for caption in at.caption if "Your answer stores" in caption.value]
    assert "in your class's drawings, under your nickname **Ana 7**." in where
    at.button(key="bank_label_4").click().run()
    [stored] = bank.drawings()
    assert (stored.class_id, stored.nickname, stored.writer, stored.session) == (school_class.id, "Ana 7", tag, tag)
    # What the answer stored says the same, not "under the writer tag visitor-…", which the class never shows.
    [kept] = [as_read(caption.value) for caption in at.caption if caption.value.startswith("With the image")]
    assert kept.endswith("in your class's drawings under your nickname Ana 7."), kept


def popover_labels(block) -> list[str]:
    """The labels of the popovers under block, as their buttons show them."""
    own = [block.proto.popover.label] if getattr(block, "type", None) == "popover" else []
    return own + [label for child in getattr(block, "children", {}).values() for label in popover_labels(child)]


def errors_outside_popovers(block) -> list[str]:
    """The error messages drawn under block but not inside a popover: what the page shows with every popover closed."""
    if getattr(block, "type", None) == "popover":
        return []
    if getattr(block, "type", None) == "error":
        return [block.value]
    return [value for child in getattr(block, "children", {}).values() for value in errors_outside_popovers(child)]


def test_a_refused_nickname_is_said_outside_its_popover_once_until_a_good_one_is_typed(bank, monkeypatch, draw_model,
                                                                                     mnist, fresh_throttle):
    """Test that a nickname refused is said in the student's bar, where it is seen with the Nickname popover closed,
    once, quoted as typed, with the nickname the drawings keep; and that a good nickname clears it."""
    _, code = ClassBook(bank).create("7B")
    at = draw_page(monkeypatch, draw_model, mnist.x_test[0], code)
    at.text_input(key="class_nickname_input").input("Ana 7").run()
    at.text_input(key="class_nickname_input").input("[Ana](http://x.io)").run()
    [shown] = [message for message in errors_outside_popovers(at.main) if "A nickname is" in message]
    assert len([message for message in at.error if "A nickname is" in message.value]) == 1, "said once, not twice"
    assert r"\[Ana\]\(http" in shown, "quoted as typed: no link"
    assert "Your drawings keep the nickname Ana 7." in shown
    assert at.session_state["class_nickname_popover"] is False, "the popover closes, uncovering the bar"
    at.run()  # the next run (another stroke, say) still says it
    assert any("A nickname is" in message for message in errors_outside_popovers(at.main))

    at.text_input(key="class_nickname_input").input("Ana 8").run()
    assert not any("nickname" in message.value for message in at.error)


@pytest.mark.parametrize("typed", ["pen-01", "PEN-7", "visitor-1a2b3c4d5e"])
def test_a_nickname_of_an_imported_writer_s_or_a_browser_s_form_is_refused(bank, monkeypatch, draw_model, mnist,
                                                                         fresh_throttle, typed):
    """Test that a student may not take the nickname pen-01 (the class's imported pen-digit writer 1 is listed so)
    or a browser session's tag: the class's table would show two writers of that name. The nickname kept stays."""
    _, code = ClassBook(bank).create("7B")
    at = draw_page(monkeypatch, draw_model, mnist.x_test[0], code)
    at.text_input(key="class_nickname_input").input("Ana 7").run()
    at.text_input(key="class_nickname_input").input(typed).run()
    [shown] = [as_read(message) for message in errors_outside_popovers(at.main) if "is the form kept for" in message]
    assert f"The nickname {typed!r} is the form kept for" in shown and "Your drawings keep the nickname Ana 7." in shown
    assert at.session_state["class_nickname"] == "Ana 7"


def test_a_closed_class_refuses_a_student_s_drawing_with_a_message(bank, monkeypatch, draw_model, mnist,
                                                                    fresh_throttle):
    """Test that a student whose class was closed after they joined is told their answer was not saved."""
    book = ClassBook(bank)
    school_class, code = book.create("7B")
    at = draw_page(monkeypatch, draw_model, mnist.x_test[0], code)
    book.close(school_class.id)
    at.button(key="bank_label_4").click().run()
    assert "This class is closed" in texts(at.error)
    assert bank.count(DrawingFilter()) == 0
    again = draw_page(monkeypatch, draw_model, mnist.x_test[0], code)  # a new student with the link: not let in
    assert "is closed" in texts(again.error) and "class_joined" not in again.session_state
    assert "nothing drawn from this link is saved" in texts(again.error)
    again.button(key="bank_right").click().run()  # their drawing does not go to the bank every visitor sees
    assert "This class is closed" in texts(again.error) and bank.count(DrawingFilter()) == 0


def test_a_wrong_code_is_refused_and_guessing_is_throttled(bank, monkeypatch, draw_model, fresh_throttle):
    """Test that wrong codes are refused, that after a few the session must wait (even with the right code), and
    that the right code works once the wait is over."""
    school_class, code = ClassBook(bank).create("7B")
    at = draw_page(monkeypatch, draw_model, None, "AAAAAAAAAA")
    assert "This class link is not valid" in texts(at.error)
    for guess in ("BBBBBBBBBB", "CCCCCCCCCC"):
        at.query_params["class"] = guess
        at.run()
        assert "This class link is not valid" in texts(at.error)
    at.query_params["class"] = "DDDDDDDDDD"
    at.run()
    at.query_params["class"] = code
    at.run()
    assert "Too many tries to join a class just now. Try again in" in texts(at.error)
    assert "class_joined" not in at.session_state
    fresh_throttle[0] += 3600  # long after: the same link, still open, is tried again
    at.run()
    assert "You are in the class **7B**" in texts(at.markdown)
    assert at.session_state["class_joined"]["id"] == school_class.id


def test_the_class_page_counts_the_class_and_shows_a_cell_s_drawings(bank, mnist):
    """Test that the owner's page counts the class's drawings (not others'), and a chosen confusion cell shows
    its drawings, captioned with the student's nickname."""
    school_class, _ = ClassBook(bank).create("7B")
    other, _ = ClassBook(bank).create("8C")

    def store(index: int, label: int, reading: int, session: str, nickname: str | None, class_id: int) -> None:
        png = encode_png(canvas_from_digit(mnist.x_test[index]))
        bank.add(prepare_drawing(png, label, "draw", session=session, writer=session, reading=reading,
                                 class_id=class_id, nickname=nickname))

    store(0, 7, 7, "visitor-a", "Ana", school_class.id)
    store(4, 4, 9, "visitor-a", "Ana", school_class.id)
    store(1, 2, 2, "visitor-b", None, school_class.id)
    store(2, 1, 1, "visitor-c", "Zed", other.id)
    at = AppTest.from_file(PAGES / "class.py", default_timeout=60)
    at.session_state["class_page_chosen"] = school_class.id
    at.session_state["class_confusion_cell"] = (4, 9)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {metric.label: metric.value for metric in at.metric}
    assert (metrics["Drawings"], metrics["Students"], metrics["Corrected"]) == ("3", "2", "1")
    students = _table(at, "Student")
    assert sorted(zip(students["Student"], students["Drawings"])) == [("Ana", 2), ("visitor-b", 1)]
    [held_out] = re.findall(r"1 student is held out \(([^)]*)\)", texts(at.caption))
    assert held_out.replace("\\", "") in ("Ana", "visitor-b"), "named as the table names them, by nickname if given"
    assert "**1** drawing of a 4 read as 9." in texts(at.caption)
    assert any("4 → 9 · Ana" in caption for caption in _image_captions(at))
    hardest = _table(at, "Share right")
    assert hardest["Digit"].tolist()[0] == "4"


def _table(at: AppTest, column: str):
    [table] = [frame.value for frame in at.dataframe if column in frame.value.columns]
    return table


def _image_captions(at: AppTest) -> list[str]:
    return [caption for image in at.image for caption in image.captions]


def test_a_visitor_s_drawings_page_shows_no_class_s_drawings_but_their_own(bank, monkeypatch, mnist):
    """Test that on the Drawings page a visitor sees the drawings outside any class and their own class drawings,
    but not a classmate's, nor the classmate's writer tag among the filters."""
    import digitlab.ui.access

    school_class, _ = ClassBook(bank).create("7B")
    for index, (session, class_id) in enumerate((("visitor-me", school_class.id),
                                                 ("visitor-classmate", school_class.id), ("visitor-outside", None))):
        png = encode_png(canvas_from_digit(mnist.x_test[index]))
        bank.add(prepare_drawing(png, int(mnist.y_test[index]), "draw", session=session, writer=session,
                                 class_id=class_id))
    monkeypatch.setattr(digitlab.ui.access, "client_connection", lambda: ("203.0.113.9", ()))
    at = AppTest.from_file(PAGES / "drawings.py", default_timeout=60)
    at.session_state["bank_session_tag"] = "visitor-me"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert "**2** drawings match" in texts(at.caption)
    assert at.selectbox(key="drawings_writer").options == ["any writer", "visitor-me", "visitor-outside"]


def test_a_cell_s_drawings_and_the_hardest_drawings_show_together(bank, mnist):
    """Test that with a confusion cell chosen, opening "The drawings the model found hardest" shows both galleries
    (both grids had one key, and the page stopped on Streamlit's error until a reload)."""
    school_class, _ = ClassBook(bank).create("7B")
    for index, (label, reading) in enumerate([(4, 9), (7, 7), (3, 5)]):
        png = encode_png(canvas_from_digit(mnist.x_test[index]))
        bank.add(prepare_drawing(png, label, "draw", session="visitor-a", writer="visitor-a", reading=reading,
                                 class_id=school_class.id, nickname="Ana"))
    at = AppTest.from_file(PAGES / "class.py", default_timeout=60)
    at.session_state["class_page_chosen"] = school_class.id
    at.session_state["class_confusion_cell"] = (4, 9)
    at.session_state["class_hardest_panel"] = True  # opened
    at.run()

    assert not at.exception, [e.value for e in at.exception]
    captions = _image_captions(at)
    assert captions.count("4 → 9 · Ana") == 2, "in the cell's drawings and among the hardest"
    assert "3 → 5 · Ana" in captions, "the hardest drawings shown"
