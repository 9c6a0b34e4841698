"""Draw or Upload: which input the Draw page reads, in One digit and in A number mode alike.

One switch for both modes, so the choice holds when the mode changes (two switches at one place on the page
confused the browser, which then showed neither choice selected).

A segmented control, not st.tabs. Only the chosen input runs, as with tabs that rerun on change, and the tabs
cost every stroke on the canvas: Streamlit's tab panel looks through its whole content for something to focus
after each render and each change of the page under it, and a stroke changes the page three times (BENCHMARKS,
"Draw and Upload as a switch instead of tabs").
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from digitlab.ui.formatting import plain_markdown

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


ONE_DIGIT_UPLOAD_KEY, NUMBER_UPLOAD_KEY = "one_digit_upload", "number_upload"


@dataclass(frozen=True)
class UploadedFile:
    name: str
    data: bytes


def uploaded_file(label: str, key: str, **uploader_options) -> UploadedFile | None:
    """The file uploader under key, and the file to read: the one in it, or else the one it held when it was last
    on the page. Streamlit forgets an uploader's file when a run does not draw it (Draw or the other mode chosen,
    another page), and a photo came back gone; a file the visitor removed from the uploader stays gone."""
    kept_key, held_key = f"{key}_kept", f"{key}_held"
    # Held a file when the last run drew it: now empty, the visitor removed it. Just mounted, it holds nothing yet.
    held_before = key in st.session_state and st.session_state.get(held_key, False)
    uploaded = st.file_uploader(label, key=key, **uploader_options)
    st.session_state[held_key] = uploaded is not None
    if uploaded is not None:
        kept = st.session_state[kept_key] = (uploaded.name, uploaded.getvalue())  # one copy of the file's bytes
        return UploadedFile(*kept)
    if held_before:
        st.session_state.pop(kept_key, None)
    kept = st.session_state.get(kept_key)
    if kept is None:
        return None
    st.caption(f"Reading {plain_markdown(kept[0])}, uploaded before. Upload another file to read it instead.")
    return UploadedFile(*kept)  # the uploader itself stands empty: the caption above says which file is read


def forget_upload(key: str) -> None:
    """Drop the file kept for the uploader under key (another page sent the Draw page an image to read instead)."""
    st.session_state.pop(f"{key}_kept", None)
