"""The drawing bank as the pages see it: which bank, who is saving, and the limits on visitors."""

from __future__ import annotations

import uuid

import streamlit as st

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the Draw page loads without SQLAlchemy; the bank is opened on the first save
    from digitlab.bank.records import NewDrawing, VisitorLimits
    from digitlab.bank.repository import DrawingBank
from digitlab.bank.save_limits import SaveRateLimiter
from digitlab.bank.writer_tags import reserved_tag_form, session_tag_from
from digitlab.config.secrets import ConfigurationError
from digitlab.ui.access import browser_key, current_deployment, viewer_id, viewer_is_owner

SESSION_TAG_KEY = "bank_session_tag"
WRITER_KEY = "bank_writer"
SAVING_OFF = "Saving drawings is off"

# One per server process, shared by every session: a reload (a new session) keeps the client's count.
visitor_saves = SaveRateLimiter()


def _bank_url() -> str:
    """The bank's URL as this deployment's configuration names it; ConfigurationError while that is broken."""
    from digitlab.config.database import database_url

    return database_url(deployment=current_deployment())


def saving_switched_off() -> str | None:
    """Why drawings cannot be saved on this deployment (its configuration is broken), or None; opens no bank."""
    try:
        _bank_url()
    except ConfigurationError as error:
        return f"{SAVING_OFF}: {error}"
    return None


def drawing_bank() -> "DrawingBank":
    """The bank this deployment uses; raises DrawingBankError (with a message for the user) when it is unreachable,
    and BankSwitchedOffError, opening nothing, when the deployment's configuration is broken."""
    from digitlab.bank.engine import BankSwitchedOffError
    from digitlab.bank.repository import open_bank

    try:
        url = _bank_url()
    except ConfigurationError as error:
        raise BankSwitchedOffError(f"{SAVING_OFF}: {error}") from error
    return open_bank(url)


def save_drawing(drawing: "NewDrawing") -> int:
    """Store a drawing this session sends; its id. A visitor is held to the per-client limits (DrawingRejectedError)."""
    from digitlab.bank.drawing_checks import DrawingRejectedError

    bank = drawing_bank()
    limits = visitor_limits()
    if limits is None:
        return bank.add(drawing)
    client = viewer_id()
    refusal = visitor_saves.reserve(client, limits.saves_per_minute)
    if refusal:
        raise DrawingRejectedError(refusal)
    try:
        return bank.add(drawing, max_drawings=limits.max_drawings)
    except Exception:  # any failure: the save did not happen, so it must not count against the visitor
        visitor_saves.release(client)
        raise


def session_tag() -> str:
    """This browser's tag in the bank: a visitor may delete and undo only what it saved.

    The same on every reload of the page in this browser (a keyed hash of the browser's own secret, as a run
    records the browser that started it), so a reload does not take a visitor's drawings from them; random for
    this session where the browser sent no secret, or no key can be kept.
    """
    if SESSION_TAG_KEY not in st.session_state:
        st.session_state[SESSION_TAG_KEY] = _browser_tag() or session_tag_from(uuid.uuid4().hex)
    return st.session_state[SESSION_TAG_KEY]


def _browser_tag() -> str | None:
    from digitlab.config.paths import runs_root
    from digitlab.training.visitors import visitor_token

    secret = browser_key()
    if not secret:
        return None
    try:  # the deployment's visitor key: the tag is shown to everyone, and must not give the secret away
        token = visitor_token(f"bank-session:{secret}", runs_root())
    except OSError:  # no key and none can be made (a read-only disk)
        return None
    return session_tag_from(token)


def viewer_session() -> str | None:
    """The session a DrawingFilter limits this viewer to: None for the owner, who sees, deletes and trains on
    the whole bank; a visitor's session tag, which sees no class's drawings but its own and deletes only its own."""
    return None if viewer_is_owner() else session_tag()


def writer_tag() -> str:
    """The writer saved with this session's drawings: the name given on the Draw page, else the session tag."""
    return (st.session_state.get(WRITER_KEY) or "").strip() or session_tag()


def borrowed_writer_tag(tag: str) -> str | None:
    """Why this viewer may not save under the writer tag typed, as it names someone else; None when they may.

    A visitor may not take a tag of a form the app gives someone else (writer_tags.reserved_tag_form), bar their own
    session's: their drawings would be pooled with that writer's on the Drawings and Evaluate pages. The
    owner may, to label pen digits by hand.
    """
    if viewer_is_owner() or tag.strip() == session_tag():
        return None
    whose = reserved_tag_form(tag)
    if whose is None:
        return None
    return f"The writer tag {tag.strip()!r} is the form kept for {whose}: your drawings would be pooled with theirs."


def visitor_limits() -> "VisitorLimits | None":
    """The limits on this client's saves, or None for the owner."""
    from digitlab.bank.records import VisitorLimits

    if viewer_is_owner():
        return None
    settings = current_deployment().settings  # its defaults where a setting is malformed (the page says so)
    return VisitorLimits(saves_per_minute=settings.bank_saves_per_minute, max_drawings=settings.bank_max_drawings)
