"""Cached resources shared by every visitor: models are loaded once per file content."""

from __future__ import annotations

import streamlit as st

from digitlab.store.registry import ModelEntry, ModelLoadError


@st.cache_resource(show_spinner="Loading model...", max_entries=8)
def _load_predictor(path: str, sha256: str, flatbuffer_sha256: str | None, _entry: ModelEntry):
    # Keyed by path and the content hashes of the model and its flatbuffer: a model promoted over the
    # same file name is a new key. The Predictor is shared by every session and never mutated.
    from digitlab.serving.predictor import load_serving_predictor

    return load_serving_predictor(_entry)


def load_predictor(entry: ModelEntry):
    """The shared Predictor for a model entry; raises ModelLoadError with a message for the user."""
    if not entry.usable:
        raise ModelLoadError(f"Model '{entry.name}' cannot be used: {entry.problem}.")
    litert = entry.card.get("litert")
    return _load_predictor(str(entry.path), entry.sha256, litert.get("sha256") if isinstance(litert, dict) else None,
                           entry)
