"""Draw or Upload: which input the Draw page reads, in One digit and in A number mode alike.

One switch for both modes, so the choice holds when the mode changes (two switches at one place on the page
confused the browser, which then showed neither choice selected).

A segmented control, not st.tabs. Only the chosen input runs, as with tabs that rerun on change, and the tabs
cost every stroke on the canvas: Streamlit's tab panel looks through its whole content for something to focus
after each render and each change of the page under it, and a stroke changes the page three times (BENCHMARKS,
"Draw and Upload as a switch instead of tabs").
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

DRAW, UPLOAD = "Draw", "Upload"
SOURCE_KEY = "input_source"


def input_source(row: DeltaGenerator) -> str:
    """The Draw / Upload switch, drawn in row; DRAW or UPLOAD, whichever is chosen."""
    # Set before the switch is drawn, not as its default: another page may have chosen Upload already
    # (choose_upload), and Streamlit warns of a widget given both.
    if st.session_state.get(SOURCE_KEY) not in (DRAW, UPLOAD):
        st.session_state[SOURCE_KEY] = DRAW
    return row.segmented_control("Read from", [DRAW, UPLOAD], required=True, key=SOURCE_KEY,
                                 label_visibility="collapsed") or DRAW


def choose_upload() -> None:
    """Have the Draw page read from Upload the next time it is shown."""
    st.session_state[SOURCE_KEY] = UPLOAD
