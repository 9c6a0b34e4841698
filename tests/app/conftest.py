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
