"""The drawing bank: people's drawings with their labels, kept in an SQL database through SQLAlchemy.

A drawing the model misread, once corrected, is the most useful training and test data there is:
it is how people really draw on this canvas. Each row keeps everything needed to use it again: the
canvas strokes as sent (to re-render with another brush), the PNG, the 28x28 the model saw, the label,
the model's reading with its probabilities and the model file's sha256, where it came from, who drew
it and when.

Where it lives: config.database.database_url(); SQLite needs no set-up; PostgreSQL is for a shared
deployment whose own disk does not last (Streamlit Community Cloud wipes it on every restart).

This module is the only one that reads and writes the table: schema.py defines it, migrate.py brings a
database up to it, engine.py connects (every write is one transaction, so a failed save leaves the bank
as it was), drawing_checks.py vets what comes in, archive.py reads and writes the bank's files.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone

import numpy as np
from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Connection

from digitlab.bank.drawing_checks import DrawingRejectedError
from digitlab.bank.engine import BankTransaction, DrawingBankError, create_bank_engine
from digitlab.bank.migrate import NewerSchemaError, current_revision, upgrade_to_head
from digitlab.bank.records import Drawing, DrawingDataset, DrawingFilter, NewDrawing, VisitorLimits, person
from digitlab.bank.schema import MNIST_SHAPE, drawings_table
from digitlab.config.database import DATABASE_URL_VAR, database_url, describe_url

_banks: dict[str, "DrawingBank"] = {}
_banks_lock = threading.Lock()


def open_bank(url: str | None = None) -> "DrawingBank":
    """The bank at url (default: database_url()), migrated to Alembic's head; one per URL per process.

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
        self.engine = create_bank_engine(url)
        self.is_postgres = self.engine.dialect.name == "postgresql"

    # -- schema --

    def migrate(self) -> str:
        """Apply the Alembic revisions this database lacks, in one transaction; the revision it is at now."""
        try:
            with self._writing() as connection:
                return upgrade_to_head(connection)
        except NewerSchemaError as error:
            raise DrawingBankError(
                f"The drawing bank at {describe_url(self.url)} has schema version {error.found}, newer than this "
                f"DigitLab understands ({error.understood}). Update DigitLab, or point {DATABASE_URL_VAR} "
                "at another database.") from error

    def schema_version(self) -> str | None:
        """The Alembic revision the database is at (None before the first migrate)."""
        with self._reading() as connection:
            return current_revision(connection)

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

    def _writing(self) -> BankTransaction:
        return BankTransaction(self.engine, self.url, write=True)

    def _reading(self) -> BankTransaction:
        return BankTransaction(self.engine, self.url, write=False)


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
