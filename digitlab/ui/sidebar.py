"""The sidebar every page shares: which model is active, and a picker for any other."""

from __future__ import annotations

import streamlit as st

from digitlab.registry import ModelEntry, active_model_name, list_models

MODEL_KEY = "model_name"


def model_sidebar() -> ModelEntry | None:
    """Draw the model picker; return the model the user chose (the active one by default)."""
    entries = list_models()
    usable = [entry for entry in entries if entry.usable]
    broken = [entry for entry in entries if not entry.usable]
    with st.sidebar:
        st.subheader("Model")
        if not usable:
            st.error("No usable model found in models/. Train one on the Train page, or restore models/default.keras.")
            _report_broken(broken)
            return None
        names = [entry.name for entry in usable]
        wanted = st.session_state.get(MODEL_KEY)
        if wanted not in names:
            active = active_model_name()
            st.session_state[MODEL_KEY] = active if active in names else names[0]
        labels = {entry.name: entry.label for entry in usable}
        name = st.selectbox("Model", names, key=MODEL_KEY, format_func=labels.get,
                            help="Models in models/ and finished training runs.")
        entry = next(entry for entry in usable if entry.name == name)
        accuracy = entry.test_accuracy
        st.caption(f"Architecture: {entry.card.get('architecture', '?')}"
                   + (f" · MNIST test accuracy {accuracy:.2%}" if accuracy is not None else ""))
        _report_broken(broken)
    return entry


def _report_broken(broken: list[ModelEntry]) -> None:
    if broken:
        with st.expander(f"{len(broken)} model file(s) skipped"):
            for entry in broken:
                st.caption(f"{entry.path.name}: {entry.problem}")
