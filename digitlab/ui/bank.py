"""The drawing bank as the pages see it: which bank, who is saving, and the limits on visitors."""

from __future__ import annotations

import uuid

import streamlit as st

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the Draw page loads without SQLAlchemy; the bank is opened on the first save
    from digitlab.bank.records import VisitorLimits
    from digitlab.bank.repository import DrawingBank
from digitlab.config.settings import Settings, SettingsError, load_settings
from digitlab.ui.access import viewer_is_owner

SESSION_TAG_KEY = "bank_session_tag"
WRITER_KEY = "bank_writer"


def secrets() -> dict:
    try:
        return dict(st.secrets)
    except FileNotFoundError:  # Streamlit's error for no secrets file, or one that does not parse
        return {}


def drawing_bank() -> "DrawingBank":
    """The bank this deployment uses; raises DrawingBankError (with a message for the user) when it is unreachable."""
    from digitlab.bank.repository import open_bank
    from digitlab.config.database import database_url

    return open_bank(database_url(secrets()))


def session_tag() -> str:
    """A random tag for this browser session: a visitor may delete and undo only what it saved."""
    if SESSION_TAG_KEY not in st.session_state:
        st.session_state[SESSION_TAG_KEY] = f"visitor-{uuid.uuid4().hex[:10]}"
    return st.session_state[SESSION_TAG_KEY]


def writer_tag() -> str:
    """The writer saved with this session's drawings: the name given on the Draw page, else the session tag."""
    return (st.session_state.get(WRITER_KEY) or "").strip() or session_tag()


def visitor_limits() -> "VisitorLimits | None":
    """The limits on this session's saves, or None for the owner."""
    from digitlab.bank.records import VisitorLimits

    if viewer_is_owner():
        return None
    try:
        settings = load_settings(secrets())
    except SettingsError:
        settings = Settings()  # the Train page reports a bad setting; the bank keeps its default limits
    return VisitorLimits(saves_per_minute=settings.bank_saves_per_minute, max_drawings=settings.bank_max_drawings)
