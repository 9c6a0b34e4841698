"""Cached resources shared by every visitor: models are loaded once per file content."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from digitlab.registry import ModelEntry, ModelLoadError


@st.cache_resource(show_spinner="Loading model...", max_entries=8)
def _load_predictor(path: str, sha256: str):
    # Keyed by path and content hash: a model promoted over the same file name is a new key. The
    # Predictor is shared by every session and never mutated.
    from digitlab.inference import Predictor

    return Predictor.from_file(Path(path), sha256)


def load_predictor(entry: ModelEntry):
    """The shared Predictor for a model entry; raises ModelLoadError with a message for the user."""
    if not entry.usable:
        raise ModelLoadError(f"Model '{entry.name}' cannot be used: {entry.problem}.")
    return _load_predictor(str(entry.path), entry.sha256)
