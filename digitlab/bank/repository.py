"""The drawing bank: people's drawings with their labels, kept in an SQL database through SQLAlchemy.

A drawing the model misread, once corrected, is the most useful training and test data there is:
it is how people really draw on this canvas. Each row keeps everything needed to use it again: the
canvas strokes as sent (to re-render with another brush), the PNG, the 28x28 the model saw, the label,
the model's reading with its probabilities and the model file's sha256, where it came from, who drew
it and when.

Where it lives: config.database.database_url(); SQLite needs no set-up; PostgreSQL is for a shared
deployment whose own disk does not last (Streamlit Community Cloud wipes it on every restart).

This module is the only one that reads and writes the table, one module because a drawing's every read and
write shares its transactions, its bin and its locks: schema.py defines it, migrate.py brings a
database up to it, engine.py connects (every write is one transaction, so a failed save leaves the bank
as it was), rows.py maps records to rows, drawing_checks.py vets what comes in, archive.py reads and
writes the bank's files. A drawing's identity is its content hash (the PNG's sha256), label and writer;
a drawing deleted on the Drawings page (one, or every one that matches the filters) waits BIN_MINUTES in the bin
(hidden from every read) before it is purged, so the delete can be undone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from datetime import timedelta

import numpy as np
from sqlalchemy import delete, func, insert, select, text, update
from sqlalchemy.engine import Connection

from digitlab.bank.classes import outside_closed_classes, refuse_closed_classes
from digitlab.bank.drawing_checks import DrawingRejectedError, check_digit
from digitlab.bank.engine import BankTransaction, DrawingBankError, create_bank_engine, wait_for_turn
from digitlab.bank.migrate import NewerSchemaError, current_revision, upgrade_to_head
from digitlab.bank.records import Drawing, DrawingDataset, DrawingFilter, NewDrawing, person
from digitlab.bank.rows import conditions, drawing_of, live, now, own, row_of
from digitlab.bank.schema import MNIST_SHAPE, drawings_table
from digitlab.config.database import DATABASE_URL_VAR, database_url, describe_url
from digitlab.config.secrets import ConfigurationError

BIN_MINUTES = 10  # how long a drawing deleted on the Drawings page can be restored before it is purged
BIN_TIME = timedelta(minutes=BIN_MINUTES)
IDENTITY_BATCH = 500  # content hashes looked up per query while an import skips what the bank holds
ID_BATCH = 500  # ids per statement while a batch is moved or restored: within every database's bound-parameter limit
SAVE_LOCK_KEY = 1400014  # PostgreSQL advisory lock: visitors' count-then-insert against the bank's size
IMPORT_LOCK_KEY = 1400024  # PostgreSQL advisory lock: an import's look-then-insert against another import

_banks: dict[str, "DrawingBank"] = {}
_banks_lock = threading.Lock()
_failed_opens: dict[str, tuple[float, str]] = {}  # url -> (time.monotonic(), the message) of its last failed open


def open_bank(url: str | None = None) -> "DrawingBank":
    """The bank at url (default: database_url()), migrated to Alembic's head; one per URL per process.

    Raises DrawingBankError when the database cannot be reached or is newer than this code, or when
    the deployment's configuration is broken (then no bank is opened: not even the default SQLite file).
    """
    if url is None:
        try:
            url = database_url()
        except ConfigurationError as error:
            raise DrawingBankError(str(error)) from error
    waiting_since = time.monotonic()
    with _banks_lock:
        bank = _banks.get(url)
        if bank is None:
            failed = _failed_opens.get(url)
            if failed is not None and failed[0] >= waiting_since:
                # It failed while this caller waited its turn: say so now, rather than have every session that
                # queued behind a server that does not answer wait out another connect timeout in turn.
                raise DrawingBankError(failed[1])
            bank = DrawingBank(url)
            try:
                bank.migrate(purge_bin=True)  # what a process that stopped left in the bin is not kept past its time
            except DrawingBankError as error:
                bank.engine.dispose()
                _failed_opens[url] = (time.monotonic(), str(error))
                raise
            _banks[url] = bank
        return bank


class DrawingBank:
    """Drawings in one database. Safe to share between threads: every call takes its own connection."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_bank_engine(url)
        self.is_postgres = self.engine.dialect.name == "postgresql"

    # -- schema --

    def migrate(self, purge_bin: bool = False) -> str:
        """Apply the Alembic revisions this database lacks, in one transaction; the revision it is at now.

        purge_bin: in the same transaction, delete for good what the bin kept past its time (as opening does).
        A failure here says the bank could not be opened: a command that only reads makes this write too.
        """
        try:
            with BankTransaction(self.engine, self.url, write=True, opening=True) as connection:
                revision = upgrade_to_head(connection)
                if purge_bin:
                    _purge_bin(connection)
                return revision
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

    def add(self, drawing: NewDrawing, max_drawings: int | None = None) -> int:
        """Store one checked drawing; its id. Refused (DrawingRejectedError) when its class is closed, and with
        max_drawings (a visitor's save) once the bank holds that many."""
        with self._writing() as connection:
            refuse_closed_classes(connection, [drawing])
            if max_drawings is not None:
                refusal = self._full_refusal(connection, max_drawings)
                if refusal:
                    raise DrawingRejectedError(refusal)
            _purge_bin(connection)
            return int(connection.execute(insert(drawings_table).values(**row_of(drawing))).inserted_primary_key[0])

    def add_many(self, drawings: Iterable[NewDrawing]) -> list[int]:
        """Store drawings in one transaction: all of them, or (on a failure) none."""
        drawings = list(drawings)
        rows = [row_of(drawing) for drawing in drawings]
        with self._writing() as connection:
            refuse_closed_classes(connection, drawings)
            return [int(connection.execute(insert(drawings_table).values(**row)).inserted_primary_key[0])
                    for row in rows]

    def add_absent(self, drawings: Iterable[NewDrawing]) -> tuple[list[int], int]:
        """Store, in one transaction, the drawings whose identity (NewDrawing.identity) the bank does not hold yet.

        (the ids added, how many were already there): importing the same file twice adds nothing the second
        time. A drawing in the bin is not in the bank, so importing it again brings it back: the binned row
        itself, with its id, so that an Undo of its delete afterwards does not make it two.
        """
        pending = list(drawings)
        added: list[int] = []
        with self._writing() as connection:
            refuse_closed_classes(connection, pending)
            if self.is_postgres:  # two imports of one file at once: take turns, so neither misses the other's rows
                wait_for_turn(connection, IMPORT_LOCK_KEY)
            held: set = set()
            binned: dict = {}  # identity -> the id of a row in the bin, restorable
            for start in range(0, len(pending), IDENTITY_BATCH):
                hashes = {drawing.content_sha256 for drawing in pending[start : start + IDENTITY_BATCH]}
                for row in connection.execute(
                        select(drawings_table.c.id, drawings_table.c.deleted_at, drawings_table.c.content_sha256,
                               drawings_table.c.label, drawings_table.c.writer, drawings_table.c.class_id).where(
                            drawings_table.c.content_sha256.in_(hashes), _not_purgeable())).tuples():
                    drawing_id, deleted_at, identity = row[0], row[1], tuple(row[2:])
                    if deleted_at is None:
                        held.add(identity)
                    else:
                        binned.setdefault(identity, drawing_id)
            for drawing in pending:
                if drawing.identity in held:
                    continue
                held.add(drawing.identity)  # the same drawing twice in one file goes in once
                if drawing.identity in binned:
                    drawing_id = binned[drawing.identity]
                    connection.execute(update(drawings_table).where(drawings_table.c.id == drawing_id)
                                       .values(deleted_at=None))
                else:
                    drawing_id = connection.execute(insert(drawings_table).values(**row_of(drawing))) \
                        .inserted_primary_key[0]
                added.append(int(drawing_id))
        return added, len(pending) - len(added)

    def relabel(self, drawing_id: int, label: int, session: str | None = None) -> bool:
        """Give a stored drawing another label, in one statement; with session, only if that session saved it.

        Whether a drawing was relabelled (False: it is gone, in the bin, not that session's, or in a closed class).
        """
        statement = update(drawings_table).where(*own(drawing_id, session), outside_closed_classes()) \
            .values(label=check_digit(label))
        with self._writing() as connection:
            return connection.execute(statement).rowcount > 0

    def delete(self, drawing_id: int, session: str | None = None) -> bool:
        """Delete a drawing for good; with session, only if that session saved it. Whether a row went."""
        statement = delete(drawings_table).where(drawings_table.c.id == int(drawing_id))
        if session is not None:
            statement = statement.where(drawings_table.c.session == session)
        with self._writing() as connection:
            return connection.execute(statement).rowcount > 0

    def move_to_bin(self, drawing_id: int, session: str | None = None) -> bool:
        """Delete a drawing so that restore can bring it back for BIN_MINUTES; with session, only that session's.

        From now on nothing lists, exports, evaluates or trains on it. Whether a drawing was moved.
        """
        with self._writing() as connection:
            _purge_bin(connection)
            return connection.execute(update(drawings_table).where(*own(drawing_id, session))
                                      .values(deleted_at=now())).rowcount > 0

    def move_matching_to_bin(self, where: DrawingFilter, session: str | None = None,
                             among: Iterable[int] | None = None) -> list[int]:
        """Delete, in one transaction, every drawing where matches, as move_to_bin does one; with session, only
        that session's; with among, only those of these ids (the drawings a person counted and confirmed: none saved
        since). The ids moved, lowest first: what restore_many brings back."""
        statement = update(drawings_table).where(*conditions(where)).values(deleted_at=now())
        if session is not None:
            statement = statement.where(drawings_table.c.session == session)
        # UPDATE ... RETURNING: the rows moved are exactly the rows reported, whatever others write meanwhile.
        statement = statement.returning(drawings_table.c.id)
        with self._writing() as connection:
            _purge_bin(connection)
            if among is None:
                return sorted(connection.execute(statement).scalars())
            return sorted(moved for batch in _id_batches(among)
                          for moved in connection.execute(statement.where(drawings_table.c.id.in_(batch))).scalars())

    def restore(self, drawing_id: int, session: str | None = None) -> bool:
        """Bring a drawing back from the bin, same id, while its BIN_MINUTES last. Whether it is back (True also
        when an import brought it back first)."""
        return bool(self.restore_many([drawing_id], session))

    def restore_many(self, drawing_ids: Iterable[int], session: str | None = None) -> list[int]:
        """Bring drawings back from the bin in one transaction, as restore does one; the ids back, lowest first
        (those whose BIN_MINUTES are over, or not that session's, are not)."""
        statement = update(drawings_table).where(_not_purgeable()).values(deleted_at=None)
        if session is not None:
            statement = statement.where(drawings_table.c.session == session)
        statement = statement.returning(drawings_table.c.id)
        with self._writing() as connection:
            return sorted(back for batch in _id_batches(drawing_ids)
                          for back in connection.execute(statement.where(drawings_table.c.id.in_(batch))).scalars())

    def purge_bin(self) -> int:
        """Delete for good the drawings whose time in the bin is over; how many."""
        with self._writing() as connection:
            return _purge_bin(connection)

    def _full_refusal(self, connection: Connection, max_drawings: int) -> str | None:
        if self.is_postgres:  # count-then-insert by two visitors at once: take turns, so neither overshoots
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SAVE_LOCK_KEY})
        total = connection.execute(select(func.count()).select_from(drawings_table).where(*live())).scalar()
        if total >= max_drawings:
            return (f"The drawing bank is full ({total:,} drawings, the most this deployment keeps from visitors). "
                    "Nothing was saved.")
        return None

    # -- reading --

    def get(self, drawing_id: int) -> Drawing | None:
        """The drawing with that id; None when there is none (or it is in the bin)."""
        with self._reading() as connection:
            row = connection.execute(select(drawings_table).where(
                drawings_table.c.id == int(drawing_id), *live())).first()
        return None if row is None else drawing_of(row)

    def drawings(self, where: DrawingFilter = DrawingFilter(), limit: int | None = None, offset: int = 0,
                 newest_first: bool = True) -> list[Drawing]:
        """One page of the matching drawings (for the gallery; export reads with snapshot_drawings)."""
        order = drawings_table.c.id.desc() if newest_first else drawings_table.c.id
        statement = select(drawings_table).where(*conditions(where)).order_by(order).offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        with self._reading() as connection:
            return [drawing_of(row) for row in connection.execute(statement)]

    def snapshot_drawings(self, where: DrawingFilter = DrawingFilter(), page: int = 500) -> Iterator[Drawing]:
        """Every matching drawing, oldest first, as the bank was when the first page was read.

        One transaction with a snapshot (see BankTransaction), read a page at a time by id (keyset, not
        OFFSET), so drawings others add or delete meanwhile neither shift the pages nor go missing, and
        a large bank is never all in memory.
        """
        with BankTransaction(self.engine, self.url, write=False, snapshot=True) as connection:
            last = 0
            while True:
                rows = connection.execute(select(drawings_table).where(
                    *conditions(where), drawings_table.c.id > last).order_by(drawings_table.c.id).limit(page)).all()
                yield from (drawing_of(row) for row in rows)
                if len(rows) < page:
                    return
                last = rows[-1].id

    def readings(self, where: DrawingFilter = DrawingFilter()) -> list[Drawing]:
        """The matching drawings, oldest first, without their images or strokes (empty png and mnist): for counts."""
        light = [column for column in drawings_table.c if column.name not in ("png", "mnist", "strokes")]
        with self._reading() as connection:
            rows = connection.execute(select(*light).where(*conditions(where)).order_by(drawings_table.c.id)).all()
        return [drawing_of(row, images=False) for row in rows]

    def matching_ids(self, where: DrawingFilter = DrawingFilter()) -> list[int]:
        """The ids of the drawings where matches, lowest first."""
        with self._reading() as connection:
            return sorted(connection.execute(select(drawings_table.c.id).where(*conditions(where))).scalars())

    def count(self, where: DrawingFilter = DrawingFilter()) -> int:
        with self._reading() as connection:
            return int(connection.execute(
                select(func.count()).select_from(drawings_table).where(*conditions(where))).scalar())

    def revision(self) -> tuple[int, int]:
        """(number of drawings, highest id): changes whenever a drawing is added or deleted, for caches."""
        with self._reading() as connection:
            count, highest = connection.execute(
                select(func.count(), func.max(drawings_table.c.id)).select_from(drawings_table).where(*live())).one()
        return int(count), int(highest or 0)

    def writers(self, viewer_session: str | None = None) -> list[str]:
        """The writer tags in the bank, sorted; with viewer_session, only those a visitor may see (DrawingFilter)."""
        with self._reading() as connection:
            rows = connection.execute(select(drawings_table.c.writer).where(
                drawings_table.c.writer.is_not(None), *conditions(DrawingFilter(viewer_session=viewer_session)))
                .distinct())
            return sorted(row[0] for row in rows)

    def labelled_people(self, viewer_session: str | None = None) -> dict[str, int]:
        """How many labelled drawings each person (see person) has in the bank, counted in the database; with
        viewer_session, only in what that visitor may see (DrawingFilter)."""
        columns = (drawings_table.c.writer, drawings_table.c.session)
        statement = select(*columns, func.count()).where(
            drawings_table.c.label.is_not(None), *conditions(DrawingFilter(viewer_session=viewer_session))) \
            .group_by(*columns)
        counts: dict[str, int] = {}
        with self._reading() as connection:
            for writer, session, count in connection.execute(statement):
                name = person(writer, session)
                counts[name] = counts.get(name, 0) + int(count)
        return counts

    def as_dataset(self, writer: str | None = None, source: str | None = None,
                   writers: Iterable[str] | None = None, class_id: int | None = None,
                   viewer_session: str | None = None) -> DrawingDataset:
        """The labelled drawings (of one writer, several, one class, or all) as arrays, oldest first; with
        viewer_session, only what that visitor may see (see DrawingFilter)."""
        columns = (drawings_table.c.id, drawings_table.c.label, drawings_table.c.writer, drawings_table.c.session,
                   drawings_table.c.mnist)
        statement = select(*columns).where(drawings_table.c.label.is_not(None),
                                           *conditions(DrawingFilter(writer=writer, source=source, class_id=class_id,
                                                                     viewer_session=viewer_session)))
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


def _id_batches(drawing_ids: Iterable[int]) -> Iterator[list[int]]:
    """The distinct ids, lowest first, ID_BATCH to a list: one statement each."""
    ids = sorted({int(drawing_id) for drawing_id in drawing_ids})
    for start in range(0, len(ids), ID_BATCH):
        yield ids[start : start + ID_BATCH]


def _not_purgeable():
    """Rows in the bank, and rows in the bin whose BIN_MINUTES are not over."""
    return drawings_table.c.deleted_at.is_(None) | (drawings_table.c.deleted_at >= now() - BIN_TIME)


def _purge_bin(connection: Connection) -> int:
    return connection.execute(delete(drawings_table).where(drawings_table.c.deleted_at < now() - BIN_TIME)).rowcount
