"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def predictor(small_run):
    """The small run's model behind the app's Predictor."""
    from digitlab.serving.predictor import Predictor
    from digitlab.store.model_cards import run_card

    return Predictor.from_file(small_run / "model.keras", run_card(small_run)["sha256"])
