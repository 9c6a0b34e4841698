"""The bank's statement timeout on PostgreSQL (bank/engine.py): a statement stuck behind another session's lock is
reported in seconds, while an import or a migration waiting its turn (an advisory lock) waits for the other to finish."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine, text

from digitlab.bank import engine
from digitlab.bank.migrate import MIGRATION_LOCK_KEY
from digitlab.bank.repository import IMPORT_LOCK_KEY, DrawingBank
from tests.databases import fresh_database_url
from tests.unit.test_bank_engine import finished, in_background
from tests.unit.test_drawings import a_drawing

SHORT_TIMEOUT_S = 1  # the statement timeout in these tests, for 30 s
TIMED_OUT = ("the database did not answer in time: another session may be holding the drawings locked, or another "
             "import or migration is still running")


@pytest.fixture
def bank(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "POSTGRES_STATEMENT_TIMEOUT_S", SHORT_TIMEOUT_S)
    bank = DrawingBank(fresh_database_url("postgresql", tmp_path))
    bank.migrate()
    yield bank
    bank.engine.dispose()


@pytest.fixture
def other_session(bank):
    """A connection of someone else's (psql, another process) to the bank's database, without the bank's bounds."""
    other = create_engine(bank.url)
    connection = other.connect()
    yield connection
    connection.rollback()
    connection.close()
    other.dispose()


def turn_taking(bank: DrawingBank, work: str) -> tuple[int, Callable]:
    """The advisory lock that an import or a migration waits its turn on, and the bank call that does one."""
    if work == "import":
        return IMPORT_LOCK_KEY, lambda: bank.add_absent([a_drawing(1)])
    return MIGRATION_LOCK_KEY, bank.migrate


def test_a_save_and_a_read_behind_a_locked_table_fail_after_the_statement_timeout(bank, other_session):
    """Test that a save and a read stuck behind another session's lock on the drawings table (a table someone
    locked in psql) fail after the statement timeout with a message that says what happened and to try again,
    instead of holding the page for ever, and that the bank saves and reads again once the lock is gone."""
    other_session.execute(text("LOCK TABLE drawings IN ACCESS EXCLUSIVE MODE"))
    try:
        save = finished(*in_background(lambda: bank.add(a_drawing(1))))
        read = finished(*in_background(bank.count))
    finally:
        other_session.rollback()
    assert save["seconds"] < 5 and read["seconds"] < 5
    assert save["error"] == (f"The drawing bank could not be written ({TIMED_OUT}). Nothing was saved or changed; "
                             "try again in a moment.")
    assert f"could not be read ({TIMED_OUT}); try again in a moment." in read["error"]

    bank.add(a_drawing(1))
    assert bank.count() == 1


@pytest.mark.parametrize("work", ["import", "migration"])
def test_an_import_or_migration_waits_past_the_statement_timeout_for_another_to_finish(bank, other_session, work):
    """Test that an import waiting for another import, or a process opening the bank while another migrates it,
    is not ended by the statement timeout: it waits for the other to finish and then does its work."""
    key, call = turn_taking(bank, work)
    other_session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})  # the other import or migration
    thread, outcome = in_background(call)
    try:
        time.sleep(2.5 * SHORT_TIMEOUT_S)
        assert thread.is_alive(), f"the {work} stopped waiting for the other: {outcome.get('error')}"
    finally:
        other_session.rollback()
    outcome = finished(thread, outcome)
    assert "error" not in outcome and outcome["seconds"] > 2 * SHORT_TIMEOUT_S
    if work == "import":
        assert len(outcome["result"][0]) == 1 and bank.count() == 1


@pytest.mark.parametrize("work", ["import", "migration"])
def test_an_import_or_migration_whose_turn_never_comes_gives_up_after_the_long_work_bound(bank, other_session,
                                                                                        monkeypatch, work):
    """Test that an import or a migration waiting for another that never finishes (a stuck process holding its
    lock) gives up after the long-work bound with a message to try again, rather than waiting for ever."""
    monkeypatch.setattr(engine, "POSTGRES_LONG_WORK_TIMEOUT_S", 2)  # for 10 minutes
    key, call = turn_taking(bank, work)
    other_session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    try:
        outcome = finished(*in_background(call))
    finally:
        other_session.rollback()
    assert 1.5 < outcome["seconds"] < 6
    assert f"({TIMED_OUT})" in outcome["error"] and outcome["error"].endswith("try again in a moment.")
    assert bank.count() == 0


def test_an_import_that_waited_its_turn_is_bounded_by_the_statement_timeout_again(bank, other_session):
    """Test that once an import has waited its turn, its own statements have the statement timeout again: a table
    locked in psql after the other import finished is reported in seconds, not after the long-work bound."""
    other_session.execute(text("SELECT pg_advisory_lock(:key)"), {"key": IMPORT_LOCK_KEY})  # held across transactions
    thread, outcome = in_background(lambda: bank.add_absent([a_drawing(1)]))
    try:
        time.sleep(1.5 * SHORT_TIMEOUT_S)  # the import is waiting its turn
        other_session.execute(text("LOCK TABLE drawings IN ACCESS EXCLUSIVE MODE"))
        other_session.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": IMPORT_LOCK_KEY})
        outcome = finished(thread, outcome)
    finally:
        other_session.rollback()
    assert f"could not be written ({TIMED_OUT})" in outcome["error"] and outcome["seconds"] < 5
    assert bank.count() == 0
