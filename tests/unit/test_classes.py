"""Classes in the drawing bank: join codes, closing, what each student may read, nicknames, and the class's counts.

Each runs on SQLite, and on PostgreSQL when a server was started (tests/databases.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import text

from digitlab.bank.archive import import_unipen
from digitlab.bank.class_summary import summarise_class
from digitlab.bank.classes import CODE_ALPHABET, ClassBook, display_code, new_join_code
from digitlab.bank.drawing_checks import DrawingRejectedError, encode_png, prepare_drawing
from digitlab.bank.records import DrawingFilter, NewDrawing
from digitlab.bank.repository import open_bank
from tests.databases import BACKENDS, fresh_database_url
from tests.helpers.canvases import canvas_from_digit


@pytest.fixture(params=BACKENDS)
def bank(request, tmp_path):
    return open_bank(fresh_database_url(request.param, tmp_path))


def drawing(label: int, reading: int | None = None, class_id: int | None = None, session: str | None = None,
            nickname: str | None = None, sure: float = 0.9, png: bytes | None = None) -> NewDrawing:
    """A drawing whose model gave `sure` to its reading (the rest spread evenly)."""
    probabilities = None
    if reading is not None:
        probabilities = [(1 - sure) / 9] * 10
        probabilities[reading] = sure
    return NewDrawing(png=png or f"{label}-{reading}-{session}-{sure}-{class_id}".encode(),
                      mnist=np.zeros((28, 28), np.uint8), label=label, reading=reading, probabilities=probabilities,
                      source="draw", session=session, writer=session, class_id=class_id, nickname=nickname)


def test_join_codes_carry_at_least_40_bits_and_the_bank_keeps_only_their_hash(bank):
    """Test that codes are 10 letters of a 32-letter alphabet (50 bits), differ, are found however they are typed,
    and that no column of the bank holds the code itself."""
    assert len(set(CODE_ALPHABET)) == 32 and not set("ILOU") & set(CODE_ALPHABET)
    codes = {new_join_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(code) == 10 and set(code) <= set(CODE_ALPHABET) for code in codes)
    assert 10 * math.log2(len(CODE_ALPHABET)) >= 40

    book = ClassBook(bank)
    school_class, code = book.create("  7B maths  ")
    assert school_class.name == "7B maths" and school_class.is_open
    for typed in (code, code.lower(), display_code(code), f" {code[:5]} {code[5:]} ",
                  code.replace("0", "O").replace("1", "l")):
        assert book.find_by_code(typed) == school_class
    for wrong in (None, "", code[:-1], code + "A", "!" * 10, new_join_code()):
        assert book.find_by_code(wrong) is None
    with bank.engine.connect() as connection:
        stored = " ".join(str(value) for value in connection.execute(text("SELECT * FROM classes")).one())
    assert code not in stored and display_code(code) not in stored

    fresh = book.new_code(school_class.id)
    assert book.find_by_code(fresh) == school_class and book.find_by_code(code) is None  # the old link stops
    with pytest.raises(DrawingRejectedError, match="class name"):
        book.create("<script>")


def test_a_closed_class_refuses_drawings_in_the_bank_whichever_way_they_come(bank, tmp_path):
    """Test that once a class is closed the bank refuses its drawings (one save, several, an import, a relabel),
    keeps what it had, still takes drawings outside the class, and takes the class's again once reopened."""
    book = ClassBook(bank)
    school_class, _code = book.create("7B")
    kept = bank.add(drawing(3, 3, school_class.id, "s1"))
    assert book.close(school_class.id) and not book.get(school_class.id).is_open
    for refused in (lambda: bank.add(drawing(4, 4, school_class.id, "s1")),
                    lambda: bank.add_many([drawing(5, 5), drawing(6, 6, school_class.id, "s1")]),
                    lambda: bank.add_absent([drawing(7, 7, school_class.id, "s1")]),
                    lambda: bank.add(drawing(8, 8, class_id=school_class.id + 1000))):  # no such class
        with pytest.raises(DrawingRejectedError, match="closed"):
            refused()
    assert not bank.relabel(kept, 5, session="s1")
    assert [(d.id, d.label) for d in bank.drawings()] == [(kept, 3)]  # nothing added, nothing changed
    assert bank.add(drawing(1, 1))  # outside any class: still taken

    assert book.reopen(school_class.id)
    assert bank.add(drawing(4, 4, school_class.id, "s1")) and bank.relabel(kept, 5, session="s1")


def test_a_student_reads_only_their_own_drawings_of_their_own_class(bank):
    """Test that a student's view counts only their session's drawings in their class, and that a visitor's
    filter hides every class's drawings but their own while showing those outside any class."""
    book = ClassBook(bank)
    first, _ = book.create("7B")
    second, _ = book.create("8C")
    mine = bank.add(drawing(1, 1, first.id, "me"))
    classmate = bank.add(drawing(2, 2, first.id, "classmate"))
    other_class = bank.add(drawing(3, 3, second.id, "stranger"))
    outside = bank.add(drawing(4, 4))

    assert summarise_class(bank, first.id, session="me").drawn == 1
    assert summarise_class(bank, second.id, session="me").drawn == 0  # another class: nothing of it
    assert summarise_class(bank, first.id).drawn == 2  # the teacher's view of the class
    visible = {d.id for d in bank.drawings(DrawingFilter(viewer_session="me"))}
    assert visible == {mine, outside} and not {classmate, other_class} & visible
    assert set(bank.as_dataset(viewer_session="me").ids.tolist()) == {mine, outside}
    assert bank.writers(viewer_session="me") == ["me"]
    people = bank.as_dataset(viewer_session="me").people.tolist()  # whom a visitor's fine-tune learns from
    assert bank.labelled_people(viewer_session="me") == {name: people.count(name) for name in set(people)}
    assert len(bank.labelled_people()) == 4 and len(bank.labelled_people(viewer_session="me")) == 2
    assert bank.count(DrawingFilter()) == 4  # the owner's reads are not limited


def test_nicknames_are_checked_for_length_and_characters(tmp_path, mnist):
    """Test that a nickname of up to 24 letters, digits, spaces, - or _ is kept (trimmed), and anything else refused."""
    png = encode_png(canvas_from_digit(mnist.x_test[0]))
    for good, kept in (("Ana", "Ana"), ("  Zoë-2 ", "Zoë-2"), ("x" * 24, "x" * 24), ("", None), (None, None)):
        assert prepare_drawing(png, 7, "draw", nickname=good, class_id=1).nickname == kept
    for bad in ("x" * 25, "<b>Ana</b>", "=1+1", "-Ana", "Ana\nBen", "a.b@c", "Ana;DROP"):
        with pytest.raises(DrawingRejectedError, match="nickname"):
            prepare_drawing(png, 7, "draw", nickname=bad, class_id=1)


def test_the_class_summary_counts_what_was_drawn(bank):
    """Test the class's counts against a hand-made lesson: per digit and student, corrections, the confusion
    matrix, the hardest digits and drawings."""
    school_class, _ = ClassBook(bank).create("7B")
    cid = school_class.id
    ids = {
        "ana_7": bank.add(drawing(7, 7, cid, "s-ana", "Ana", sure=0.95)),
        "ana_4_as_9": bank.add(drawing(4, 9, cid, "s-ana", "Ana", sure=0.6)),
        "ben_4": bank.add(drawing(4, 4, cid, "s-ben", sure=0.55)),
        "ben_1": bank.add(drawing(1, 1, cid, "s-ben", sure=0.99)),
        "ben_unread": bank.add(drawing(2, None, cid, "s-ben")),
    }
    bank.add(drawing(4, 9, None, "s-outsider"))  # outside the class: not counted
    summary = summarise_class(bank, cid)
    assert summary.drawn == 5 and summary.read == 4 and summary.read_right == 3 and summary.corrected == 1
    assert summary.per_digit.tolist() == [0, 1, 1, 0, 2, 0, 0, 1, 0, 0]
    expected = np.zeros((10, 10), int)
    expected[7, 7] = expected[4, 9] = expected[4, 4] = expected[1, 1] = 1
    assert summary.confusion.tolist() == expected.tolist()
    assert [(s.name, s.drawn, s.read_right, s.corrected) for s in summary.students] == [
        ("s-ben", 3, 2, 0), ("Ana", 2, 1, 1)]
    hardest = summary.hardest_digits[0]
    assert (hardest.digit, hardest.drawn, hardest.read_right) == (4, 2, 1)
    assert [item.digit for item in summary.hardest_digits] == [4, 7, 1]  # then the least sure right answers
    assert summary.hardest_ids[:2] == [ids["ana_4_as_9"], ids["ben_4"]]  # the wrong one, then the least sure

    own = summarise_class(bank, cid, session="s-ana")
    assert own.drawn == 2 and own.read_right == 1 and own.hardest_digits[0].digit == 4


def test_pen_writers_imported_into_a_class_are_its_students(bank):
    """Test that UNIPEN writers imported into a class carry its id and their pen-NN tag as nickname, and that
    the same writers go into a second class though the bank holds their drawings already."""
    from tests.conftest import SHARED_PENDIGITS

    if not SHARED_PENDIGITS.exists():
        pytest.skip(f"needs the pen writers' file {SHARED_PENDIGITS}")
    book = ClassBook(bank)
    first, _ = book.create("pen class")
    second, _ = book.create("second pen class")
    report = import_unipen(bank, SHARED_PENDIGITS, writers=[1, 2], class_id=first.id)
    assert 400 < len(report.added) < 600
    summary = summarise_class(bank, first.id)
    assert sorted(student.name for student in summary.students) == ["pen-01", "pen-02"]
    assert summary.drawn == len(report.added) and summary.per_digit.sum() == len(report.added)
    assert summary.read == 0  # imported without a model: no readings
    assert import_unipen(bank, SHARED_PENDIGITS, writers=[1], class_id=first.id).added == []

    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import entry_for_path
    from tests.conftest import REPO_ROOT

    entry = entry_for_path(REPO_ROOT / "models" / "default.keras")  # the shipped model reads them, as a class would
    again = import_unipen(bank, SHARED_PENDIGITS, writers=[1], class_id=second.id,
                          read=load_serving_predictor(entry).predict_mnist, model_sha256=entry.sha256)
    assert again.added and again.already_in_bank == 0  # in the bank already, but not in this class
    read = summarise_class(bank, second.id)
    assert read.read == len(again.added) and 0.8 < read.read_right / read.read <= 1
    assert {drawing.model_sha256 for drawing in bank.readings(DrawingFilter(class_id=second.id))} == {entry.sha256}
