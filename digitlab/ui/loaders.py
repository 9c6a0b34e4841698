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


@st.cache_resource(show_spinner=False, max_entries=2)
def _load_number_reader(card_sha256: str | None, flatbuffer_sha256: str | None):
    # Keyed by the registered reader's hashes: a reader registered anew is a new key.
    from digitlab.serving.number_reading import load_number_reader

    return load_number_reader()


def load_number_reader():
    """(the shared learned number reader, "") or (None, why not): Number mode then cuts the ink into digits."""
    from digitlab.store.number_readers import served_reader_entry

    entry = served_reader_entry()
    litert = entry.card.get("litert") if entry is not None else None
    return _load_number_reader(entry.sha256 if entry is not None else None,
                               litert.get("sha256") if isinstance(litert, dict) else None)
