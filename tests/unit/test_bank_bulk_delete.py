"""Deleting every drawing that matches a filter at once, and bringing the batch back, on SQLite always and
PostgreSQL when .ci/run started a server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import update

from digitlab.bank.engine import DrawingBankError
from digitlab.bank.records import DrawingFilter
from digitlab.bank.repository import BIN_TIME, ID_BATCH, DrawingBank
from digitlab.bank.schema import drawings_table
from tests.databases import BACKENDS, fresh_database_url
from tests.unit.test_bank_exact import fail_statements
from tests.unit.test_drawings import _migrated, a_drawing


@pytest.fixture(params=BACKENDS)
def bank(request, tmp_path):
    return DrawingBank(_migrated(fresh_database_url(request.param, tmp_path)))


def test_deleting_every_match_bins_those_alone_and_restore_many_brings_them_back_with_their_ids(bank):
    """Test that the drawings labelled 1 go to the bin together (gone from every read), the 0s stay, a second
    delete finds nothing, and restore_many brings back the same rows."""
    ones = [bank.add(a_drawing(1, writer="Ana")), bank.add(a_drawing(1, writer="Ben"))]
    zero = bank.add(a_drawing(0, "zero", writer="Ana"))

    assert bank.move_matching_to_bin(DrawingFilter(label=1)) == ones
    assert [d.id for d in bank.drawings()] == [zero] and bank.count(DrawingFilter(label=1)) == 0
    assert bank.as_dataset().ids.tolist() == [zero] and bank.writers() == ["Ana"]
    assert bank.move_matching_to_bin(DrawingFilter(label=1)) == []  # already in the bin

    assert bank.restore_many(ones) == ones
    assert sorted(d.id for d in bank.drawings()) == sorted([*ones, zero])
    assert bank.get(ones[1]).writer == "Ben"


def test_a_visitor_deletes_and_restores_only_its_own_matching_drawings(bank):
    """Test that with a session only that session's matching drawings go, and only it may bring them back."""
    mine = bank.add(a_drawing(1, session="visitor-mine"))
    theirs = bank.add(a_drawing(1, session="visitor-other"))
    owners = bank.add(a_drawing(1))

    assert bank.move_matching_to_bin(DrawingFilter(label=1), session="visitor-mine") == [mine]
    assert sorted(d.id for d in bank.drawings()) == [theirs, owners]
    assert bank.restore_many([mine], session="visitor-other") == []
    assert bank.count() == 2
    assert bank.restore_many([mine], session="visitor-mine") == [mine]
    assert bank.count() == 3


def test_a_failed_bulk_delete_deletes_nothing(bank):
    """Test that a delete of every match that fails (a lost connection) leaves every drawing in the bank."""
    for _ in range(3):
        bank.add(a_drawing(1))
    stop_failing = fail_statements(bank.engine, "UPDATE")
    with pytest.raises(DrawingBankError, match="Nothing was saved or changed"):
        bank.move_matching_to_bin(DrawingFilter())
    stop_failing()
    assert bank.count() == 3


def test_restore_many_brings_back_only_what_is_still_in_the_bin_in_time(bank):
    """Test that a batch restore returns the ids back, leaves out those whose BIN_MINUTES are over, and counts a
    drawing an import already brought back as back."""
    old, recent, imported = (bank.add(a_drawing(1)), bank.add(a_drawing(0, "zero")), bank.add(a_drawing(7)))
    assert bank.move_matching_to_bin(DrawingFilter()) == [old, recent, imported]
    with bank.engine.begin() as connection:  # old as if deleted a minute longer ago than the bin keeps drawings
        connection.execute(update(drawings_table).where(drawings_table.c.id == old).values(
            deleted_at=datetime.now(timezone.utc) - BIN_TIME - timedelta(minutes=1)))
    assert bank.restore_many([imported]) == [imported]  # as an import would bring it back before the Undo
    assert bank.restore_many([old, recent, imported]) == [recent, imported]
    assert sorted(d.id for d in bank.drawings()) == [recent, imported]


def test_a_batch_larger_than_one_statement_takes_comes_back_whole(bank):
    """Test that more drawings than ID_BATCH deleted together all come back."""
    ids = bank.add_many([a_drawing(1)] * (ID_BATCH + 3))
    assert bank.move_matching_to_bin(DrawingFilter(label=1)) == ids
    assert bank.count() == 0
    assert bank.restore_many(ids) == ids and bank.count() == len(ids)


def test_a_delete_of_the_drawings_counted_leaves_those_saved_since_and_those_no_longer_matching(bank):
    """Test that with among (the ids counted when the person was asked), only those of them that still match go:
    not a matching drawing saved since, nor a counted one relabelled meanwhile."""
    where = DrawingFilter(label=1)
    counted_ids = bank.matching_ids(where)
    assert counted_ids == []
    first, relabelled = bank.add(a_drawing(1, writer="Ana")), bank.add(a_drawing(1, "other", writer="Ben"))
    counted_ids = bank.matching_ids(where)
    assert counted_ids == [first, relabelled]
    saved_since = bank.add(a_drawing(1, "since", writer="Cy"))
    bank.relabel(relabelled, 7)

    assert bank.move_matching_to_bin(where, among=counted_ids) == [first]
    assert sorted(d.id for d in bank.drawings()) == [relabelled, saved_since]
