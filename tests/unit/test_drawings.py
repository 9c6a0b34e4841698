"""The drawing bank (bank/repository.py, its checks, and its files in bank/archive.py) on a real database: SQLite always, PostgreSQL when .ci/run started a server."""

from __future__ import annotations

import csv
import io
import json
import os
import struct
import zipfile
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo

from digitlab.bank.archive import export_zip, import_file
from digitlab.bank.drawing_checks import DrawingRejectedError, prepare_drawing
from digitlab.bank.engine import DrawingBankError
from digitlab.bank.records import DrawingFilter
from digitlab.bank.repository import DrawingBank, open_bank
from tests.conftest import SHARED_PENDIGITS
from tests.databases import BACKENDS, fresh_database_url

STROKES = {"version": "4.4.0", "objects": [{"type": "path", "stroke": "#FFFFFF", "strokeWidth": 18,
                                            "path": [["M", 140, 40], ["L", 140, 240]]}]}


def digit_png(shape: str = "one", size: int = 280) -> bytes:
    """A canvas-like PNG: a white 1 (a vertical bar) or 0 (an ellipse) on a transparent layer."""
    layer = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(layer)
    if shape == "one":
        draw.line([(size // 2, size // 7), (size // 2, size * 6 // 7)], fill=255, width=size // 14)
    else:
        draw.ellipse([size // 4, size // 7, size * 3 // 4, size * 6 // 7], outline=255, width=size // 14)
    rgba = Image.merge("RGBA", [Image.new("L", layer.size, 255)] * 3 + [layer])
    buffer = io.BytesIO()
    rgba.save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture(params=BACKENDS)
def bank(request, tmp_path):
    return DrawingBank(_migrated(fresh_database_url(request.param, tmp_path)))


@pytest.fixture
def sqlite_bank(tmp_path):
    return DrawingBank(_migrated(fresh_database_url("sqlite", tmp_path)))


def _migrated(url: str) -> str:
    DrawingBank(url).migrate()
    return url


def a_drawing(label=1, shape="one", **fields):
    return prepare_drawing(digit_png(shape), label, fields.pop("source", "draw"), **fields)


def test_a_saved_drawing_comes_back_whole(bank):
    """Test that strokes, PNG, 28x28, label, reading, probabilities, model, source, writer and time all survive."""
    png = digit_png("one")
    probabilities = [0.01] * 7 + [0.91, 0.01, 0.01]
    before = datetime.now(timezone.utc)
    new = prepare_drawing(png, 1, "draw", writer="Ana", session="s-1", strokes=json.dumps(STROKES), reading=7,
                          probabilities=probabilities, model_sha256="ab" * 32)
    stored = bank.get(bank.add(new))
    assert stored.png == png  # re-encoded, a PNG of pixels alone comes back byte for byte
    assert json.loads(stored.strokes) == STROKES
    assert np.array_equal(stored.mnist, new.mnist) and stored.mnist.shape == (28, 28) and stored.mnist.max() > 200
    assert (stored.label, stored.reading, stored.correct) == (1, 7, False)
    assert stored.probabilities == pytest.approx(probabilities)
    assert (stored.model_sha256, stored.source, stored.writer, stored.session) == ("ab" * 32, "draw", "Ana", "s-1")
    assert before - timedelta(seconds=1) <= stored.created_at <= datetime.now(timezone.utc) + timedelta(seconds=1)


def test_filters_pick_the_drawings_asked_for(bank):
    """Test that label, reading, right/wrong, writer, source and date filters each narrow the list correctly."""
    right = bank.add(a_drawing(1, reading=1, writer="Ana"))
    wrong = bank.add(a_drawing(0, "zero", reading=6, writer="Ben", source="upload"))
    unread = bank.add(a_drawing(0, "zero", source="import", writer="pen-03"))

    def ids(**where):
        return sorted(drawing.id for drawing in bank.drawings(DrawingFilter(**where)))

    assert ids() == sorted([right, wrong, unread])
    assert ids(label=0) == sorted([wrong, unread])
    assert ids(reading=6) == [wrong]
    assert ids(correct=True) == [right] and ids(correct=False) == [wrong]
    assert ids(writer="pen-03") == [unread]
    assert ids(source="upload") == [wrong]
    now = datetime.now(timezone.utc)
    assert ids(since=now - timedelta(minutes=5)) == sorted([right, wrong, unread])
    assert ids(until=now - timedelta(minutes=5)) == []
    assert bank.count(DrawingFilter(label=0)) == 2
    assert bank.writers() == ["Ana", "Ben", "pen-03"]


def test_as_dataset_gives_labelled_drawings_with_writers(bank):
    """Test that as_dataset returns the 28x28 images, labels and writers of labelled drawings, per writer if asked."""
    first = bank.add(a_drawing(1, writer="Ana"))
    bank.add(a_drawing(None, "zero", writer="Ana"))  # no label: not a training or test example
    third = bank.add(a_drawing(0, "zero", writer="Ben"))
    dataset = bank.as_dataset()
    assert dataset.x.shape == (2, 28, 28) and dataset.x.dtype == np.uint8
    assert dataset.y.tolist() == [1, 0] and dataset.writers.tolist() == ["Ana", "Ben"]
    assert dataset.ids.tolist() == [first, third]
    assert np.array_equal(dataset.x[1], bank.get(third).mnist)
    assert bank.as_dataset(writer="Ben").y.tolist() == [0]
    assert len(bank.as_dataset(writer="nobody")) == 0


@pytest.mark.parametrize("label", [10, -1, "a", "", 1.5, True, "12"])
def test_a_label_outside_0_to_9_is_refused(sqlite_bank, label):
    """Test that a label that is not a digit 0-9 is refused with a message, and nothing is stored."""
    with pytest.raises(DrawingRejectedError, match="digit from 0 to 9"):
        sqlite_bank.add(a_drawing(label))
    assert sqlite_bank.count() == 0


def test_bad_images_and_forged_canvas_messages_are_refused(sqlite_bank):
    """Test that a non-image, an oversized image and forged canvas messages are refused and store nothing."""
    cases = [
        (lambda: prepare_drawing(b"<html>not a picture</html>", 1, "upload"), "not a PNG or JPEG"),
        (lambda: prepare_drawing(_huge_png(), 1, "upload"), "too large"),
        (lambda: prepare_drawing(digit_png(), 1, "draw", strokes="{not json"), "not valid JSON"),
        (lambda: prepare_drawing(digit_png(), 1, "draw", strokes='["a list"]'), "not a drawing"),
        (lambda: prepare_drawing(digit_png(), 1, "draw", strokes='{"objects": "x"}'), "no list of stroke objects"),
        (lambda: prepare_drawing(digit_png(), 1, "draw", strokes={"objects": [{"type": "path"}] * 5000}), "strokes"),
        (lambda: prepare_drawing(digit_png(), 1, "draw", strokes="x" * 3_000_000), "larger than"),
        (lambda: prepare_drawing(digit_png(), 1, "draw", strokes='{"objects": [{"type": "path", "left": NaN}]}'),
         "NaN"),
        (lambda: prepare_drawing(digit_png(), 1, "draw", strokes="[" * 100_000 + "]" * 100_000), "not valid JSON"),
        (lambda: prepare_drawing(digit_png(), 1, "draw", probabilities=[0.5, 0.5]), "ten numbers"),
        (lambda: prepare_drawing(digit_png(), 1, "draw", writer="<script>"), "writer tag"),
        (lambda: prepare_drawing(digit_png(), 1, "hacked"), "source"),
        (lambda: prepare_drawing(_blank_png(), 1, "draw"), "no digit"),
    ]
    for make, message in cases:
        with pytest.raises(DrawingRejectedError, match=message):
            sqlite_bank.add(make())
    assert sqlite_bank.count() == 0


def _huge_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000), 0).save(buffer, "PNG")  # 25 megapixels: over the upload limit
    return buffer.getvalue()


def _blank_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (280, 280), (0, 0, 0, 0)).save(buffer, "PNG")
    return buffer.getvalue()


def test_an_upload_carrying_megabytes_of_extra_chunks_is_stored_as_its_pixels_alone(sqlite_bank, tmp_path):
    """Test that a 280 px digit PNG padded with a 4.8 MB private chunk is stored as the plain PNG of its pixels,
    and that its export imported again is already in the bank."""
    plain = digit_png("one")
    padded = _with_chunk(plain, b"prVt", bytes(4_800_000))
    stored = sqlite_bank.get(sqlite_bank.add(prepare_drawing(padded, 1, "upload")))
    assert stored.png == plain  # the same pixels give the same bytes, however the file was padded
    assert len(stored.png) < 10_000
    out = tmp_path / "bank.zip"
    export_zip(sqlite_bank, out)
    assert import_file(sqlite_bank, out).summary() == "0 new, 1 already in the bank"


@pytest.mark.parametrize("mode", ["L", "1", "RGB", "RGBA", "P", "I;16", "sideways"])
def test_a_stored_upload_keeps_its_mode_and_pixels_and_drops_text_and_colour_profiles(mode):
    """Test that an upload with a text note and an ICC profile is stored with neither, in its own mode, with the
    same pixels (a photo turned by its EXIF orientation stays upright), and that storing it again changes nothing."""
    from digitlab.serving.images import decode_image

    digit = Image.open(io.BytesIO(digit_png("one", size=120))).getchannel("A")
    picture = {"L": digit, "1": digit.convert("1"), "RGB": digit.convert("RGB"), "RGBA": digit.convert("RGBA"),
               "P": digit.convert("RGB").quantize(4), "I;16": Image.fromarray(np.asarray(digit, np.uint16) * 257),
               "sideways": digit.convert("RGB").rotate(90, expand=True)}[mode]
    note = PngInfo()
    note.add_text("Comment", "x" * 200_000, zip=True)
    extras = dict(pnginfo=note, icc_profile=bytes(100_000), transparency=0 if mode in ("L", "P") else None)
    if mode == "sideways":
        orientation = Image.Exif()
        orientation[0x0112] = 6  # the camera was turned: viewers rotate it 90 degrees clockwise
        extras["exif"] = orientation
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", **{key: value for key, value in extras.items() if value is not None})
    sent = buffer.getvalue()

    stored = prepare_drawing(sent, 1, "upload").png
    assert set(_chunk_types(stored)) <= {b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"}
    assert Image.open(io.BytesIO(stored)).mode == Image.open(io.BytesIO(sent)).mode
    assert np.array_equal(decode_image(stored), decode_image(sent))
    if mode != "sideways":
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(stored))), np.asarray(picture))
    assert prepare_drawing(stored, 1, "import").png == stored


def _with_chunk(png: bytes, chunk_type: bytes, data: bytes) -> bytes:
    """png with one more chunk right after its header, as an editor or a forger may add."""
    chunk = struct.pack(">I", len(data)) + chunk_type + data + struct.pack(">I", zlib.crc32(chunk_type + data))
    header_end = 8 + 8 + 13 + 4  # signature, then IHDR's length, type, 13 bytes and CRC
    return png[:header_end] + chunk + png[header_end:]


def _chunk_types(png: bytes) -> list[bytes]:
    types, offset = [], 8
    while offset < len(png):
        (length,) = struct.unpack(">I", png[offset:offset + 4])
        types.append(png[offset + 4:offset + 8])
        offset += 12 + length
    return types


SAVE_MANY = """
import sys
from digitlab.bank.repository import DrawingBank
from tests.unit.test_drawings import a_drawing

url, count, writer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
bank = DrawingBank(url)
drawing = a_drawing(1, writer=writer)
for _ in range(count):
    bank.add(drawing)
"""


def test_concurrent_writers_lose_nothing(bank):
    """Test that four processes saving at once all get their drawings stored."""
    import subprocess
    import sys

    # Fresh interpreters, not multiprocessing: a spawned child re-runs the parent's __main__, which after an
    # AppTest in the same pytest process can be a page script.
    root = Path(__file__).resolve().parents[2]
    processes = [subprocess.Popen([sys.executable, "-c", SAVE_MANY, bank.url, "15", f"w{n}"], cwd=root,
                                  env={**os.environ, "PYTHONPATH": str(root)}, stderr=subprocess.PIPE, text=True)
                 for n in range(4)]
    errors = [process.communicate(timeout=180)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    assert bank.count() == 60
    assert {writer: bank.count(DrawingFilter(writer=writer)) for writer in bank.writers()} == {
        "w0": 15, "w1": 15, "w2": 15, "w3": 15}


def test_a_full_disk_during_a_save_loses_nothing_and_says_so(sqlite_bank):
    """Test that when the database file cannot grow, the save fails with a message and earlier drawings stay."""
    from sqlalchemy import event

    kept = sqlite_bank.add(a_drawing(1, writer="kept"))

    @event.listens_for(sqlite_bank.engine, "connect")
    def _tiny_disk(dbapi_connection, _record):
        # SQLite's own limit on the file's pages: past it, writes fail exactly as on a full disk.
        pages = dbapi_connection.execute("PRAGMA page_count").fetchone()[0]
        dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 2}")

    sqlite_bank.engine.dispose()
    saved = 0
    with pytest.raises(DrawingBankError, match="could not be written .*full.*Nothing was saved"):
        for _ in range(200):
            sqlite_bank.add(a_drawing(0, "zero", writer="filler"))
            saved += 1
    assert sqlite_bank.count() == 1 + saved  # the failed save left no half row; the earlier ones are all there
    assert sqlite_bank.get(kept).writer == "kept"


def test_a_dropped_connection_is_replaced_and_nothing_is_lost(tmp_path):
    """Test that after the server drops the bank's connections the next save still works and earlier rows stay."""
    url = fresh_database_url("postgresql", tmp_path)
    bank = DrawingBank(_migrated(url))
    first = bank.add(a_drawing(1))
    from sqlalchemy import create_engine, text

    admin = create_engine(os.environ["DIGITLAB_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        dropped = connection.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = :name"),
            {"name": bank.engine.url.database}).scalar()
    admin.dispose()
    assert dropped >= 1
    second = bank.add(a_drawing(0, "zero"))
    assert [drawing.id for drawing in bank.drawings(newest_first=False)] == [first, second]


def test_an_unreachable_database_is_reported_not_raised(tmp_path):
    """Test that a database server that is not there gives a DrawingBankError with a readable message."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free, and nothing listens on it once the probe closes
    with pytest.raises(DrawingBankError, match="could not be opened"):
        open_bank(f"postgresql+psycopg://nobody:secret@127.0.0.1:{port}/none?connect_timeout=3")


def test_a_visitor_save_stops_at_the_bank_size(bank):
    """Test that with max_drawings a save into a full bank is refused with a message (drawings in the bin don't count)."""
    for _ in range(3):
        bank.add(a_drawing(1, session="visitor-a"), max_drawings=3)
    with pytest.raises(DrawingRejectedError, match="full"):
        bank.add(a_drawing(1, session="visitor-b"), max_drawings=3)
    assert bank.move_to_bin(bank.drawings()[0].id)
    bank.add(a_drawing(1, session="visitor-b"), max_drawings=3)
    assert bank.count() == 3


def test_a_visitor_deletes_only_their_own_drawings(sqlite_bank):
    """Test that delete with a session removes that session's drawing but not another's."""
    mine = sqlite_bank.add(a_drawing(1, session="me"))
    theirs = sqlite_bank.add(a_drawing(1, session="them"))
    assert not sqlite_bank.delete(theirs, session="me")
    assert sqlite_bank.delete(mine, session="me")
    assert [drawing.id for drawing in sqlite_bank.drawings()] == [theirs]
    assert sqlite_bank.delete(theirs)  # the owner (no session) may delete any


def test_export_then_import_into_a_fresh_bank_keeps_everything(bank, tmp_path):
    """Test that a zip export imported into an empty bank gives the same drawings, labels, writers and strokes."""
    bank.add(a_drawing(1, writer="Ana", strokes=STROKES, reading=7, probabilities=[0.1] * 10,
                       model_sha256="cd" * 32))
    bank.add(a_drawing(0, "zero", writer="Ben", source="upload"))
    out = tmp_path / "bank.zip"
    assert export_zip(bank, out) == 2
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
    assert sum(name.endswith(".png") for name in names) == 2 and "strokes.json" in names
    assert [row["label"] for row in rows] == ["1", "0"]

    other = DrawingBank(_migrated(fresh_database_url("sqlite", tmp_path / "other")))
    report = import_file(other, out)
    assert report.problems == [] and len(report.added) == 2
    originals, copies = bank.drawings(newest_first=False), other.drawings(newest_first=False)
    for original, copy in zip(originals, copies):
        assert (copy.label, copy.writer, copy.source, copy.reading) == (
            original.label, original.writer, original.source, original.reading)
        assert copy.png == original.png and np.array_equal(copy.mnist, original.mnist)
        assert copy.created_at == original.created_at
    assert json.loads(copies[0].strokes) == STROKES


def test_an_import_with_broken_rows_takes_the_good_ones_and_lists_the_rest(sqlite_bank, tmp_path):
    """Test that rows with a bad label, a missing image or a non-image are listed and the good rows go in."""
    out = tmp_path / "mixed.zip"
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("drawings/a.png", digit_png("one"))
        archive.writestr("drawings/b.png", digit_png("zero"))
        archive.writestr("drawings/c.png", b"not an image at all")
        archive.writestr("labels.csv", "id,file,label,source,writer\n1,drawings/a.png,1,draw,Ana\n"
                                       "2,drawings/b.png,12,draw,Ana\n3,drawings/missing.png,3,draw,Ana\n"
                                       "4,drawings/c.png,4,draw,Ana\n5,drawings/b.png,0,import,Ben\n")
    report = import_file(sqlite_bank, out)
    assert len(report.added) == 2
    assert [problem.split(":")[0] for problem in report.problems] == [
        "labels.csv line 3", "labels.csv line 4", "labels.csv line 5"]
    assert "digit from 0 to 9" in report.problems[0] and "not in the zip" in report.problems[1]
    assert "not a PNG or JPEG" in report.problems[2]
    assert sorted((d.label, d.writer) for d in sqlite_bank.drawings()) == [(0, "Ben"), (1, "Ana")]


def test_a_zip_that_is_not_an_export_is_refused(sqlite_bank, tmp_path):
    """Test that a zip without labels.csv is refused with a message and stores nothing."""
    out = tmp_path / "photos.zip"
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.png", digit_png())
    with pytest.raises(DrawingRejectedError, match="no labels.csv"):
        import_file(sqlite_bank, out)
    assert sqlite_bank.count() == 0


def test_what_a_file_holds_decides_how_it_imports_not_its_name(sqlite_bank, tmp_path):
    """Test that text named .zip is "not a zip archive", an empty zip has "no labels.csv", and a zip with writer
    numbers is refused: each says so and stores nothing."""
    notes = tmp_path / "notes.ZIP"
    notes.write_text("hello world\n")
    with pytest.raises(DrawingRejectedError, match=r"^notes.ZIP is not a zip archive: its name ends in .zip"):
        import_file(sqlite_bank, notes)
    empty = tmp_path / "empty.bin"
    zipfile.ZipFile(empty, "w").close()  # no entries: the file is only the zip's end record
    with pytest.raises(DrawingRejectedError, match="no labels.csv"):
        import_file(sqlite_bank, empty)
    with pytest.raises(DrawingRejectedError, match="empty.bin is a zip archive: writer numbers"):
        import_file(sqlite_bank, empty, writers=[1])
    assert sqlite_bank.count() == 0


def _zip_whose_headers_claim(path: Path, flag_bits: int = 0, compress_type: int | None = None) -> Path:
    """An export zip of one drawing whose entries' local and central headers have flag_bits set and, if given,
    compress_type: the bytes stay plain, but a reader believes the headers (0x1 encrypted; 9 Deflate64)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("drawings/a.png", digit_png())
        archive.writestr("labels.csv", "id,file,label\n1,drawings/a.png,1\n")
        for entry in archive.infolist():  # the central directory, written on close, copies these
            entry.flag_bits |= flag_bits
            entry.compress_type = entry.compress_type if compress_type is None else compress_type
    data = bytearray(buffer.getvalue())
    for entry in zipfile.ZipFile(io.BytesIO(data)).infolist():  # a local header: flags at byte 6, method at byte 8
        data[entry.header_offset + 6] |= flag_bits
        if compress_type is not None:
            struct.pack_into("<H", data, entry.header_offset + 8, compress_type)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("headers, refusal", [
    ({"flag_bits": 0x1}, "are encrypted"),
    ({"compress_type": 9}, r"use a compression this reader does not support \(Deflate64\)")])
def test_an_encrypted_or_deflate64_zip_is_refused_with_a_reason_and_stores_nothing(sqlite_bank, tmp_path, headers,
                                                                                    refusal):
    """Test that a zip whose files are encrypted or Deflate64-compressed is refused saying which, not with a crash."""
    out = _zip_whose_headers_claim(tmp_path / "drawings.zip", **headers)
    with pytest.raises(DrawingRejectedError, match=f"^Nothing was imported: the zip's files {refusal}"):
        import_file(sqlite_bank, out)
    assert sqlite_bank.count() == 0


@pytest.mark.parametrize("created_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_row_whose_time_is_outside_the_calendar_in_utc_is_left_out_and_the_rest_imported(sqlite_bank, tmp_path,
                                                                                            created_at):
    """Test that a created_at that leaves years 1-9999 when made UTC lists its row and imports the others."""
    out = tmp_path / "times.zip"
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("drawings/a.png", digit_png("one"))
        archive.writestr("drawings/b.png", digit_png("zero"))
        archive.writestr("labels.csv", f"id,file,label,created_at\n1,drawings/a.png,1,{created_at}\n"
                                       "2,drawings/b.png,0,2024-05-01T12:00:00+02:00\n")
    report = import_file(sqlite_bank, out)
    assert report.problems == [f"labels.csv line 2: the time {created_at!r} falls outside the years 1 to 9999 "
                               "when converted to UTC."]
    assert [(d.label, d.created_at) for d in sqlite_bank.drawings()] == [
        (0, datetime(2024, 5, 1, 10, tzinfo=timezone.utc))]


def test_a_labels_csv_saved_with_a_byte_order_mark_keeps_each_drawings_strokes(sqlite_bank, tmp_path):
    """Test that labels.csv re-saved by a spreadsheet (a UTF-8 BOM first) still matches its rows to strokes.json."""
    out = tmp_path / "resaved.zip"
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("drawings/a.png", digit_png("one"))
        archive.writestr("labels.csv", "\ufeffid,file,label\n7,drawings/a.png,1\n".encode("utf-8"))
        archive.writestr("strokes.json", json.dumps({"7": STROKES}))
    report = import_file(sqlite_bank, out)
    assert report.problems == [] and len(report.added) == 1
    assert json.loads(sqlite_bank.drawings()[0].strokes) == STROKES


def test_unipen_digits_whose_pen_points_are_not_finite_are_left_out_and_the_rest_imported(sqlite_bank, tmp_path):
    """Test that a pen digit with a NaN, an infinite or a float32-overflowing point is listed, the others stored."""
    def segment(number: int, *middle_points: str) -> str:  # a 1 drawn down the tablet through middle_points
        points = "".join(f" {point}\n" for point in ("250 450", *middle_points, "250 50"))
        return f'.SEGMENT DIGIT {number} ? "1"\n.COMMENT 1 4 {number}\n.PEN_DOWN\n{points}.PEN_UP\n'

    path = tmp_path / "pen.tra"
    path.write_text(segment(0, "250 250") + segment(1, "nan 250") + segment(2, "250 inf")
                    + segment(3, "250 3e38", "250 -3e38") + segment(4, "251 250"))
    report = import_file(sqlite_bank, path)
    assert report.problems == [f"digit {number} (writer 4): the pen points are not finite numbers (NaN or infinity)."
                               for number in (2, 3, 4)]
    assert len(report.added) == 2 and [d.writer for d in sqlite_bank.drawings()] == ["pen-04", "pen-04"]


@pytest.mark.skipif(not SHARED_PENDIGITS.exists(), reason="pendigits-orig.tra is not in ../shared/data")
def test_unipen_import_draws_pen_digits_with_writer_tags(sqlite_bank, tmp_path):
    """Test that UNIPEN text comes in as drawings tagged by writer, with a broken segment listed and skipped."""
    lines = SHARED_PENDIGITS.read_text().splitlines()
    starts = [n for n, line in enumerate(lines) if line.startswith(".SEGMENT")]
    sample = lines[: starts[12]]
    broken = [".SEGMENT DIGIT 99 ? \"7\"", ".COMMENT 7 5 1", ".PEN_DOWN", " 10 ten", ".PEN_UP"]
    path = tmp_path / "pen.tra"
    path.write_text("\n".join(sample[: starts[3]] + broken + sample[starts[3]:]) + "\n")
    report = import_file(sqlite_bank, path)
    assert len(report.added) == 12
    assert len(report.problems) == 1 and report.problems[0].startswith(f"line {starts[3] + 1}:")
    stored = sqlite_bank.drawings(newest_first=False)
    from digitlab.datasets.pendigits import read_pendigits

    expected = read_pendigits(SHARED_PENDIGITS)[:12]
    assert [d.label for d in stored] == [digit.label for digit in expected]
    assert [d.writer for d in stored] == [f"pen-{digit.writer:02d}" for digit in expected]
    assert all(d.source == "import" and json.loads(d.strokes)["format"] == "unipen" for d in stored)
    again = DrawingBank(_migrated(fresh_database_url("sqlite", tmp_path / "again")))
    import_file(again, path)
    assert [d.png for d in again.drawings(newest_first=False)] == [d.png for d in stored]  # seeded: same images


def test_labelled_people_are_counted_as_the_training_split_names_them(bank):
    """Test that the per-person counts (writer tag, else session) match the dataset a run would snapshot."""
    bank.add(a_drawing(1, writer="Ana"))
    bank.add(a_drawing(0, shape="zero", writer="Ana"))
    bank.add(a_drawing(1, session="visitor-0123456789"))
    bank.add(a_drawing(None))  # unlabelled: never trained on, not counted

    counts = bank.labelled_people()
    assert counts == {"Ana": 2, "session visitor-0123456789": 1}
    people = bank.as_dataset().people.tolist()
    assert {name: people.count(name) for name in set(people)} == counts
