"""Keeps every page inside app.py's frame (navigation, sidebar), even on a deep link."""

from __future__ import annotations

import streamlit as st


def ensure_app_frame() -> None:
    """Rerun through app.py when Streamlit ran this page on its own.

    Because the project has a folder named pages/, a fresh server treats the app as an old-style
    multipage app until app.py has called st.navigation once. A visitor whose first request is a
    deep link (/evaluate) would then get the page without app.py: no sidebar, no layout, no model.
    Switching Streamlit to st.navigation and rerunning runs app.py, which opens the same page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
