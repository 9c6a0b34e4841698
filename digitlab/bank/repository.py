"""The drawing bank: people's drawings with their labels, kept in an SQL database through SQLAlchemy.

A drawing the model misread, once corrected, is the most useful training and test data there is:
it is how people really draw on this canvas. Each row keeps everything needed to use it again: the
canvas strokes as sent (to re-render with another brush), the PNG, the 28x28 the model saw, the label,
the model's reading with its probabilities and the model file's sha256, where it came from, who drew
it and when.

Where it lives: $DIGITLAB_DATABASE_URL (or the same key in Streamlit's secrets), else an SQLite file
beside the runs folder. SQLite needs no set-up; PostgreSQL is for a shared deployment whose own disk
does not last (Streamlit Community Cloud wipes it on every restart).

This module is the only one that knows the tables (drawing_archive.py reads and writes the bank's files). Every write is one transaction, so a failed save
(full disk, dropped connection) leaves the bank as it was; the schema carries a version, and
`open_bank` brings an older database up to date.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import (JSON, Column, DateTime, Integer, LargeBinary, MetaData, SmallInteger, String, Table, Text,
                        create_engine, delete, event, func, insert, select, text)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from digitlab.config.paths import runs_root

DATABASE_URL_VAR = "DIGITLAB_DATABASE_URL"
DEFAULT_DATABASE_FILE = "drawings.sqlite"
SECRETS_FILE = Path(".streamlit") / "secrets.toml"

SCHEMA_VERSION = 1  # the schema this code reads and writes; MIGRATIONS brings older databases up to it
SOURCES = ("draw", "upload", "import")
MAX_STROKES_BYTES = 2_000_000  # a 280 px canvas drawing is a few kB to tens of kB of JSON
MAX_STROKE_OBJECTS = 2_000  # far more strokes than any digit needs
MAX_TAG_LENGTH = 64  # writer and session tags
MAX_STORED_SIDE = 560  # uploads are kept as PNG at most this big: twice the canvas, plenty to re-read
MNIST_SHAPE = (28, 28)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TAG = re.compile(r"[\w .@+-]{1,64}")  # letters, digits and a little punctuation: safe in a CSV and a caption


class DrawingRejectedError(ValueError):
    """The drawing (or its label, tags or strokes) cannot go into the bank; the message says why."""


class DrawingBankError(RuntimeError):
    """The database could not be reached or written; nothing was changed. The message says what to do."""


metadata = MetaData()

schema_versions = Table(
    "digitlab_schema_version", metadata,
    Column("version", Integer, primary_key=True),  # one row per migration applied
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

drawings_table = Table(
    "drawings", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("label", SmallInteger, nullable=True, index=True),  # the true digit, where someone gave it
    Column("reading", SmallInteger, nullable=True),  # the digit the model read when it was saved
    Column("probabilities", JSON, nullable=True),  # the model's ten probabilities then
    Column("model_sha256", String(64), nullable=True),  # the model file that read it
    Column("source", String(16), nullable=False),  # draw, upload or import
    Column("writer", String(MAX_TAG_LENGTH), nullable=True, index=True),  # a name or tag people choose
    Column("session", String(MAX_TAG_LENGTH), nullable=True, index=True),  # the browser session that saved it
    Column("strokes", Text, nullable=True),  # canvas JSON as sent, or pen trajectories for imports
    Column("png", LargeBinary, nullable=False),
    Column("mnist", LargeBinary, nullable=False),  # 784 bytes: the 28x28 uint8 image the model saw
)


def _migrate_to_1(connection: Connection) -> None:
    drawings_table.create(connection, checkfirst=True)


# version -> the step that brings a database at version-1 up to it. A new column is a new entry here
# (an ALTER TABLE), never an edit of an old one: databases in use have already run the old steps.
MIGRATIONS = {1: _migrate_to_1}


@dataclass(frozen=True)
class Drawing:
    """One stored drawing."""

    id: int
    created_at: datetime  # UTC
    label: int | None
    reading: int | None
    probabilities: list[float] | None
    model_sha256: str | None
    source: str
    writer: str | None
    session: str | None
    strokes: str | None
    png: bytes
    mnist: np.ndarray  # (28, 28) uint8

    @property
    def correct(self) -> bool | None:
        """Whether the model read it right when it was saved; None without a label or a reading."""
        if self.label is None or self.reading is None:
            return None
        return self.label == self.reading

    def to_json(self) -> dict:
        """The row as plain JSON, without the images and strokes."""
        return {"id": self.id, "label": self.label, "reading": self.reading, "writer": self.writer,
                "source": self.source, "created_at": self.created_at.isoformat(), "model_sha256": self.model_sha256,
                "probabilities": self.probabilities}


@dataclass(frozen=True)
class NewDrawing:
    """A drawing checked and ready to store (see prepare_drawing)."""

    png: bytes
    mnist: np.ndarray
    label: int | None
    source: str
    writer: str | None = None
    session: str | None = None
    strokes: str | None = None
    reading: int | None = None
    probabilities: list[float] | None = None
    model_sha256: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class DrawingFilter:
    """Which drawings to list; None means any."""

    label: int | None = None
    reading: int | None = None
    correct: bool | None = None  # True: read right, False: read wrong (both need a label and a reading)
    writer: str | None = None
    source: str | None = None
    session: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class DrawingDataset:
    """The labelled drawings as arrays, ready for evaluation or training."""

    x: np.ndarray  # (n, 28, 28) uint8, ink bright on black like MNIST
    y: np.ndarray  # (n,) int64 labels
    writers: np.ndarray  # (n,) writer tags (str, "" where none was given)
    ids: np.ndarray  # (n,) drawing ids, so a result can be traced back to its drawing
    sessions: np.ndarray | None = None  # (n,) the browser session that saved each ("" where none)

    @property
    def people(self) -> np.ndarray:
        """Who drew each drawing as far as the bank knows (see person)."""
        sessions = self.sessions if self.sessions is not None else np.full(len(self), "", dtype=object)
        return np.array([person(writer, session) for writer, session in zip(self.writers, sessions)], dtype=object)

    def __len__(self) -> int:
        return int(self.y.shape[0])


def person(writer: str | None, session: str | None) -> str:
    """Who drew a drawing as far as the bank knows: the writer tag, else the browser session that saved it."""
    return writer or (f"session {session}" if session else "untagged")


@dataclass(frozen=True)
class VisitorLimits:
    """What an anonymous visitor may save (the owner is not limited)."""

    saves_per_minute: int  # saves per session per minute (Settings.bank_saves_per_minute)
    max_drawings: int  # a bank this full refuses visitors' saves (Settings.bank_max_drawings)


# --- where the bank lives ---------------------------------------------------------------------------


def default_database_url() -> str:
    """An SQLite file beside the runs folder ($DIGITLAB_RUNS, else runs/ in the repository)."""
    runs = runs_root()  # the default database lies beside the runs folder
    return f"sqlite:///{(runs.parent / DEFAULT_DATABASE_FILE).resolve()}"


def database_url(secrets: Mapping | None = None, environ: Mapping[str, str] | None = None) -> str:
    """$DIGITLAB_DATABASE_URL, else that key in the secrets (Streamlit's, or .streamlit/secrets.toml), else SQLite."""
    environ = os.environ if environ is None else environ
    if environ.get(DATABASE_URL_VAR):
        return environ[DATABASE_URL_VAR].strip()
    if secrets is None:
        secrets = _read_secrets_file(Path.cwd() / SECRETS_FILE)
    configured = secrets.get(DATABASE_URL_VAR)
    return str(configured).strip() if configured else default_database_url()


def _read_secrets_file(path: Path) -> dict:
    """The command line's view of the secrets Streamlit would read; {} when there is no readable file."""
    import tomllib

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def describe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is reported by open_bank; here it only needs hiding
        return "the configured database"


# --- the bank ---------------------------------------------------------------------------------------

_banks: dict[str, "DrawingBank"] = {}
_banks_lock = threading.Lock()


def open_bank(url: str | None = None) -> "DrawingBank":
    """The bank at url (default: database_url()), migrated to SCHEMA_VERSION; one per URL per process.

    Raises DrawingBankError when the database cannot be reached or is newer than this code.
    """
    url = url or database_url()
    with _banks_lock:
        bank = _banks.get(url)
        if bank is None:
            bank = DrawingBank(url)
            bank.migrate()
            _banks[url] = bank
        return bank


class DrawingBank:
    """Drawings in one database. Safe to share between threads: every call takes its own connection."""

    def __init__(self, url: str):
        self.url = url
        self.engine = _create_engine(url)
        self.is_postgres = self.engine.dialect.name == "postgresql"

    # -- schema --

    def migrate(self) -> int:
        """Apply the migrations this database lacks, in one transaction with their version rows."""
        with self._writing() as connection:
            if self.is_postgres:  # two app processes starting at once: one migrates, the other then finds it done
                connection.execute(text("SELECT pg_advisory_xact_lock(1400001)"))
            schema_versions.create(connection, checkfirst=True)
            version = connection.execute(select(func.max(schema_versions.c.version))).scalar() or 0
            if version > SCHEMA_VERSION:
                raise DrawingBankError(
                    f"The drawing bank at {describe_url(self.url)} has schema version {version}, newer than this "
                    f"DigitLab understands ({SCHEMA_VERSION}). Update DigitLab, or point {DATABASE_URL_VAR} "
                    "at another database.")
            for step in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[step](connection)
                connection.execute(insert(schema_versions).values(version=step, applied_at=_now()))
        return self.schema_version()

    def schema_version(self) -> int:
        with self._reading() as connection:
            return connection.execute(select(func.max(schema_versions.c.version))).scalar() or 0

    # -- writing --

    def add(self, drawing: NewDrawing, limits: VisitorLimits | None = None) -> int:
        """Store one checked drawing; its id. With limits (a visitor), refuse when they are reached."""
        with self._writing() as connection:
            if limits is not None:
                refusal = self._limit_refusal(connection, drawing.session, limits)
                if refusal:
                    raise DrawingRejectedError(refusal)
            return int(connection.execute(insert(drawings_table).values(**_row(drawing))).inserted_primary_key[0])

    def add_many(self, drawings: Iterable[NewDrawing]) -> list[int]:
        """Store drawings in one transaction: all of them, or (on a failure) none."""
        rows = [_row(drawing) for drawing in drawings]
        ids = []
        with self._writing() as connection:
            for row in rows:
                ids.append(int(connection.execute(insert(drawings_table).values(**row)).inserted_primary_key[0]))
        return ids

    def delete(self, drawing_id: int, session: str | None = None) -> bool:
        """Delete a drawing; with session, only if that session saved it. Whether a row went."""
        statement = delete(drawings_table).where(drawings_table.c.id == int(drawing_id))
        if session is not None:
            statement = statement.where(drawings_table.c.session == session)
        with self._writing() as connection:
            return connection.execute(statement).rowcount > 0

    def _limit_refusal(self, connection: Connection, session: str | None, limits: VisitorLimits) -> str | None:
        if self.is_postgres:  # count-then-insert by two visitors at once: take turns, so neither overshoots
            connection.execute(text("SELECT pg_advisory_xact_lock(1400014)"))
        total = connection.execute(select(func.count()).select_from(drawings_table)).scalar()
        if total >= limits.max_drawings:
            return (f"The drawing bank is full ({total:,} drawings, the most this deployment keeps from visitors). "
                    "Nothing was saved.")
        if session:
            minute_ago = _now() - timedelta(minutes=1)
            recent = connection.execute(select(func.count()).select_from(drawings_table).where(
                drawings_table.c.session == session, drawings_table.c.created_at >= minute_ago)).scalar()
            if recent >= limits.saves_per_minute:
                return (f"You saved {recent} drawings in the last minute, the most allowed. "
                        "Wait a moment, then save again.")
        return None

    # -- reading --

    def get(self, drawing_id: int) -> Drawing | None:
        with self._reading() as connection:
            row = connection.execute(select(drawings_table).where(drawings_table.c.id == int(drawing_id))).first()
        return None if row is None else _drawing(row)

    def drawings(self, where: DrawingFilter = DrawingFilter(), limit: int | None = None, offset: int = 0,
             newest_first: bool = True) -> list[Drawing]:
        order = drawings_table.c.id.desc() if newest_first else drawings_table.c.id
        statement = select(drawings_table).where(*_conditions(where)).order_by(order).offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        with self._reading() as connection:
            return [_drawing(row) for row in connection.execute(statement)]

    def count(self, where: DrawingFilter = DrawingFilter()) -> int:
        with self._reading() as connection:
            return int(connection.execute(
                select(func.count()).select_from(drawings_table).where(*_conditions(where))).scalar())

    def revision(self) -> tuple[int, int]:
        """(number of drawings, highest id): changes whenever a drawing is added or deleted, for caches."""
        with self._reading() as connection:
            count, highest = connection.execute(
                select(func.count(), func.max(drawings_table.c.id)).select_from(drawings_table)).one()
        return int(count), int(highest or 0)

    def writers(self) -> list[str]:
        """The writer tags in the bank, sorted."""
        with self._reading() as connection:
            rows = connection.execute(select(drawings_table.c.writer).where(
                drawings_table.c.writer.is_not(None)).distinct())
            return sorted(row[0] for row in rows)

    def labelled_people(self) -> dict[str, int]:
        """How many labelled drawings each person (see person) has in the bank, without reading the images."""
        columns = (drawings_table.c.writer, drawings_table.c.session)
        statement = select(*columns, func.count()).where(drawings_table.c.label.is_not(None)).group_by(*columns)
        counts: dict[str, int] = {}
        with self._reading() as connection:
            for writer, session, count in connection.execute(statement):
                name = person(writer, session)
                counts[name] = counts.get(name, 0) + int(count)
        return counts

    def as_dataset(self, writer: str | None = None, source: str | None = None,
                   writers: Iterable[str] | None = None) -> DrawingDataset:
        """The labelled drawings (of one writer, several, or all) as arrays, oldest first."""
        columns = (drawings_table.c.id, drawings_table.c.label, drawings_table.c.writer, drawings_table.c.session,
                   drawings_table.c.mnist)
        statement = select(*columns).where(drawings_table.c.label.is_not(None),
                                           *_conditions(DrawingFilter(writer=writer, source=source)))
        if writers is not None:
            statement = statement.where(drawings_table.c.writer.in_(list(writers)))
        with self._reading() as connection:
            rows = connection.execute(statement.order_by(drawings_table.c.id)).all()
        x = np.zeros((len(rows), *MNIST_SHAPE), np.uint8)
        for index, row in enumerate(rows):
            x[index] = np.frombuffer(row.mnist, np.uint8).reshape(MNIST_SHAPE)
        return DrawingDataset(x=x, y=np.array([row.label for row in rows], np.int64),
                              writers=np.array([row.writer or "" for row in rows], dtype=object),
                              ids=np.array([row.id for row in rows], np.int64),
                              sessions=np.array([row.session or "" for row in rows], dtype=object))

    # -- transactions --

    def _writing(self):
        return _Transaction(self, write=True)

    def _reading(self):
        return _Transaction(self, write=False)


class _Transaction:
    """A connection in a transaction; any database failure becomes a DrawingBankError for the user."""

    def __init__(self, bank: DrawingBank, write: bool):
        self.bank, self.write = bank, write

    def __enter__(self) -> Connection:
        engine = self.bank.engine.execution_options(digitlab_write=True) if self.write else self.bank.engine
        try:
            self.context = engine.begin()
            return self.context.__enter__()
        except SQLAlchemyError as error:
            raise _bank_error(self.bank.url, error, self.write) from error

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            self.context.__exit__(kind, error, traceback)  # commits, or rolls back when the block failed
        except SQLAlchemyError as commit_error:
            raise _bank_error(self.bank.url, commit_error, self.write) from commit_error
        if isinstance(error, SQLAlchemyError):
            raise _bank_error(self.bank.url, error, self.write) from error
        return False


def _bank_error(url: str, error: SQLAlchemyError, write: bool) -> DrawingBankError:
    detail = str(getattr(error, "orig", None) or error).strip().splitlines()[0][:300]
    if write:
        return DrawingBankError(f"The drawing bank could not be written ({detail}). Nothing was saved or changed; "
                                "try again in a moment.")
    return DrawingBankError(f"The drawing bank at {describe_url(url)} could not be read ({detail}).")


def _create_engine(url: str) -> Engine:
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True)  # a connection the server dropped is replaced, not used
    except OSError as error:
        raise DrawingBankError(f"The drawing bank's folder cannot be created ({error.strerror or error}). Set "
                               f"{DATABASE_URL_VAR} to a database you can write to.") from error
    except (SQLAlchemyError, ImportError, ValueError) as error:
        raise DrawingBankError(f"{DATABASE_URL_VAR} cannot be used ({error}). Use e.g. sqlite:///drawings.sqlite "
                               "or postgresql+psycopg://user:password@host/dbname.") from error


def _sqlite_engine(url: str) -> Engine:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, say when transactions begin (DDL included), and let
        # readers and one writer work at once (WAL); a writer waits up to 30 s for another to finish.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A writer takes the write lock at BEGIN: one that read first and upgraded later could fail
        # with "database is locked" instead of waiting its turn.
        immediate = connection.get_execution_options().get("digitlab_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _conditions(where: DrawingFilter) -> list:
    table = drawings_table
    conditions = []
    for column, value in ((table.c.label, where.label), (table.c.reading, where.reading),
                          (table.c.writer, where.writer), (table.c.source, where.source),
                          (table.c.session, where.session)):
        if value is not None:
            conditions.append(column == value)
    if where.correct is not None:
        conditions += [table.c.label.is_not(None), table.c.reading.is_not(None)]
        conditions.append(table.c.label == table.c.reading if where.correct else table.c.label != table.c.reading)
    if where.since is not None:
        conditions.append(table.c.created_at >= _utc(where.since))
    if where.until is not None:
        conditions.append(table.c.created_at < _utc(where.until))
    return conditions


def _row(drawing: NewDrawing) -> dict:
    return {"created_at": _utc(drawing.created_at or _now()), "label": drawing.label, "reading": drawing.reading,
            "probabilities": drawing.probabilities, "model_sha256": drawing.model_sha256, "source": drawing.source,
            "writer": drawing.writer, "session": drawing.session, "strokes": drawing.strokes, "png": drawing.png,
            "mnist": np.ascontiguousarray(drawing.mnist, np.uint8).tobytes()}


def _drawing(row) -> Drawing:
    return Drawing(id=row.id, created_at=_utc(row.created_at), label=row.label, reading=row.reading,
                   probabilities=row.probabilities, model_sha256=row.model_sha256, source=row.source,
                   writer=row.writer, session=row.session, strokes=row.strokes, png=bytes(row.png),
                   mnist=np.frombuffer(row.mnist, np.uint8).reshape(MNIST_SHAPE).copy())


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _utc(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


# --- checking what comes in -------------------------------------------------------------------------


def prepare_drawing(image_bytes: bytes, label: int | None, source: str, *, writer: str | None = None,
                    session: str | None = None, strokes: str | dict | None = None, reading: int | None = None,
                    probabilities=None, model_sha256: str | None = None,
                    created_at: datetime | None = None) -> NewDrawing:
    """Check everything about a drawing and compute the 28x28 the model sees; DrawingRejectedError if any is wrong.

    image_bytes is the file or canvas PNG as received: it is decoded with the upload checks (PNG or
    JPEG, bounded size), so a forged canvas message is held to the same rules as an upload.
    """
    from digitlab.serving.images import ImageRejectedError, decode_image
    from digitlab.serving.preprocess import preprocess

    label = check_digit(label, "label", allow_none=True)
    if source not in SOURCES:
        raise DrawingRejectedError(f"The source must be one of {', '.join(SOURCES)}, not {source!r}.")
    try:
        image = decode_image(image_bytes)
    except ImageRejectedError as error:
        raise DrawingRejectedError(f"The image cannot be stored: {error}") from error
    prepared = preprocess(image)
    if not prepared.has_digit:
        raise DrawingRejectedError(f"There is no digit to store: {prepared.reason}")
    return NewDrawing(
        png=_stored_png(image_bytes, image), mnist=prepared.mnist, label=label, source=source,
        writer=check_tag(writer, "writer"), session=check_tag(session, "session"),
        strokes=check_strokes(strokes), reading=check_digit(reading, "reading", allow_none=True),
        probabilities=check_probabilities(probabilities), model_sha256=check_sha256(model_sha256),
        created_at=created_at)


def check_digit(value, what: str = "label", allow_none: bool = False) -> int | None:
    """value as a digit 0-9 (an int, or text such as "7"); DrawingRejectedError otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, str)):
        raise DrawingRejectedError(f"The {what} must be a digit from 0 to 9, not {value!r}.")
    text_value = str(value).strip()
    if not re.fullmatch(r"[0-9]", text_value):
        raise DrawingRejectedError(f"The {what} must be a digit from 0 to 9, not {value!r}.")
    return int(text_value)


def check_tag(value: str | None, what: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not _TAG.fullmatch(value.strip()):
        raise DrawingRejectedError(f"The {what} tag must be 1-{MAX_TAG_LENGTH} letters, digits, spaces or . @ + - _ "
                                   f"characters, not {str(value)[:80]!r}.")
    return value.strip()


def check_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise DrawingRejectedError("The model's sha256 must be 64 lowercase hex digits.")
    return value


def check_probabilities(values) -> list[float] | None:
    """Ten finite probabilities summing to about 1, as plain floats; DrawingRejectedError otherwise."""
    if values is None:
        return None
    try:
        floats = [float(value) for value in values]
    except (TypeError, ValueError):
        raise DrawingRejectedError("The probabilities must be ten numbers.") from None
    if len(floats) != 10 or not all(math.isfinite(p) and 0 <= p <= 1 for p in floats) or abs(sum(floats) - 1) > 1e-3:
        raise DrawingRejectedError("The probabilities must be ten numbers from 0 to 1 that add up to 1.")
    return [round(p, 6) for p in floats]


def check_strokes(strokes: str | dict | None) -> str | None:
    """The strokes as compact JSON text, if they look like a canvas drawing or pen trajectories.

    A canvas message comes from the visitor's browser, so anything in it may be forged: it must be a
    JSON object holding a list of at most MAX_STROKE_OBJECTS objects (fabric.js canvas JSON), or
    {"format": "unipen", "strokes": [[[x, y], ...], ...]} for imported pen digits, and be small.
    """
    if strokes is None:
        return None
    if isinstance(strokes, (bytes, bytearray)):
        strokes = bytes(strokes).decode("utf-8", errors="replace")
    if isinstance(strokes, str):
        if len(strokes) > MAX_STROKES_BYTES:
            raise DrawingRejectedError(f"The canvas message is larger than {MAX_STROKES_BYTES // 1_000_000} MB; "
                                       "it is not a drawing of one digit.")
        try:
            strokes = json.loads(strokes)
        except (ValueError, RecursionError):  # RecursionError: nesting thousands deep, which no canvas sends
            raise DrawingRejectedError("The canvas message is not valid JSON; it was not sent by the canvas.") from None
    if not isinstance(strokes, dict):
        raise DrawingRejectedError("The canvas message is not a drawing (expected a JSON object).")
    if strokes.get("format") == "unipen":
        paths = strokes.get("strokes")
        if not isinstance(paths, list) or not all(_is_point_list(path) for path in paths):
            raise DrawingRejectedError("The pen strokes must be lists of [x, y] points.")
    else:
        objects = strokes.get("objects")
        if not isinstance(objects, list) or not all(isinstance(obj, dict) and isinstance(obj.get("type"), str)
                                                    for obj in objects):
            raise DrawingRejectedError("The canvas message is not a drawing: it has no list of stroke objects.")
        if len(objects) > MAX_STROKE_OBJECTS:
            raise DrawingRejectedError(f"The canvas message has {len(objects):,} strokes; a digit has far fewer.")
    try:
        compact = json.dumps(strokes, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        raise DrawingRejectedError("The canvas message holds values no canvas sends (NaN or infinity).") from None
    if len(compact) > MAX_STROKES_BYTES:
        raise DrawingRejectedError("The canvas message is too large to be a drawing of one digit.")
    return compact


def _is_point_list(path) -> bool:
    return isinstance(path, list) and all(
        isinstance(point, list) and len(point) == 2 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                                           for v in point) for point in path)


def _stored_png(image_bytes: bytes, image: np.ndarray) -> bytes:
    """The PNG to keep: a small PNG as sent; anything else (a JPEG, a huge PNG) re-encoded, at most 560 px."""
    if bytes(image_bytes[:8]) == PNG_SIGNATURE and max(image.shape[:2]) <= MAX_STORED_SIDE:
        return bytes(image_bytes)
    return encode_png(image, MAX_STORED_SIDE)


def encode_png(image: np.ndarray, max_side: int | None = None) -> bytes:
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, np.uint8))
    if max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.BOX)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def evaluate_on_bank(predictor, bank: DrawingBank, writer: str | None = None, model_sha256: str | None = None):
    """(the Evaluation of predictor on the bank's labelled drawings, of one writer if given; the dataset)."""
    from digitlab.evaluation.metrics import evaluate_probabilities

    dataset = bank.as_dataset(writer=writer)
    probabilities = predictor.predict_mnist(dataset.x)
    return evaluate_probabilities(probabilities, dataset.y, model_sha256), dataset
