"""The drawing bank's link to its database: the engine, set up for SQLite or a server, and its transactions.

Every read and write runs in a BankTransaction, so a failure (full disk, dropped connection, a server
that is not there, a statement the server does not finish in time) leaves the bank as it was and reaches the
user as a DrawingBankError that says what to do.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from digitlab.config.database import DATABASE_URL_VAR, describe_url

# A server that takes the TCP connection but never answers (a firewall, a wrong port) would otherwise hold a
# page for psycopg's default 130 s, and every other session with it while open_bank holds its lock. 10 s is
# ample for a server across the world, and short enough that a visitor still reads the message.
POSTGRES_CONNECT_TIMEOUT_S = 10
# A server that vanishes (network gone, machine off) while a statement waits for its answer is noticed by TCP
# keepalive within about a minute, where the system's keepalive defaults take over two hours. A server that is
# there but never finishes a statement is bounded by POSTGRES_STATEMENT_TIMEOUT_S instead.
POSTGRES_KEEPALIVE = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
# A statement stuck behind a lock (a stalled query, a stuck session, a table someone locked in psql) would hold
# a visitor's page for ever, and every session queued behind open_bank's lock with it; libpq has no client-side
# timeout, so the server's statement_timeout ends it. The bank's statements take milliseconds (a save, a page of
# 500 drawings, a count), so 30 s is far past any of them on a slow link, and still short enough that a visitor
# reads the message instead of giving up on the page. A visitor's save waiting its turn (SAVE_LOCK_KEY) waits
# behind another's count and insert, so it keeps this bound. The sweeps' Optuna storage has it too: the Train
# page reads it.
POSTGRES_STATEMENT_TIMEOUT_S = 30
# The waits the bank means: an import waits for another import to finish (IMPORT_LOCK_KEY), a process opening
# the bank for another's migration (MIGRATION_LOCK_KEY), and a migration may rewrite a large table itself. An
# import of a pen-digit file or a large zip takes minutes on a distant server; 10 minutes lets it finish, and a
# holder stuck longer is reported instead of waited on for ever. An import that gives up changed nothing and
# can simply be run again (importing twice adds nothing).
POSTGRES_LONG_WORK_TIMEOUT_S = 600
SQLITE_BUSY_TIMEOUT_S = 30  # a writer waits this long for another to finish before the save fails
LIBPQ_DRIVERS = ("psycopg", "psycopg2")  # the drivers that take libpq's connection parameters
# In a driver's message, what marks a failure that may pass by itself: another writer holds the database, or
# the server is not answering yet. Anything else (not a database, read-only, refused login) needs a person.
TEMPORARY_FAILURES = ("locked", "connection refused", "timeout expired", "timed out", "server closed the connection",
                      "connection reset", "starting up", "shutting down", "too many clients", "terminating connection",
                      "statement timeout")
# PostgreSQL's "canceling statement due to statement timeout", said as what it means to the user.
STATEMENT_TIMEOUT_DETAIL = ("the database did not answer in time: another session may be holding the drawings "
                            "locked, or another import or migration is still running")


class DrawingBankError(RuntimeError):
    """The database could not be reached or written; nothing was changed. The message says what to do."""


class BankSwitchedOffError(DrawingBankError):
    """The deployment's configuration is broken, so no bank is opened and nothing is saved until it is fixed."""


class BankTransaction:
    """A connection in a transaction; any database failure becomes a DrawingBankError for the user.

    snapshot: every statement in the transaction sees the bank as it was at the first one, whatever other
    connections commit meanwhile. PostgreSQL needs REPEATABLE READ for that (its default gives each
    statement a fresh view); SQLite in WAL mode gives it to any read transaction.
    opening: the transaction that brings the schema up to date before any other, which a command that only
    reads (`drawings list`) makes too: its failure says the bank could not be opened, not written.
    """

    def __init__(self, engine: Engine, url: str, write: bool, snapshot: bool = False, opening: bool = False):
        self.engine, self.url, self.write, self.snapshot, self.opening = engine, url, write, snapshot, opening

    def __enter__(self) -> Connection:
        engine = self.engine.execution_options(digitlab_write=True) if self.write else self.engine
        if self.snapshot and engine.dialect.name == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        try:
            self.context = engine.begin()
            return self.context.__enter__()
        except SQLAlchemyError as error:
            raise _bank_error(self.url, error, self.write, self.opening) from error

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            self.context.__exit__(kind, error, traceback)  # commits, or rolls back when the block failed
        except SQLAlchemyError as commit_error:
            raise _bank_error(self.url, commit_error, self.write, self.opening) from commit_error
        if isinstance(error, SQLAlchemyError):
            raise _bank_error(self.url, error, self.write, self.opening) from error
        return False


def _bank_error(url: str, error: SQLAlchemyError, write: bool, opening: bool = False) -> DrawingBankError:
    message = str(getattr(error, "orig", None) or error).strip()
    detail = _without_user(message.splitlines()[0][:300], url)
    if "statement timeout" in detail:
        detail = STATEMENT_TIMEOUT_DETAIL
    may_pass = getattr(error, "connection_invalidated", False) or any(
        phrase in message.lower() for phrase in TEMPORARY_FAILURES)
    advice = "try again in a moment." if may_pass else f"check the database that {DATABASE_URL_VAR} names."
    if opening:
        return DrawingBankError(f"The drawing bank at {describe_url(url)} could not be opened ({detail}); {advice}")
    if write:
        return DrawingBankError(f"The drawing bank could not be written ({detail}). Nothing was saved or changed; "
                                + advice)
    return DrawingBankError(f"The drawing bank at {describe_url(url)} could not be read ({detail}); {advice}")


def _without_user(detail: str, url: str) -> str:
    """The driver's message without the database user's name, which a server's refusal quotes to every visitor."""
    try:
        user = make_url(url).username
    except (SQLAlchemyError, ValueError):  # an unparseable URL has no user to hide; create_bank_engine reports it
        return detail
    return detail.replace(user, "(the database user)") if user else detail


def create_bank_engine(url: str) -> Engine:
    """An engine for the bank at url: SQLite set up for several processes at once, else the server's driver."""
    try:
        if url.startswith("sqlite"):
            return _sqlite_engine(url)
        # pool_pre_ping: a connection the server dropped is replaced, not used.
        engine = create_engine(url, pool_pre_ping=True, connect_args=server_connect_args(url))
        if engine.dialect.name == "postgresql":
            bound_statements(engine, url)
        return engine
    except OSError as error:
        raise DrawingBankError(f"The drawing bank's folder cannot be created ({error.strerror or error}). Set "
                               f"{DATABASE_URL_VAR} to a database you can write to.") from error
    except (SQLAlchemyError, ImportError, ValueError) as error:
        # SQLAlchemy quotes an unparseable URL whole, password included: name it without.
        detail = _without_user(str(error).replace(url, describe_url(url)), url)
        raise DrawingBankError(f"{DATABASE_URL_VAR} cannot be used ({detail}). Use e.g. sqlite:///drawings.sqlite "
                               "or postgresql+psycopg://user:password@host/dbname.") from error


def server_connect_args(url: str) -> dict:
    """What the driver is told when it connects to the server at url: bounded waits for a server that does not
    answer (see POSTGRES_CONNECT_TIMEOUT_S). A parameter the URL sets itself (?connect_timeout=3) is left to it.
    The sweeps' Optuna storage in the same database connects with these too."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() not in LIBPQ_DRIVERS:
        return {}
    wanted = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S, **POSTGRES_KEEPALIVE}
    return {name: value for name, value in wanted.items() if name not in parsed.query}


def bound_statements(engine: Engine, url: str) -> None:
    """Give every session of the engine POSTGRES_STATEMENT_TIMEOUT_S, unless the URL's options set a
    statement_timeout of their own (?options=-c%20statement_timeout%3D5000).

    Set by SET when a connection is made, not in libpq's startup options: PgBouncer, in front of many hosted
    servers, refuses a connection whose options it does not know. (Behind a pooler in transaction mode the SET
    may not follow the session to every server connection; the server's own setting bounds those.)
    """
    if "statement_timeout" in str(make_url(url).query.get("options", "")):
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET statement_timeout = {int(POSTGRES_STATEMENT_TIMEOUT_S * 1000)}")
        cursor.close()
        dbapi_connection.commit()  # the driver began a transaction for the SET; a rollback would undo it


def allow_long_work(connection: Connection) -> None:
    """Bound this PostgreSQL transaction's statements from here on by POSTGRES_LONG_WORK_TIMEOUT_S, not the
    statement timeout: a migration, which may wait for another and rewrite a large table."""
    connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(POSTGRES_LONG_WORK_TIMEOUT_S * 1000)}")


def wait_for_turn(connection: Connection, lock_key: int) -> None:
    """Take PostgreSQL's advisory lock lock_key until the transaction ends, waiting up to
    POSTGRES_LONG_WORK_TIMEOUT_S for the process that holds it (another import); the statements after it are
    bounded by the session's statement timeout again."""
    session_timeout = connection.exec_driver_sql("SHOW statement_timeout").scalar()
    allow_long_work(connection)
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
    connection.execute(text("SELECT set_config('statement_timeout', :value, true)"), {"value": session_timeout})


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    database = parsed.database
    # With ?uri=true the database is a URI (file:...?mode=ro), not a path whose folder could be made.
    if database and database != ":memory:" and not parsed.query.get("uri"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # Let SQLAlchemy, not the sqlite3 module, say when transactions begin (DDL included), and let
        # readers and one writer work at once (WAL); a writer waits SQLITE_BUSY_TIMEOUT_S for another to finish.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # A writer takes the write lock at BEGIN: one that read first and upgraded later could fail
        # with "database is locked" instead of waiting its turn.
        immediate = connection.get_execution_options().get("digitlab_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
