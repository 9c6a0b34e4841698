"""What the Train page's sections share in the session: their state keys, notices and refresh period."""

from __future__ import annotations

import streamlit as st

LIVE_REFRESH_SECONDS = 1.0
WATCHED_RUN_KEY = "train_watched_run"  # the last run this session saw active, shown until another one runs
NOTICE_KEY = "train_notice"  # (kind, text) left by a button callback for the next script run to show
FULL_RERUN_KEY = "train_full_rerun"  # set by the runs table's callbacks, whose effects lie outside its fragment
MODEL_PICKER_KEY = "model_name"  # the sidebar's model selectbox (digitlab.ui.sidebar)


def show_notice(key: str = NOTICE_KEY) -> None:
    """Show, once, the (kind, text) notice a button callback left under this key."""
    notice = st.session_state.pop(key, None)
    if notice:
        getattr(st, notice[0])(notice[1])
