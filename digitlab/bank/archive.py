"""The drawing bank's files: export as a zip (PNGs, labels.csv, strokes.json), and import of that zip or of
UNIPEN pen-digit text. Import checks each row like a new drawing: the good rows go in, the rest are listed.

Export reads one snapshot of the bank (see DrawingBank.snapshot_drawings), so deletes made meanwhile
cannot shift it past a drawing; it streams into a temp file renamed when whole. Import is idempotent:
a drawing whose content hash, label and writer the bank already holds is counted, not stored again.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import numpy as np

from digitlab.bank.drawing_checks import (SOURCES, DrawingRejectedError, check_probabilities, check_sha256, encode_png,
                                          prepare_drawing)
from digitlab.bank.records import DrawingFilter, NewDrawing
from digitlab.bank.repository import DrawingBank
from digitlab.bank.rows import utc
from digitlab.bank.writer_tags import pen_writer_tag

MAX_IMPORT_ENTRIES = 200_000  # files in an imported zip
MAX_IMPORT_BYTES = 500 * 1024 * 1024  # total uncompressed size of an imported zip
ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06")
ZIP_ENCRYPTED_FLAG = 0x1  # general purpose bit 0 of a zip entry: its bytes need a password
# Compressions Python's zipfile reads; others (Deflate64, which Windows uses for large zips) fail only when read
READABLE_ZIP_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
ZIP_DEFLATE64 = 9
EXPORT_LABELS = "labels.csv"
EXPORT_STROKES = "strokes.json"
EXPORT_COLUMNS = ("id", "file", "label", "reading", "probabilities", "model_sha256", "source", "writer",
                  "created_at", "nickname")  # nickname: a class's student, in a class's export


@dataclass
class ImportReport:
    """What an import did: the ids added, how many were in the bank already, and why rows were left out."""

    added: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    already_in_bank: int = 0  # drawings the bank held already (same content, label and writer): not stored again

    def to_json(self) -> dict:
        return {"added": len(self.added), "already_in_bank": self.already_in_bank, "problems": self.problems}

    def summary(self) -> str:
        """One line for people: "0 new, 7,494 already in the bank", and how many rows were left out."""
        line = f"{len(self.added):,} new, {self.already_in_bank:,} already in the bank"
        return line + (f", {len(self.problems):,} left out" if self.problems else "")

    def store(self, bank: DrawingBank, drawings: list[NewDrawing]) -> "ImportReport":
        """Add to the bank those drawings it does not hold yet, in one transaction, and note what happened."""
        self.added, self.already_in_bank = bank.add_absent(drawings)
        return self


def export_zip(bank: DrawingBank, out: str | Path, where: DrawingFilter = DrawingFilter(), page: int = 500) -> int:
    """Write the bank (or the drawings matching where) as a zip: PNGs, labels.csv and strokes.json.

    Every drawing in the bank when the export starts is in the zip, whatever is deleted meanwhile: it is
    read as one snapshot, page drawings at a time. The zip is written to a temp file and renamed, so a
    failed export leaves no half a zip. Returns the number of drawings written.
    """
    from digitlab.store.atomic import write_atomic

    written = 0

    def write(temp: Path) -> None:
        nonlocal written
        # labels.csv and strokes.json grow beside the zip in temp files, a row at a time, and are copied in at
        # the end: a bank's strokes can be hundreds of MB, never all in memory.
        with tempfile.TemporaryFile("w+", encoding="utf-8", newline="") as labels, \
                tempfile.TemporaryFile("w+", encoding="utf-8") as strokes, \
                zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            writer = csv.writer(labels, lineterminator="\n")
            writer.writerow(EXPORT_COLUMNS)
            strokes.write("{")
            separator = ""
            for drawing in bank.snapshot_drawings(where, page):
                name = f"drawings/{drawing.id:07d}.png"
                archive.writestr(name, drawing.png)
                writer.writerow([drawing.id, name, _blank(drawing.label), _blank(drawing.reading),
                                 json.dumps(drawing.probabilities) if drawing.probabilities else "",
                                 drawing.model_sha256 or "", drawing.source, drawing.writer or "",
                                 drawing.created_at.isoformat(), drawing.nickname or ""])
                if drawing.strokes:  # parsed and written again: a stored row that is not JSON fails here, not on import
                    compact = json.dumps(json.loads(drawing.strokes), separators=(",", ":"))
                    strokes.write(f"{separator}{json.dumps(str(drawing.id))}:{compact}")
                    separator = ","
                written += 1
            strokes.write("}")
            for entry_name, part in ((EXPORT_LABELS, labels), (EXPORT_STROKES, strokes)):
                part.seek(0)
                with archive.open(entry_name, "w", force_zip64=True) as entry:
                    while chunk := part.read(1 << 20):
                        entry.write(chunk.encode("utf-8"))

    write_atomic(out, write)
    return written


def _blank(value) -> str:
    return "" if value is None else str(value)


def import_file(bank: DrawingBank, path: str | Path, session: str | None = None,
                writers: Iterable[int] | None = None) -> ImportReport:
    """Import a zip written by export_zip, or UNIPEN pen-digit text (only writers, if given); the good rows go in,
    the rest are listed. What the file holds decides which, not its name."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            head = file.read(4)
    except OSError as error:
        raise DrawingRejectedError(f"{path} cannot be read ({error.strerror or error}).") from error
    if head in ZIP_SIGNATURES:
        if writers is not None:
            raise DrawingRejectedError(f"{path.name} is a zip archive: writer numbers pick digits from UNIPEN text "
                                       "only, so import the zip without them.")
        return import_zip(bank, path, session)
    if path.suffix.lower() == ".zip":
        raise DrawingRejectedError(f"{path.name} is not a zip archive: its name ends in .zip but its contents are "
                                   "not a zip. Import a zip written by Export (`drawings export`), or UNIPEN pen-digit "
                                   "text.")
    return import_unipen(bank, path, writers=writers)


def import_zip(bank: DrawingBank, path: str | Path, session: str | None = None) -> ImportReport:
    """Import an export zip. Each CSV row is checked like a new drawing; broken ones are listed, not stored."""
    report = ImportReport()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise DrawingRejectedError(f"{Path(path).name} is not a readable zip ({error}).") from error
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_IMPORT_ENTRIES or sum(entry.file_size for entry in entries) > MAX_IMPORT_BYTES:
            raise DrawingRejectedError("The zip is too large to import: split it into smaller zips.")
        _refuse_unreadable_entries(entries)
        sizes = {entry.filename: entry.file_size for entry in entries}
        if EXPORT_LABELS not in sizes:
            raise DrawingRejectedError(f"The zip has no {EXPORT_LABELS}; it was not written by DigitLab's export.")
        try:
            # utf-8-sig: a spreadsheet that saves the CSV again puts a BOM first, which would rename the id column
            rows = list(csv.DictReader(io.StringIO(archive.read(EXPORT_LABELS).decode("utf-8-sig"))))
            strokes = json.loads(archive.read(EXPORT_STROKES)) if EXPORT_STROKES in sizes else {}
        except (UnicodeDecodeError, ValueError, RecursionError, zipfile.BadZipFile, csv.Error) as error:
            raise DrawingRejectedError(f"The zip's {EXPORT_LABELS} or {EXPORT_STROKES} cannot be read ({error}).") from error
        if not isinstance(strokes, dict):
            strokes = {}
        prepared = []
        for number, row in enumerate(rows, start=2):  # line 1 is the header
            try:
                prepared.append(_drawing_from_row(archive, sizes, row, strokes, session))
            except DrawingRejectedError as error:
                report.problems.append(f"{EXPORT_LABELS} line {number}: {error}")
            except (KeyError, zipfile.BadZipFile, OSError, ValueError, RecursionError) as error:
                report.problems.append(f"{EXPORT_LABELS} line {number}: unreadable ({error}).")
    return report.store(bank, prepared)


def _refuse_unreadable_entries(entries: list[zipfile.ZipInfo]) -> None:
    """DrawingRejectedError, before anything is read, if any entry is encrypted or compressed in a way zipfile
    cannot read: zipfile would otherwise fail part way with an error that is not about the drawings."""
    if any(entry.flag_bits & ZIP_ENCRYPTED_FLAG for entry in entries):
        raise DrawingRejectedError("Nothing was imported: the zip's files are encrypted. Zip them again without a "
                                   "password, or import the zip as Export wrote it.")
    for entry in entries:
        if entry.compress_type not in READABLE_ZIP_COMPRESSIONS:
            method = "Deflate64" if entry.compress_type == ZIP_DEFLATE64 else f"method {entry.compress_type}"
            raise DrawingRejectedError(f"Nothing was imported: the zip's files use a compression this reader does not "
                                       f"support ({method}). Zip them again with ordinary (Deflate) compression, or "
                                       "import the zip as Export wrote it.")


def _drawing_from_row(archive: zipfile.ZipFile, sizes: dict, row: dict, strokes: dict,
                      session: str | None) -> NewDrawing:
    from digitlab.serving.images import MAX_FILE_BYTES

    name = (row.get("file") or "").strip()
    if name not in sizes:
        raise DrawingRejectedError(f"the image {name or '(none)'} is not in the zip.")
    if sizes[name] > MAX_FILE_BYTES:
        raise DrawingRejectedError(f"the image {name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB.")
    source = (row.get("source") or "import").strip()
    probabilities = (row.get("probabilities") or "").strip()
    created = (row.get("created_at") or "").strip()
    try:
        created_at = datetime.fromisoformat(created) if created else None
    except ValueError:
        raise DrawingRejectedError(f"the time {created!r} is not an ISO date and time.") from None
    try:  # stored as UTC: a time near year 1 or 9999 with an offset falls outside the calendar there
        created_at = utc(created_at) if created_at else None
    except OverflowError:
        raise DrawingRejectedError(f"the time {created!r} falls outside the years 1 to 9999 when converted to "
                                   "UTC.") from None
    try:
        parsed_probabilities = json.loads(probabilities) if probabilities else None
    except (ValueError, RecursionError):
        raise DrawingRejectedError("the probabilities are not a JSON list.") from None
    return prepare_drawing(
        archive.read(name), _optional(row.get("label")), source if source in SOURCES else "import",
        writer=_optional(row.get("writer")), session=session, strokes=strokes.get(str(row.get("id", "")).strip()),
        reading=_optional(row.get("reading")), probabilities=parsed_probabilities,
        model_sha256=_optional(row.get("model_sha256")), created_at=created_at)


def _optional(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def import_unipen(bank: DrawingBank, path: str | Path, writers: Iterable[int] | None = None,
                  seed: int = 0, class_id: int | None = None, read: Callable[[np.ndarray], np.ndarray] | None = None,
                  model_sha256: str | None = None) -> ImportReport:
    """Import UNIPEN pen digits (pendigits-orig format) drawn as canvas drawings, tagged pen-NN by writer.

    Each digit is drawn with its own seeded size, place and brush (as pendigits.render_on_canvas
    varies them), seeded by its place in the file, so importing the same file again (whole, or other
    writers of it) gives the same images and adds only what the bank lacks. writers limits the import
    to those writer numbers. With class_id they go into that class, each writer a student nicknamed by its tag.
    With read (a model's probabilities for (n, 28, 28) images), each is stored with that model's reading,
    as if drawn on the Draw page: what a class's confusion matrix counts.
    """
    from digitlab.datasets.pendigits import read_pendigits_checked, render_on_canvas

    try:
        digits, problems = read_pendigits_checked(path)
    except OSError as error:
        raise DrawingRejectedError(f"{path} cannot be read ({error.strerror or error}).") from error
    report = ImportReport(problems=list(problems))
    wanted = None if writers is None else set(writers)
    prepared = []
    for index, digit in enumerate(digits):
        if wanted is not None and digit.writer not in wanted:
            continue
        try:
            if not _pen_points_are_finite(digit.strokes):  # the renderer would fail on them, ending the whole import
                raise DrawingRejectedError("the pen points are not finite numbers (NaN or infinity).")
            canvas = render_on_canvas(digit, np.random.default_rng([seed, index]), rgba=False)  # grey: 1/4 the PNG
            pen = {"format": "unipen", "strokes": [np.round(stroke, 1).tolist() for stroke in digit.strokes]}
            tag = pen_writer_tag(digit.writer)
            prepared.append(prepare_drawing(encode_png(canvas), digit.label, "import", strokes=pen, writer=tag,
                                            class_id=class_id, nickname=tag if class_id is not None else None))
        except DrawingRejectedError as error:
            report.problems.append(f"digit {index + 1} (writer {digit.writer}): {error}")
    if read is not None and prepared:
        probabilities = read(np.stack([drawing.mnist for drawing in prepared]))
        prepared = [replace(drawing, reading=int(np.argmax(row)), probabilities=check_probabilities(row),
                            model_sha256=check_sha256(model_sha256)) for drawing, row in zip(prepared, probabilities)]
    return report.store(bank, prepared)


def _pen_points_are_finite(strokes: list[np.ndarray]) -> bool:
    """Whether every pen point, and their spread, is a finite number: points read as float32 that are NaN or
    infinite, or so far apart that their spread overflows, would be drawn at NaN pixel positions."""
    points = np.concatenate(strokes)
    with np.errstate(over="ignore", invalid="ignore"):
        spread = points.max(axis=0) - points.min(axis=0)
    return bool(np.isfinite(points).all() and np.isfinite(spread).all())
