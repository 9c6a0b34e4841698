"""The Draw page's switch between one digit and a whole number, and the title each mode gives the page."""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

READ_MODE_KEY = "read_mode"
ONE_DIGIT, A_NUMBER = "One digit", "A number"
TITLES = {ONE_DIGIT: "Draw a digit", A_NUMBER: "Write a number"}
_LAST_MODE_KEY = "read_mode_last"  # the mode before a click, to restore when the selected one is clicked again


def current_read_mode() -> str:
    """The mode the page shows now (its widget's value is set before the script reruns)."""
    return st.session_state.get(READ_MODE_KEY) or st.session_state.get(_LAST_MODE_KEY) or ONE_DIGIT


def _keep_a_mode_selected() -> None:
    # A segmented control lets a click on the selected option clear it, which left neither mode
    # chosen; clicking the mode already shown should leave it shown.
    if st.session_state.get(READ_MODE_KEY) is None:
        st.session_state[READ_MODE_KEY] = st.session_state.get(_LAST_MODE_KEY) or ONE_DIGIT
    st.session_state[_LAST_MODE_KEY] = st.session_state[READ_MODE_KEY]


def choose_one_digit() -> None:
    """Have the Draw page open in One digit mode the next time it is shown (from another page)."""
    st.session_state.pop(READ_MODE_KEY, None)  # the widget's own state, if it is still kept, would win
    st.session_state[_LAST_MODE_KEY] = ONE_DIGIT


def read_mode_title() -> None:
    """The page's title, which says what the current mode asks for."""
    st.title(TITLES[current_read_mode()])


def read_mode_switch(row: DeltaGenerator) -> str:
    """The One digit / A number control, drawn in row; returns the mode chosen."""
    mode = current_read_mode()
    st.session_state[_LAST_MODE_KEY] = mode
    row.segmented_control("What to read", list(TITLES), default=ONE_DIGIT, key=READ_MODE_KEY,
                          label_visibility="collapsed", on_change=_keep_a_mode_selected)
    return current_read_mode()
