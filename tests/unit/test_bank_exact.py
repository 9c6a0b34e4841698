"""A drawing bank that never loses, doubles or leaks a drawing: relabel, export, import and the bin, on SQLite
always and PostgreSQL when .ci/run started a server."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, delete, event, exc, insert, update

from digitlab.bank.archive import export_zip, import_file, import_unipen
from digitlab.bank.drawing_checks import encode_png
from digitlab.bank.engine import DrawingBankError
from digitlab.bank.records import DrawingFilter, NewDrawing
from digitlab.bank.repository import BIN_TIME, DrawingBank
from digitlab.bank.schema import drawings_table
from tests.conftest import SHARED_PENDIGITS
from tests.databases import BACKENDS, fresh_database_url
from tests.unit.test_drawings import _migrated, a_drawing


@pytest.fixture(params=BACKENDS)
def bank(request, tmp_path):
    return DrawingBank(_migrated(fresh_database_url(request.param, tmp_path)))


def fail_statements(engine, starting: str, after: int = 0):
    """Make the statements on engine that start with `starting` fail as a lost connection would, past the first
    `after` of them; returns the function that stops it."""
    seen = []

    def fail(_connection, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(starting):
            seen.append(statement)
            if len(seen) > after:
                raise exc.OperationalError(statement, {}, Exception("server closed the connection unexpectedly"))

    event.listen(engine, "before_cursor_execute", fail)
    return lambda: event.remove(engine, "before_cursor_execute", fail)


def zip_ids(path) -> list[int]:
    with zipfile.ZipFile(path) as archive:
        return [int(row["id"]) for row in csv.DictReader(io.StringIO(archive.read("labels.csv").decode()))]


def test_relabel_changes_the_label_in_place_and_a_failure_changes_nothing(bank):
    """Test that relabel keeps one row with the same id, a failed relabel leaves the old label, and only the saver may."""
    drawing_id = bank.add(a_drawing(1, session="me", writer="Ana"))
    assert bank.relabel(drawing_id, 7, session="me")
    assert [(d.id, d.label, d.writer) for d in bank.drawings()] == [(drawing_id, 7, "Ana")]

    stop_failing = fail_statements(bank.engine, "UPDATE")
    with pytest.raises(DrawingBankError, match="Nothing was saved or changed"):
        bank.relabel(drawing_id, 3, session="me")
    stop_failing()
    assert [(d.id, d.label) for d in bank.drawings()] == [(drawing_id, 7)]

    assert not bank.relabel(drawing_id, 3, session="someone-else")
    assert bank.move_to_bin(drawing_id)
    assert not bank.relabel(drawing_id, 3)  # a deleted drawing is not relabelled behind the owner's back
    assert bank.count() == 0


def test_export_while_another_connection_deletes_misses_nothing_that_existed_when_it_started(bank, tmp_path, mnist):
    """Test that drawings deleted (and added) by another connection between the export's pages are all in the zip."""
    images, labels = mnist.x_test[:1100], mnist.y_test[:1100]  # more than one page at any page size the export uses
    bank.add_many(NewDrawing(png=encode_png(image), mnist=image, label=int(label), source="draw", writer="w")
                  for image, label in zip(images, labels))
    before = [drawing.id for drawing in bank.drawings(newest_first=False)]
    other = create_engine(bank.url)  # another connection, as another session of the server would use
    state = {"done": False}

    def delete_after_the_first_page(_connection, _cursor, statement, *_args):
        if not state["done"] and statement.lstrip().upper().startswith("SELECT") and "drawings.png" in statement:
            state["done"] = True
            with other.begin() as connection:
                connection.execute(delete(drawings_table).where(drawings_table.c.id <= before[700]))
                connection.execute(insert(drawings_table).values(
                    created_at=bank.get(before[-1]).created_at, label=1, source="draw", png=b"png",
                    mnist=bytes(784), content_sha256="0" * 64))

    event.listen(bank.engine, "after_cursor_execute", delete_after_the_first_page)
    out = tmp_path / "bank.zip"
    written = export_zip(bank, out)
    event.remove(bank.engine, "after_cursor_execute", delete_after_the_first_page)
    other.dispose()
    assert state["done"]
    assert zip_ids(out) == before and written == len(before)
    assert bank.count() == len(before) - 701 + 1  # the deletes and the insert did happen


def test_an_export_is_written_whole_or_not_at_all(bank, tmp_path):
    """Test that an export failing half way leaves no zip behind, and an earlier zip at that path untouched."""
    for _ in range(3):
        bank.add(a_drawing(1))
    out = tmp_path / "bank.zip"
    assert export_zip(bank, out, page=1) == 3
    earlier = out.read_bytes()
    bank.add(a_drawing(0, "zero"))
    stop_failing = fail_statements(bank.engine, "SELECT", after=2)  # two drawings are in the zip when it fails
    with pytest.raises(DrawingBankError):
        export_zip(bank, out, page=1)
    stop_failing()
    assert out.read_bytes() == earlier
    assert [path.name for path in tmp_path.iterdir() if path.name.endswith(".zip")] == ["bank.zip"]


def test_importing_the_same_archive_twice_adds_nothing_the_second_time(bank, tmp_path):
    """Test that a second import of a zip adds no drawing and reports them all as already in the bank."""
    bank.add(a_drawing(1, writer="Ana", reading=1))
    bank.add(a_drawing(0, "zero", writer="Ben"))
    bank.add(a_drawing(0, "zero", writer=None, session="visitor-1"))  # no writer: the identity still holds
    out = tmp_path / "bank.zip"
    export_zip(bank, out)

    again = import_file(bank, out)  # into the bank it came from
    assert bank.count() == 3
    assert (again.added, again.already_in_bank, again.problems) == ([], 3, [])
    assert again.summary() == "0 new, 3 already in the bank"

    other = DrawingBank(_migrated(fresh_database_url("sqlite", tmp_path / "other")))
    first = import_file(other, out)
    second = import_file(other, out)
    assert other.count() == 3
    assert (len(first.added), first.already_in_bank) == (3, 0)
    assert (second.added, second.already_in_bank) == ([], 3)
    assert second.to_json() == {"added": 0, "already_in_bank": 3, "problems": []}


def test_the_same_image_with_another_label_or_writer_is_another_drawing(bank, tmp_path):
    """Test that identity is content, label and writer: a relabelled or re-attributed copy is imported, a twin is not."""
    bank.add(a_drawing(1, writer="Ana"))
    out = tmp_path / "one.zip"
    export_zip(bank, out)
    with zipfile.ZipFile(out) as archive:
        png_name = next(name for name in archive.namelist() if name.endswith(".png"))
        png, labels = archive.read(png_name), archive.read("labels.csv").decode().strip().splitlines()
    row = labels[1]
    variants = tmp_path / "variants.zip"
    with zipfile.ZipFile(variants, "w") as archive:
        archive.writestr(png_name, png)
        archive.writestr("labels.csv", "\n".join([labels[0], row, row.replace(",Ana,", ",Ben,"),
                                                  row.replace(f",{png_name},1,", f",{png_name},7,"), row]) + "\n")
    report = import_file(bank, variants)
    assert (len(report.added), report.already_in_bank) == (2, 2)  # the twin in the bank and its twin in the zip
    assert sorted((d.label, d.writer) for d in bank.drawings()) == [(1, "Ana"), (1, "Ben"), (7, "Ana")]


@pytest.mark.skipif(not SHARED_PENDIGITS.exists(), reason="pendigits-orig.tra is not in ../shared/data")
def test_importing_pen_digits_twice_adds_nothing_the_second_time(bank, tmp_path):
    """Test that UNIPEN text imported again (some writers first, then all) adds only the digits not there yet."""
    lines = SHARED_PENDIGITS.read_text().splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith(".SEGMENT")]
    path = tmp_path / "pen.tra"
    path.write_text("\n".join(lines[: starts[30]]) + "\n")
    from digitlab.datasets.pendigits import read_pendigits

    digits = read_pendigits(path)
    first_writer = digits[0].writer
    some = import_unipen(bank, path, writers=[first_writer])
    whole = import_file(bank, path)
    again = import_file(bank, path)
    mine = sum(digit.writer == first_writer for digit in digits)
    assert len(some.added) == mine and some.already_in_bank == 0
    assert (len(whole.added), whole.already_in_bank) == (len(digits) - mine, mine)
    assert (again.added, again.already_in_bank) == ([], len(digits))
    assert bank.count() == len(digits)


def test_a_deleted_drawing_is_gone_from_every_read_until_restored_with_its_id(bank, tmp_path):
    """Test that the bin hides a drawing from listing, counts, datasets, writers and export, and restore brings it back."""
    kept = bank.add(a_drawing(1, writer="Ana", session="visitor-a"))
    binned = bank.add(a_drawing(0, "zero", writer="Ben", session="visitor-b"))
    assert not bank.move_to_bin(binned, session="visitor-a")  # a visitor deletes only their own
    assert bank.move_to_bin(binned, session="visitor-b")
    assert not bank.move_to_bin(binned)  # already in the bin
    assert [d.id for d in bank.drawings()] == [kept] and bank.count() == 1 and bank.get(binned) is None
    assert bank.as_dataset().ids.tolist() == [kept] and bank.writers() == ["Ana"]
    assert bank.labelled_people() == {"Ana": 1} and bank.revision() == (1, kept)
    export_zip(bank, tmp_path / "bank.zip")
    assert zip_ids(tmp_path / "bank.zip") == [kept]

    assert not bank.restore(binned, session="visitor-a")
    assert bank.restore(binned, session="visitor-b")
    assert [d.id for d in bank.drawings(newest_first=False)] == [kept, binned]
    assert bank.get(binned).writer == "Ben"


def test_a_binned_drawing_imported_again_comes_back_once_and_its_undo_does_not_double_it(bank, tmp_path):
    """Test that importing a file holding a drawing now in the bin brings back that row (same id), and the delete's
    Undo afterwards reports it back without making a second copy."""
    kept = bank.add(a_drawing(1, writer="Ana"))
    binned = bank.add(a_drawing(0, "zero", writer="Ben"))
    export_zip(bank, tmp_path / "bank.zip")
    assert bank.move_to_bin(binned)

    again = import_file(bank, tmp_path / "bank.zip")
    assert (again.added, again.already_in_bank) == ([binned], 1)
    assert sorted(d.id for d in bank.drawings()) == [kept, binned]
    assert bank.restore(binned)  # the Undo, pressed after the import
    assert sorted(d.id for d in bank.drawings()) == [kept, binned] and bank.count() == 2
    assert import_file(bank, tmp_path / "bank.zip").added == []


def test_the_bin_is_purged_after_its_time_and_then_nothing_comes_back(bank):
    """Test that a drawing longer than BIN_MINUTES in the bin cannot be restored and is deleted for good."""
    old = bank.add(a_drawing(1))
    recent = bank.add(a_drawing(0, "zero"))
    assert bank.move_to_bin(old) and bank.move_to_bin(recent)
    with bank.engine.begin() as connection:  # as if deleted a minute longer ago than the bin keeps drawings
        connection.execute(update(drawings_table).where(drawings_table.c.id == old).values(
            deleted_at=datetime.now(timezone.utc) - BIN_TIME - timedelta(minutes=1)))
    assert not bank.restore(old)
    assert bank.purge_bin() == 1
    assert bank.restore(recent)
    with bank.engine.connect() as connection:
        ids = connection.execute(drawings_table.select().with_only_columns(drawings_table.c.id)).scalars().all()
    assert ids == [recent]


def test_a_refusal_from_the_server_does_not_name_the_database_user(tmp_path):
    """Test that the message for a database user the server refuses does not carry that user's name to the page."""
    import os

    from sqlalchemy.engine import make_url

    from digitlab.bank.repository import open_bank

    server = os.environ.get("DIGITLAB_TEST_POSTGRES_URL")
    if not server:
        pytest.skip("no PostgreSQL server for tests: DIGITLAB_TEST_POSTGRES_URL is not set (.ci/run starts one)")
    url = make_url(server).set(username="classroom_owner_42", password="secret").render_as_string(hide_password=False)
    with pytest.raises(DrawingBankError) as raised:
        open_bank(url)
    message = str(raised.value)
    assert "could not be opened" in message and "classroom_owner_42" not in message and "secret" not in message
