"""The shared sidebar: a broken configuration, the model this session reads with, and the owner's controls."""

from __future__ import annotations

import streamlit as st

from digitlab.store.model_names import model_argument
from digitlab.store.registry import ModelEntry, ModelLoadError, active_model_name, list_models, set_active_model
from digitlab.ui.access import OWNER_ONLY_NOTE, deployment_notice, owner_sidebar_section, viewer_is_owner
from digitlab.ui.formatting import counted, percent

MODEL_KEY = "model_name"
SIDEBAR_NOTICE_KEY = "sidebar_notice"


def model_sidebar() -> ModelEntry | None:
    """Draw the model picker; return the model the user chose (the default for everyone, unless changed)."""
    entries = list_models()
    usable = [entry for entry in entries if entry.usable]
    broken = [entry for entry in entries if not entry.usable]
    with st.sidebar:
        deployment_notice()
        if not usable:
            st.error("No usable model found in models/. Train one on the Train page, or restore models/default.keras.")
            _report_broken(broken)
            owner_sidebar_section()
            return None
        names = [entry.name for entry in usable]
        active = active_model_name()
        if st.session_state.get(MODEL_KEY) not in names:
            st.session_state[MODEL_KEY] = active if active in names else names[0]
        labels = {entry.name: entry.label for entry in usable}
        name = st.selectbox("Model", names, key=MODEL_KEY,
                            format_func=lambda option: labels[option] + _default_mark(option, active),
                            help="The model this browser tab reads drawings with: models in models/, and finished "
                                 "training runs by the name given to them, when they started, their architecture "
                                 "and their accuracy on MNIST test. Your choice changes nothing for anyone else.")
        entry = next(entry for entry in usable if entry.name == name)
        # The name `--model` takes for it: a run by the name given to it where that names it alone.
        st.caption(f"{model_argument(entry, usable)} · {entry.card.get('architecture', '?')}"
                   + (f" · MNIST test accuracy {percent(entry.test_accuracy)}" if entry.test_accuracy is not None else ""))
        if entry.card.get("warning"):
            st.warning(entry.card["warning"])
        _default_for_everyone(entry, active)
        notice = st.session_state.pop(SIDEBAR_NOTICE_KEY, None)
        if notice:
            getattr(st, notice[0])(notice[1])
        _report_broken(broken)
        owner_sidebar_section()
    return entry


def _default_for_everyone(entry: ModelEntry, active: str) -> None:
    """The owner may make a model in models/ the one every visitor gets."""
    if entry.name == active or entry.is_run or not viewer_is_owner():
        return
    st.button("Make this the default for everyone", key="make-default", on_click=_make_default, args=(entry.name,),
              help="Every visitor who has not picked a model reads with the default.")


def _make_default(name: str) -> None:
    if not viewer_is_owner():  # checked again: the button may be from before a sign-out
        st.session_state[SIDEBAR_NOTICE_KEY] = ("error", OWNER_ONLY_NOTE)
        return
    try:
        set_active_model(name)
    except (ModelLoadError, OSError) as error:
        st.session_state[SIDEBAR_NOTICE_KEY] = ("error", f"The default was not changed: {error}")
        return
    st.session_state[SIDEBAR_NOTICE_KEY] = ("success", f"{name} is now the default model for everyone.")


def _report_broken(broken: list[ModelEntry]) -> None:
    if broken:
        with st.expander(f"{counted(len(broken), 'model file')} skipped"):
            for entry in broken:
                st.caption(f"{entry.path.name}: {entry.problem}")


def _default_mark(name: str, active: str | None) -> str:
    """' · default' after the model everyone gets, unless its name says so already (the box is narrow)."""
    return " · default" if name == active and name != "default" else ""
