"""Choices a visitor made on one page that are still there when they come back from another.

Streamlit forgets the state of a widget that a run does not draw, so a visit to another page reset them: the
Evaluate page's chosen cell (true digit, predicted as) was gone after a look at a mistake on the Draw page. A page
names such widgets with remember_across_pages; app.py, which runs before every page, calls keep_remembered, which
writes each one's value back under its key: a value written by the app, not by a widget, is kept until the widget
is drawn again and takes it.

Only widgets given no default of their own (no index= or value=): Streamlit warns when a widget's key holds a value
and the widget is given a default too.
"""

from __future__ import annotations

import streamlit as st

REMEMBERED_KEY = "page_memory_keys"


def remember_across_pages(*keys: str) -> None:
    """Keep these widgets' values while the visitor is on other pages."""
    st.session_state.setdefault(REMEMBERED_KEY, set()).update(keys)


def keep_remembered() -> None:
    """Call on every run of every page, before the page: the remembered widgets' values outlive this run."""
    for key in st.session_state.get(REMEMBERED_KEY, ()):
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
