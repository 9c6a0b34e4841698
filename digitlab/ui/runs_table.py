"""The Train page's table of every run: select runs to compare their curves, use a run's model, or delete runs.

Everyone sees every run, its curves and the comparison; deleting a run is for the owner and for the
visitor who started it (digitlab.training.visitors), and promoting a model for the owner alone.
"""

from __future__ import annotations

import hashlib
import time

import pandas as pd
import streamlit as st

from digitlab.config.settings import Settings
from digitlab.store import run_folder as runs
from digitlab.store.run_folder import Run
from digitlab.training import jobs
from digitlab.ui import access
from digitlab.ui.figures.training import overlay_figure
from digitlab.ui.formatting import counted, describe_run_settings, format_duration, percent, table_column_px
from digitlab.ui.promotion import promote_form, use_in_session
from digitlab.ui.run_live import run_curves, run_status, viewer_may_control, viewer_requester
from digitlab.ui.train_page_state import (FULL_RERUN_KEY, LIVE_REFRESH_SECONDS, NOTICE_KEY, WATCHED_RUN_KEY,
                                          show_notice)
from digitlab.store.run_history import read_history

COLUMN_CONFIG = {
    "Run": st.column_config.TextColumn(pinned=True),  # stays in view while the table is scrolled sideways
    "Parameters": st.column_config.TextColumn(help="Trainable and fixed weights of the model"),
    "Best val accuracy": st.column_config.TextColumn(help="The best epoch's accuracy on the images held out "
                                                          "from training"),
    "Test accuracy": st.column_config.TextColumn(help="On the 10,000 MNIST test images, read as the app serves "
                                                      "the model; \"no model\" where the run ended before its "
                                                      "first epoch was saved"),
}


def runs_section(settings: Settings, active: Run | None = None) -> None:
    """Every run in a table; select runs to overlay their curves, use one's model or delete them.

    While a run is active the table refreshes itself with the live view, so its row moves on too.
    """
    st.subheader("Runs")
    st.session_state.pop(FULL_RERUN_KEY, None)  # this is a whole-page run already
    show_notice()
    st.fragment(_runs_table_and_actions, run_every=LIVE_REFRESH_SECONDS * 2 if active is not None else None)(settings)


def _runs_table_and_actions(settings: Settings) -> None:
    if st.session_state.pop(FULL_RERUN_KEY, False):
        # An action here changed what the sidebar or the notices above show: redraw the whole page.
        st.rerun(scope="app")
    all_runs = jobs.refresh_runs()
    if not all_runs:
        where = f" under {runs.runs_root()}" if access.viewer_is_owner() else ""  # no server path for a visitor
        st.caption(f"No runs yet. Start one above; each run's files live in its own folder{where}.")
        return
    table = runs_table(all_runs)
    # A status changes while the table stays on the page (running, then stopped after epoch 2 of 3), and the column
    # kept the width of the first.
    status_column = st.column_config.TextColumn(width=table_column_px(["Status", *table["Status"]]))
    event = st.dataframe(table, key=runs_table_key(all_runs), on_select="rerun", selection_mode="multi-row",
                         hide_index=True, column_config=COLUMN_CONFIG | {"Status": status_column})
    selected = [all_runs[index] for index in event.selection.rows if index < len(all_runs)]
    if not selected:
        st.caption("Select runs in the table to compare their curves, use a run's model, or delete runs.")
        return
    if len(selected) == 1:
        _run_details(selected[0])
    else:
        curves = [(run.title, read_history(run.dir), run.status.batches_per_epoch) for run in selected]
        st.plotly_chart(overlay_figure(curves), config={"displayModeBar": False}, key="runs-overlay")
    _run_actions(selected)


def _run_details(run: Run) -> None:
    """One selected run: its outcome (with the end of its log when it failed) and its curves."""
    if run.is_active:
        st.caption(f"Run {run.title} is {run.state}: it is shown live above.")
        return
    st.markdown(f"**{run.title}**")
    run_status(run)
    run_curves(run, key=f"details-{run.name}", title="Its curves")


def runs_table(all_runs: list[Run]) -> pd.DataFrame:
    """One row per run: what a visitor compares runs by, as text in every cell (a figure, or why there is none)."""
    rows = []
    for run in all_runs:
        status, config = run.status, run.config
        epochs = config.epochs if config else None
        rows.append({
            "Run": run.title,
            "Status": describe_state(run) + (" ⚠" if status.warning else ""),
            "Architecture": config.arch if config else "unknown",
            "Parameters": f"{status.parameters:,}" if status.parameters else "–",
            "Epochs": f"{status.completed_epochs} / {epochs}" if epochs else "–",
            "Best val accuracy": percent(status.best_val_accuracy),
            "Test accuracy": _test_accuracy(run),
            "Duration": format_duration(run.duration),
            "Started": time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at)) if run.started_at else "–",
            "Settings": describe_run_settings(config),
            "Folder": run.name,
        })
    return pd.DataFrame(rows)


def describe_state(run: Run) -> str:
    """'done', 'running', 'stopped after epoch 2 of 3', 'stopped before epoch 1', 'failed in epoch 2 of 3', ...

    The run's test accuracy says "no model" beside a run stopped before epoch 1, so its status can be short.
    """
    epochs = f" of {run.config.epochs}" if run.config else ""
    if run.state == "stopped" and run.has_model:
        return f"stopped after epoch {run.status.completed_epochs}{epochs}"
    if run.state == "stopped":
        return "stopped before epoch 1"
    if run.state == "failed":
        return f"failed in epoch {run.status.epoch}{epochs}" if run.status.epoch else "failed before training began"
    return run.state


def _test_accuracy(run: Run) -> str:
    if run.status.test_accuracy is not None:
        return percent(run.status.test_accuracy)
    if run.is_active:
        return "after training"
    return "–" if run.has_model else "no model"


def runs_table_key(all_runs: list[Run]) -> str:
    """A table key that changes when runs come or go, so a selection never slides onto another run."""
    names = "\n".join(run.name for run in all_runs)
    return "runs-table-" + hashlib.sha1(names.encode()).hexdigest()[:12]


def _run_actions(selected: list[Run]) -> None:
    requester = viewer_requester()
    use_column, delete_column = st.columns(2)
    with use_column:
        if len(selected) != 1:
            st.caption("Select a single finished run to use its model.")
        elif not selected[0].has_model:
            st.caption(f"Run {selected[0].title} has no finished model to use ({selected[0].state}).")
        else:
            run = selected[0]
            st.button("Read with it in this tab", key=f"use-{run.name}", on_click=use_in_session, args=(run,),
                      help="The Draw and Evaluate pages of this tab use this run's model; nobody else is affected.")
            if requester.is_owner:
                promote_form(run)
            else:
                st.caption("Promoting a model into models/ for everyone is for the owner.")
    with delete_column:
        yours = [run for run in selected if viewer_may_control(run, requester)]
        if len(yours) < len(selected):
            st.caption("Deleting a run is for the owner and for the visitor who started it.")
        deletable = [run for run in yours if not run.is_active]
        if len(deletable) < len(yours):
            st.caption("A run that is still going cannot be deleted; stop it first.")
        if deletable:
            with st.popover(f"Delete {counted(len(deletable), 'run')}"):
                st.write("Delete " + ", ".join(run.title for run in deletable) + "? Their files are removed; "
                         "models already promoted into models/ stay.")
                st.button("Delete", type="primary", key="confirm-delete", on_click=_delete_runs, args=(deletable,))


def _delete_runs(selected: list[Run]) -> None:
    requester = viewer_requester()  # asked again, and checked by jobs: the button may be from before a sign-out
    deleted, refused = [], []
    for run in selected:
        try:
            jobs.delete_run(run, requester)
            deleted.append(run.title)
        except (jobs.RunActiveError, jobs.NotYourRunError, OSError) as error:
            refused.append(str(error))
    if st.session_state.get(WATCHED_RUN_KEY) in {run.name for run in selected}:
        del st.session_state[WATCHED_RUN_KEY]
    text = (f"Deleted {', '.join(deleted)}. " if deleted else "") + " ".join(refused)
    st.session_state[NOTICE_KEY] = ("warning" if refused else "success", text)
    st.session_state[FULL_RERUN_KEY] = True
