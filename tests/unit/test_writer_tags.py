"""Writer tags kept for someone else: an imported pen-digit writer's (pen-07) and a browser session's (visitor-<hex>)."""

from __future__ import annotations

import pytest

import digitlab.ui.bank
from digitlab.bank.writer_tags import pen_writer_tag, reserved_tag_form
from digitlab.ui.bank import borrowed_writer_tag, session_tag


@pytest.fixture
def fresh_session(monkeypatch) -> dict:
    """A session state of this test's own, as a new browser session starts with."""
    state = {}
    monkeypatch.setattr(digitlab.ui.bank.st, "session_state", state)
    return state


@pytest.mark.parametrize("tag", ["pen-01", "pen-7", "pen-1000", " PEN-01 ", "Pen-30"])
def test_a_tag_of_the_pen_digit_import_s_form_is_kept_for_imported_writers(tag):
    """Test that pen- and a number of any length, as the import tags pen-digit writers, in any letter case and with
    spaces around it, is the form kept for imported pen-digit writers."""
    assert "imported pen-digit writer" in reserved_tag_form(tag)


@pytest.mark.parametrize("tag", ["visitor-1a2b3c4d5e", "visitor-0123456789", "VISITOR-ABCDEF0123", "visitor-face"])
def test_a_tag_of_the_session_tag_s_form_is_kept_for_browser_sessions(tag):
    """Test that visitor- and hex digits, the form of a browser session's tag, is kept for those sessions."""
    assert "browser session" in reserved_tag_form(tag)


@pytest.mark.parametrize("tag", ["Class 4B", "Ana", "pen", "pen-", "pen-01a", "pen 01", "pencil-01", "my pen-01",
                                 "visitor-", "visitor-me", "visitor-1a2b 3c", "visitors-1a2b3c4d5e"])
def test_a_tag_only_like_a_reserved_one_is_anyone_s(tag):
    """Test that names that merely start or end like a reserved form (a class, pen-01a, visitor-me) stay free."""
    assert reserved_tag_form(tag) is None


def test_the_tags_the_app_gives_have_the_reserved_forms(fresh_session):
    """Test that the rule matches the tags the app really makes: a new session's tag and the import's pen-NN."""
    assert reserved_tag_form(session_tag()) is not None
    assert all(reserved_tag_form(pen_writer_tag(writer)) is not None for writer in (1, 30, 1000))


def test_a_visitor_may_not_borrow_a_reserved_tag_but_their_own_session_s_and_the_owner_may(monkeypatch,
                                                                                           fresh_session):
    """Test that a visitor is refused another's pen-01 or session tag, saying why, but may type their own session's
    tag (the one they save under anyway), and that the owner, who labels pen digits by hand, is refused neither."""
    monkeypatch.setattr(digitlab.ui.bank, "viewer_is_owner", lambda: False)
    assert "'pen-01' is the form kept for an imported pen-digit writer" in borrowed_writer_tag("pen-01")
    assert "pooled with theirs" in borrowed_writer_tag("visitor-1a2b3c4d5e")
    assert borrowed_writer_tag(session_tag()) is None
    assert borrowed_writer_tag("Class 4B") is None

    monkeypatch.setattr(digitlab.ui.bank, "viewer_is_owner", lambda: True)
    assert borrowed_writer_tag("pen-01") is None and borrowed_writer_tag("visitor-1a2b3c4d5e") is None
