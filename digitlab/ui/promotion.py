"""Putting a finished run's model to use: in this tab only, or promoted into models/ for everyone (the owner's)."""

from __future__ import annotations

import streamlit as st

from digitlab.store.registry import ModelExistsError, ModelLoadError, promote_run
from digitlab.store.run_folder import Run
from digitlab.ui.access import OWNER_ONLY_NOTE, viewer_is_owner
from digitlab.ui.train_page_state import FULL_RERUN_KEY, MODEL_PICKER_KEY, NOTICE_KEY, show_notice


def use_in_session(run: Run) -> None:
    """Read with the run's model in this tab only (a button callback)."""
    # A callback, because it sets the sidebar's model picker, which may only change before it is drawn.
    st.session_state[MODEL_PICKER_KEY] = f"run:{run.name}"
    st.session_state[FULL_RERUN_KEY] = True
    st.session_state[NOTICE_KEY] = ("success", f"This tab now reads with the model of run {run.title}, on the Draw "
                                               "and Evaluate pages (the sidebar's Model). Nobody else's changed.")


def promote_form(run: Run) -> None:
    """The owner's promotion: a name, whether to replace a model of that name, whether it becomes the default.

    One form, so the name typed and the boxes ticked reach the server together with the click: as
    separate widgets, a name typed and a box ticked within a second of clicking Promote could be
    dropped by the reruns they each started, and the model was promoted without becoming the default.
    """
    name_key, replace_key, default_key = (f"promote-name-{run.name}", f"promote-replace-{run.name}",
                                          f"promote-default-{run.name}")
    anyway_key = f"promote-anyway-{run.name}"
    if run.status.warning:
        st.warning(f"Check before promoting: {run.status.warning}")
        st.checkbox("Promote it anyway", key=anyway_key)
    with st.form(f"promote-form-{run.name}", border=False):
        st.text_input("Model name", value=run.title if _usable_name(run.title) else run.name, key=name_key,
                      max_chars=80, help="Letters, digits, '-' and '_'. The model is copied into models/ under this name.")
        # Off until ticked, as `promote` without --default: what every visitor reads with changes only on purpose.
        st.checkbox("Make it the default for everyone", value=False, key=default_key,
                    help="Every visitor who has not picked a model reads with the default. Left unticked, the model "
                         "is only added to models/ and the default stays as it is.")
        st.checkbox("Replace a model of that name if there is one (its current version is kept)", key=replace_key)
        st.form_submit_button("Promote to models/", type="primary", key=f"promote-{run.name}",
                              disabled=bool(run.status.warning) and not st.session_state.get(anyway_key, False),
                              on_click=_promote, args=(run, name_key, replace_key, default_key, anyway_key))
    show_notice(_notice_key(run))  # shown next to the button that caused it


def _usable_name(title: str) -> bool:
    from digitlab.store.registry import check_model_name

    try:
        check_model_name(title.strip())
    except ValueError:
        return False
    return True


def _notice_key(run: Run) -> str:
    return f"{NOTICE_KEY}-{run.name}"


def _promote(run: Run, name_key: str, replace_key: str, default_key: str, anyway_key: str) -> None:
    notice_key = _notice_key(run)
    if not viewer_is_owner():  # checked again: the button may be from before a sign-out
        st.session_state[notice_key] = ("error", OWNER_ONLY_NOTE)
        return
    if run.status.warning and not st.session_state.get(anyway_key):
        st.session_state[notice_key] = ("error", "Tick \"Promote it anyway\" to promote a run with a warning.")
        return
    name = str(st.session_state.get(name_key) or run.name).strip()
    make_default = bool(st.session_state.get(default_key, False))
    try:
        promoted = promote_run(run.dir, name, replace=bool(st.session_state.get(replace_key)), make_active=make_default)
    except ModelExistsError:  # its message gives the command line's advice; the form has its own words for it
        st.session_state[notice_key] = ("error", f"The model was not promoted: a model named '{name}' already "
                                                 "exists. Tick \"Replace a model of that name\" to replace it (its "
                                                 "current version is kept), or choose another name.")
        return
    except (ModelLoadError, ValueError, OSError) as error:
        st.session_state[notice_key] = ("error", f"The model was not promoted: {error}")
        return
    st.session_state[MODEL_PICKER_KEY] = promoted.name
    st.session_state[FULL_RERUN_KEY] = True
    where = "the default model for everyone" if make_default else "in models/"
    st.session_state[notice_key] = ("success", f"Model **{promoted.name}** (version {promoted.card['version']}) "
                                               f"is now {where}.")
