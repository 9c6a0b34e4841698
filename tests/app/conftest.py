"""Fixtures shared by the page tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def model_entry(models_dir):
    """The small trained model in this test's own models/ folder, as the sidebar hands it to a page.

    Pages that need no private models/ folder (Draw, corrections, the Why? panel) define their own.
    """
    from digitlab.store.registry import entry_for_path

    entry = entry_for_path(models_dir / "default.keras")
    assert entry.usable, entry.problem
    return entry


@pytest.fixture(autouse=True)
def browser_on_the_server_machine(monkeypatch):
    """Every page test is a browser on the server's own machine (loopback, no proxy), as `streamlit run` on
    one's own computer is; AppTest itself has no connection, which DigitLab treats as a remote visitor."""
    import digitlab.ui.access

    monkeypatch.setattr(digitlab.ui.access, "client_connection", lambda: ("127.0.0.1", (("host", "localhost:8501"),)))
