"""The bank's link to its database (bank/engine.py, open_bank): bounded waits and messages that say what to do."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

import pytest

from digitlab.bank import engine
from digitlab.bank.engine import DrawingBankError
from digitlab.bank.repository import DrawingBank, open_bank
from tests.unit.test_drawings import a_drawing

PATIENCE_S = 15  # how long a test waits for open_bank before calling it hung (the connect timeout here is 2 s)


@contextmanager
def silent_server():
    """A TCP server on 127.0.0.1 that accepts every connection and never answers, as a firewalled or wrong port
    does; yields its port and the connections it has accepted so far."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept_until_stopped() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept_until_stopped, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], accepted
    finally:
        stop.set()
        thread.join()
        for connection in [*accepted, listener]:
            connection.close()  # a client still waiting on an old DigitLab sees the connection end


def in_background(call: Callable) -> tuple[threading.Thread, dict]:
    """call() in a thread of its own, so a hang fails the test instead of stopping it; its outcome: the result or
    the DrawingBankError's message, and the seconds it took."""
    outcome: dict = {}

    def attempt() -> None:
        started = time.monotonic()
        try:
            outcome["result"] = call()
        except DrawingBankError as error:
            outcome["error"] = str(error)
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    return thread, outcome


def start_opening(url: str) -> tuple[threading.Thread, dict]:
    return in_background(lambda: open_bank(url))


def finished(thread: threading.Thread, outcome: dict) -> dict:
    thread.join(PATIENCE_S)
    assert not thread.is_alive(), f"the bank was still waiting after {PATIENCE_S} s"
    return outcome


@pytest.fixture
def short_connect_timeout(monkeypatch):
    monkeypatch.setattr(engine, "POSTGRES_CONNECT_TIMEOUT_S", 2)  # libpq's shortest


def test_a_server_that_accepts_and_never_answers_is_reported_after_the_connect_timeout(short_connect_timeout):
    """Test that opening a bank on a server that takes the connection and never answers fails within the connect
    timeout, with a message that names no password and says to try again, instead of hanging the page."""
    with silent_server() as (port, _accepted):
        thread, outcome = start_opening(f"postgresql+psycopg://bob:s3cret@127.0.0.1:{port}/db")
        outcome = finished(thread, outcome)
    assert outcome["seconds"] < 10
    assert "timeout expired" in outcome["error"] and "try again in a moment" in outcome["error"]
    assert "s3cret" not in outcome["error"] and "bob" not in outcome["error"]


def test_sessions_queued_behind_a_failing_open_get_its_error_instead_of_waiting_again(short_connect_timeout):
    """Test that a session that waited while another's open timed out is told at once, without a connect timeout
    of its own, and that a session asking after the failure tries the server again."""
    with silent_server() as (port, accepted):
        url = f"postgresql+psycopg://bob:s3cret@127.0.0.1:{port}/db"
        first = start_opening(url)
        deadline = time.monotonic() + PATIENCE_S
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert accepted, "the first open never reached the server"
        queued = start_opening(url)  # waits for the first, which holds open_bank's lock while it connects
        first_outcome, queued_outcome = finished(*first), finished(*queued)
        assert "timeout expired" in first_outcome["error"] and queued_outcome["error"] == first_outcome["error"]
        assert len(accepted) == 1

        later = finished(*start_opening(url))
        assert "timeout expired" in later["error"] and len(accepted) == 2


def test_only_a_failure_that_may_pass_by_itself_says_to_try_again(tmp_path, monkeypatch):
    """Test that a save refused because another writer holds the database says to try again in a moment, while a
    file that is not a database or a read-only database says to check the database instead (also when only
    reading, when the message says the bank could not be opened rather than written), since waiting will not mend
    them."""
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    path = tmp_path / "drawings.sqlite"
    bank = DrawingBank(f"sqlite:///{path}")
    bank.migrate()
    other_writer = sqlite3.connect(path, isolation_level=None)
    other_writer.execute("BEGIN IMMEDIATE")
    with pytest.raises(DrawingBankError, match=r"could not be written \(database is locked\).*try again in a moment"):
        bank.add(a_drawing(1))
    other_writer.execute("ROLLBACK")
    other_writer.close()
    bank.engine.dispose()

    not_a_database = tmp_path / "notes.sqlite"
    not_a_database.write_text("shopping list\n")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"  # as on a read-only disk
    for url, detail in [(f"sqlite:///{not_a_database}", "file is not a database"),
                        (read_only, "attempt to write a readonly database")]:
        with pytest.raises(DrawingBankError) as raised:
            open_bank(url)  # what every command and page does first, `drawings list` included
        message = str(raised.value)
        assert detail in message and "try again" not in message
        assert "check the database that DIGITLAB_DATABASE_URL names" in message
        assert "could not be opened" in message and "written" not in message  # `drawings list` writes nothing


@pytest.mark.parametrize("look", ["open_storage", "has_sweeps"])
def test_sweeps_in_a_database_whose_server_never_answers_fail_after_the_connect_timeout(short_connect_timeout, look):
    """Test that the sweeps' Optuna storage, which lives in the bank's database, gives up on a server that takes the
    connection and never answers within the bank's connect timeout, instead of holding the Train page's sweep
    section (or a sweep driver) for libpq's two minutes."""
    from sqlalchemy.exc import OperationalError

    from digitlab.training.sweeps import study_store

    outcome: dict = {}

    def attempt() -> None:
        started = time.monotonic()
        try:
            getattr(study_store, look)(f"postgresql+psycopg://bob:s3cret@127.0.0.1:{port}/db")
        except OperationalError as error:
            outcome["error"] = str(error)
        outcome["seconds"] = time.monotonic() - started

    with silent_server() as (port, _accepted):
        thread = threading.Thread(target=attempt, daemon=True)
        thread.start()
        thread.join(PATIENCE_S)
        assert not thread.is_alive(), f"{look} was still waiting after {PATIENCE_S} s"
    assert outcome["seconds"] < 10 and "timeout expired" in outcome["error"]
