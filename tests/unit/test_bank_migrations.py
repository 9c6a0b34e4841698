"""The drawing bank's Alembic migrations (bank/migrate.py), run when a bank is opened: SQLite always, PostgreSQL when
.ci/run started a server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import MetaData, Table, event, insert, inspect, text

from digitlab.bank.drawing_checks import encode_png
from digitlab.bank.migrate import HAND_MIGRATED_TABLE, head_revision
from digitlab.bank.records import NewDrawing
from digitlab.bank.engine import DrawingBankError
from digitlab.bank.repository import DrawingBank, open_bank
from digitlab.bank.schema import VERSION_TABLE, metadata
from tests.databases import BACKENDS, fresh_database_url

REPO_ROOT = Path(__file__).resolve().parents[2]

# The DDL DigitLab ran before Alembic (its SCHEMA_VERSION 1), as SQLAlchemy emitted it on each database.
# Copied here, never imported: it is the past these tests hold the migrations to.
HAND_MIGRATED_DDL = {
    "sqlite": [
        """CREATE TABLE digitlab_schema_version (
            version INTEGER NOT NULL, applied_at DATETIME NOT NULL, PRIMARY KEY (version))""",
        """CREATE TABLE drawings (
            id INTEGER NOT NULL, created_at DATETIME NOT NULL, label SMALLINT, reading SMALLINT,
            probabilities JSON, model_sha256 VARCHAR(64), source VARCHAR(16) NOT NULL, writer VARCHAR(64),
            session VARCHAR(64), strokes TEXT, png BLOB NOT NULL, mnist BLOB NOT NULL, PRIMARY KEY (id))""",
    ],
    "postgresql": [
        """CREATE TABLE digitlab_schema_version (
            version SERIAL NOT NULL, applied_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (version))""",
        """CREATE TABLE drawings (
            id SERIAL NOT NULL, created_at TIMESTAMP WITH TIME ZONE NOT NULL, label SMALLINT, reading SMALLINT,
            probabilities JSON, model_sha256 VARCHAR(64), source VARCHAR(16) NOT NULL, writer VARCHAR(64),
            session VARCHAR(64), strokes TEXT, png BYTEA NOT NULL, mnist BYTEA NOT NULL, PRIMARY KEY (id))""",
    ],
}
HAND_MIGRATED_INDEXES = [f"CREATE INDEX ix_drawings_{column} ON drawings ({column})"
                         for column in ("created_at", "label", "session", "writer")]

DRAWING_FIELDS = ("id", "created_at", "label", "reading", "probabilities", "model_sha256", "source", "writer",
                  "session", "strokes", "png")


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> str:
    return fresh_database_url(request.param, tmp_path)


def old_rows(count: int = 6) -> list[dict]:
    """Drawings as the old code stored them, every field used, some left empty as the old code allowed."""
    rng = np.random.default_rng(7)
    start = datetime(2025, 3, 1, 12, 30, 15, 123456, tzinfo=timezone.utc)
    rows = []
    for index in range(count):
        # Ink on a black ground as a saved 28x28 is (pure noise would be refused on re-import as no drawing).
        mnist = np.zeros((28, 28), np.uint8)
        mnist[6:22, 8:20] = rng.integers(64, 256, (16, 12), dtype=np.uint8)
        probabilities = np.full(10, 0.01)
        probabilities[index % 10] = 0.91
        rows.append({
            "id": index + 1, "created_at": start + timedelta(hours=index), "label": None if index == 2 else index % 10,
            "reading": None if index == 4 else (index + index % 2) % 10,
            "probabilities": None if index == 4 else [round(float(p), 6) for p in probabilities],
            "model_sha256": None if index == 4 else f"{index:x}" * 64,
            "source": ("draw", "upload", "import")[index % 3], "writer": None if index % 2 else f"writer {index}",
            "session": f"visitor-{index:010d}" if index % 2 else None,
            "strokes": json.dumps({"objects": [{"type": "path", "path": [["M", index, 1]]}]}) if index != 3 else None,
            "png": encode_png(np.kron(mnist, np.ones((2, 2), np.uint8))), "mnist": mnist.tobytes()})
    return rows


def make_hand_migrated_bank(url: str, rows: list[dict], version: int = 1) -> None:
    """A database as DigitLab made it before Alembic: its tables, its version marker, and rows."""
    bank = DrawingBank(url)  # only for its engine: nothing here migrates
    with bank.engine.begin() as connection:
        for statement in HAND_MIGRATED_DDL[bank.engine.dialect.name] + HAND_MIGRATED_INDEXES:
            connection.execute(text(statement))
        connection.execute(text("INSERT INTO digitlab_schema_version (version, applied_at) VALUES (:version, :now)"),
                           {"version": version, "now": datetime.now(timezone.utc)})
    with bank.engine.begin() as connection:
        # Through SQLAlchemy's types, as the old code wrote them (SQLite keeps dates and JSON as text).
        drawings = Table("drawings", MetaData(), autoload_with=connection)
        if rows:
            connection.execute(insert(drawings), [{key: value for key, value in row.items() if key != "id"}
                                                  for row in rows])
    bank.engine.dispose()


def bank_at_revision(database_url: str, revision: str, rows: list[dict]) -> DrawingBank:
    """A bank migrated to revision only, holding rows as that revision's code stored them (ids left to the database)."""
    from alembic import command

    from digitlab.bank.migrate import alembic_config

    bank = DrawingBank(database_url)
    with bank.engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)
        hashed = revision >= "0002"  # each drawing's PNG hash is a column from 0002 on
        connection.execute(insert(Table("drawings", MetaData(), autoload_with=connection)),
                           [{key: value for key, value in row.items() if key != "id"}
                            | ({"content_sha256": f"{n:064x}"} if hashed else {}) for n, row in enumerate(rows)])
    return bank


def schema_differences(bank: DrawingBank) -> list:
    """What Alembic's autogenerate would change to make the database match schema.py ([] when they match)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with bank.engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}),
                                metadata)


def table_names(bank: DrawingBank) -> set[str]:
    with bank.engine.connect() as connection:
        return set(inspect(connection).get_table_names())


def test_a_fresh_bank_is_created_at_alembic_head(database_url):
    """Test that opening an empty database creates the table schema.py describes and records Alembic's head."""
    bank = open_bank(database_url)
    assert bank.schema_version() == head_revision()
    assert table_names(bank) == {"drawings", "classes", VERSION_TABLE}
    assert schema_differences(bank) == []
    stored = bank.get(bank.add(NewDrawing(png=b"png", mnist=np.zeros((28, 28), np.uint8), label=3, source="draw")))
    assert (stored.label, stored.source) == (3, "draw")


def test_a_bank_made_before_alembic_keeps_every_drawing(database_url):
    """Test that a database from the hand-written migrations is recognised, stamped, and keeps every field of every drawing."""
    rows = old_rows()
    make_hand_migrated_bank(database_url, rows)
    bank = open_bank(database_url)
    assert bank.schema_version() == head_revision()
    assert table_names(bank) == {"drawings", "classes", VERSION_TABLE}  # the old marker is gone: one record of the version
    assert schema_differences(bank) == []
    stored = bank.drawings(newest_first=False)
    assert len(stored) == len(rows)
    for drawing, row in zip(stored, rows):
        assert {field: getattr(drawing, field) for field in DRAWING_FIELDS} == {field: row[field] for field in DRAWING_FIELDS}
        assert drawing.mnist.tobytes() == row["mnist"] and drawing.mnist.shape == (28, 28)
    assert bank.as_dataset().ids.tolist() == [row["id"] for row in rows if row["label"] is not None]
    new_id = bank.add(NewDrawing(png=b"png", mnist=np.zeros((28, 28), np.uint8), label=1, source="draw"))
    assert new_id == len(rows) + 1  # ids carry on where the old database left off (PostgreSQL: its sequence)


def test_opening_twice_changes_nothing(database_url):
    """Test that opening a migrated bank again (another process: a fresh engine) runs no DDL and writes nothing."""
    make_hand_migrated_bank(database_url, old_rows(3))
    first = DrawingBank(database_url)
    assert first.migrate() == head_revision()
    before = [drawing.to_json() for drawing in first.drawings()]
    again = DrawingBank(database_url)
    statements = []
    event.listen(again.engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_args: statements.append(statement))
    assert again.migrate() == head_revision()
    writes = [s for s in statements if s.split()[0].upper() in {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"}]
    assert writes == []
    assert [drawing.to_json() for drawing in again.drawings()] == before
    assert open_bank(database_url) is open_bank(database_url)  # one bank per URL per process


def test_migrating_twice_applies_nothing_and_a_newer_schema_is_refused(tmp_path):
    """Test that migrating twice applies nothing new, and a database from a newer DigitLab is refused."""
    bank = DrawingBank(fresh_database_url("sqlite", tmp_path))
    assert bank.migrate() == head_revision()
    assert bank.migrate() == head_revision()
    with bank.engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = 'from-a-newer-digitlab'"))
    with pytest.raises(DrawingBankError, match="newer than this DigitLab"):
        bank.migrate()


def test_a_hand_migrated_bank_from_a_newer_digitlab_is_refused_and_left_alone(tmp_path):
    """Test that an old-style version marker above 1 is refused, and the database is not touched."""
    url = fresh_database_url("sqlite", tmp_path)
    make_hand_migrated_bank(url, old_rows(2), version=2)
    bank = DrawingBank(url)
    with pytest.raises(DrawingBankError, match="schema version 2, newer than this DigitLab"):
        bank.migrate()
    assert table_names(bank) == {"drawings", HAND_MIGRATED_TABLE}
    with bank.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM drawings")).scalar() == 2


OPEN_AND_SAVE = """
import sys
import numpy as np
from digitlab.bank.records import NewDrawing
from digitlab.bank.repository import open_bank

bank = open_bank(sys.argv[1])
bank.add(NewDrawing(png=b"png", mnist=np.zeros((28, 28), np.uint8), label=1, source="draw", writer=sys.argv[2]))
"""


def test_processes_opening_a_new_bank_at_once_create_it_once(database_url):
    """Test that four processes opening the same empty database at once all succeed and lose no drawing."""
    # Fresh interpreters, not multiprocessing: see test_drawings.test_concurrent_writers_lose_nothing.
    processes = [subprocess.Popen([sys.executable, "-c", OPEN_AND_SAVE, database_url, f"w{n}"], cwd=REPO_ROOT,
                                  env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, stderr=subprocess.PIPE, text=True)
                 for n in range(4)]
    errors = [process.communicate(timeout=180)[1] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], errors
    bank = open_bank(database_url)
    assert sorted(bank.writers()) == ["w0", "w1", "w2", "w3"]
    with bank.engine.connect() as connection:
        assert connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all() == [head_revision()]


def test_revision_0002_gives_every_drawing_its_content_hash_and_an_empty_bin(database_url, tmp_path):
    """Test that a bank at revision 0001 with drawings gets each one's PNG sha256, indexed, and nothing in the bin,
    so an export of it imported back adds nothing."""
    import hashlib

    from digitlab.bank.archive import export_zip, import_file

    rows = old_rows()
    bank = bank_at_revision(database_url, "0001", rows)
    assert bank.migrate() == head_revision()
    with bank.engine.connect() as connection:
        stored = connection.execute(text("SELECT id, png, content_sha256, deleted_at FROM drawings ORDER BY id")).all()
        indexes = {index["name"] for index in inspect(connection).get_indexes("drawings")}
    assert [(row.id, row.content_sha256, row.deleted_at) for row in stored] == [
        (row["id"], hashlib.sha256(row["png"]).hexdigest(), None) for row in rows]
    assert {"ix_drawings_content_sha256", "ix_drawings_deleted_at"} <= indexes
    assert schema_differences(bank) == []
    assert [drawing.label for drawing in bank.drawings(newest_first=False)] == [row["label"] for row in rows]

    export_zip(bank, tmp_path / "old.zip")
    report = import_file(bank, tmp_path / "old.zip")
    assert (report.added, report.already_in_bank) == ([], len(rows))


def test_going_back_to_0001_purges_the_bin_and_keeps_the_other_drawings(database_url):
    """Test that a downgrade to 0001 deletes binned drawings for good (0001's code would show them) and keeps the rest."""
    from alembic import command

    from digitlab.bank.migrate import alembic_config

    bank = open_bank(database_url)
    kept = bank.add(NewDrawing(png=b"kept", mnist=np.zeros((28, 28), np.uint8), label=1, source="draw"))
    binned = bank.add(NewDrawing(png=b"binned", mnist=np.zeros((28, 28), np.uint8), label=2, source="draw"))
    assert bank.move_to_bin(binned)
    with bank.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0001")
    with bank.engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM drawings")).scalars().all() == [kept]
        assert "content_sha256" not in {column["name"] for column in inspect(connection).get_columns("drawings")}


def test_revision_0003_adds_classes_and_keeps_every_drawing_outside_any_class(database_url):
    """Test that a bank at revision 0002 with drawings gets the classes table and each drawing's class and nickname,
    empty, with every drawing kept as it was; and that a class's drawing then saves and reads back."""
    from digitlab.bank.classes import ClassBook

    rows = old_rows()
    bank = bank_at_revision(database_url, "0002", rows)
    assert bank.migrate() == head_revision()
    assert table_names(bank) == {"drawings", "classes", VERSION_TABLE}
    assert schema_differences(bank) == []
    stored = bank.drawings(newest_first=False)
    assert [{field: getattr(drawing, field) for field in DRAWING_FIELDS} for drawing in stored] == [
        {field: row[field] for field in DRAWING_FIELDS} for row in rows]
    assert {(drawing.class_id, drawing.nickname) for drawing in stored} == {(None, None)}

    school_class, _code = ClassBook(bank).create("7B")
    new_id = bank.add(NewDrawing(png=b"png", mnist=np.zeros((28, 28), np.uint8), label=1, source="draw",
                                 class_id=school_class.id, nickname="Ana"))
    assert (bank.get(new_id).class_id, bank.get(new_id).nickname) == (school_class.id, "Ana")


def test_going_back_to_0002_keeps_a_class_s_drawings_as_plain_drawings(database_url):
    """Test that a downgrade below 0003 drops the classes but keeps every drawing, classes' included."""
    from alembic import command

    from digitlab.bank.classes import ClassBook
    from digitlab.bank.migrate import alembic_config

    bank = open_bank(database_url)
    school_class, _code = ClassBook(bank).create("7B")
    outside = bank.add(NewDrawing(png=b"outside", mnist=np.zeros((28, 28), np.uint8), label=1, source="draw"))
    inside = bank.add(NewDrawing(png=b"inside", mnist=np.zeros((28, 28), np.uint8), label=2, source="draw",
                                 class_id=school_class.id, nickname="Ana"))
    with bank.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    with bank.engine.connect() as connection:
        assert connection.execute(text("SELECT id FROM drawings ORDER BY id")).scalars().all() == [outside, inside]
        assert "class_id" not in {column["name"] for column in inspect(connection).get_columns("drawings")}
        assert "classes" not in inspect(connection).get_table_names()


def test_a_drawing_taken_back_while_newest_leaves_its_number_to_no_other(database_url):
    """Test that the number of a drawing removed while it was the newest (Take back) is not given to the next
    drawing saved: "Stored as drawing #N" never names two drawings."""
    bank = open_bank(database_url)
    bank.add(NewDrawing(png=b"first", mnist=np.zeros((28, 28), np.uint8), label=1, source="draw"))
    taken_back = bank.add(NewDrawing(png=b"taken back", mnist=np.zeros((28, 28), np.uint8), label=2, source="draw"))
    assert bank.delete(taken_back)
    next_one = bank.add(NewDrawing(png=b"next", mnist=np.zeros((28, 28), np.uint8), label=3, source="draw"))
    assert next_one > taken_back
    assert bank.get(taken_back) is None


def test_revision_0004_keeps_every_drawing_and_numbers_only_grow_after_it(database_url):
    """Test that a bank at revision 0003 keeps every drawing, its number and its indexes through 0004, and that a
    drawing taken back after it leaves its number unused."""
    rows = old_rows()
    bank = bank_at_revision(database_url, "0003", rows)
    assert bank.migrate() == head_revision()
    assert schema_differences(bank) == []
    stored = bank.drawings(newest_first=False)
    assert [{field: getattr(drawing, field) for field in DRAWING_FIELDS} for drawing in stored] == [
        {field: row[field] for field in DRAWING_FIELDS} for row in rows]
    taken_back = bank.add(NewDrawing(png=b"taken back", mnist=np.zeros((28, 28), np.uint8), label=2, source="draw"))
    assert taken_back == len(rows) + 1
    assert bank.delete(taken_back)
    next_one = bank.add(NewDrawing(png=b"next", mnist=np.zeros((28, 28), np.uint8), label=3, source="draw"))
    assert next_one == taken_back + 1
