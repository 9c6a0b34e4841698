"""Every page opens from app.py, as a visitor would reach it, without an exception."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

REPO_ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted(path.relative_to(REPO_ROOT).as_posix() for path in (REPO_ROOT / "pages").glob("*.py"))


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_without_exception(models_dir, runs_dir, page):
    """Test that the app starts with its model picker and that the page then runs and raises nothing."""
    at = AppTest.from_file(REPO_ROOT / "app.py", default_timeout=60).run()
    assert not at.exception, [exception.value for exception in at.exception]
    assert at.sidebar.selectbox, "the sidebar's model picker is missing"

    # AppTest 1.67 runs a switched-to page file on its own when a pages/ folder sits beside app.py
    # (it re-detects the folder on every run); the model chosen on the first run stays in session_state.
    at.switch_page(page).run()

    assert not at.exception, [exception.value for exception in at.exception]
    assert at.main.children, "the page drew nothing"
