"""The Train page's Sweep section: start a sweep (the owner), watch its trials live, see what it found, promote
the best.

A sweep is an Optuna study in the drawing bank's database whose trials are ordinary runs
(digitlab.training.sweeps). Its driver is a process of its own, so everything shown here is read from the study
and the run folders: every tab and every visitor sees the same sweep. On a shared deployment only the owner
starts, cancels, resumes and promotes; visitors see the results.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from digitlab.config.settings import Settings
from digitlab.training.sweeps import launch
from digitlab.training.sweeps import study_store as store
from digitlab.training.sweeps.results import SweepResults, sweep_results
from digitlab.ui.access import OWNER_ONLY_NOTE, viewer_is_owner
from digitlab.ui.formatting import format_duration, percent
from digitlab.ui.figures.sweeps import history_figure, importance_figure, parallel_figure
from digitlab.ui.sweep_form import (cached_storage, sweep_database, sweep_database_errors, sweep_form,
                                    sweeps_unreadable)
from digitlab.ui.train_page_state import LIVE_REFRESH_SECONDS, show_notice

SWEEP_PICKER_KEY = "sweep_shown"
SWEEP_NOTICE_KEY = "sweep_notice"
KILL_AFTER_SECONDS = 30.0  # a sweep still cancelling this long after Cancel: offer to kill its driver
TABLE_COLUMNS = {
    "Validation accuracy": st.column_config.TextColumn(help="What the sweep maximised"),
    "Test accuracy": st.column_config.TextColumn(help="On the 10,000 MNIST test images"),
    "lr": st.column_config.NumberColumn(format="%.2e"),
}


def trials_table(results: SweepResults) -> pd.DataFrame:
    """The trials as the runs table shows runs: a figure in every cell, or '–' where there is none (a pruned
    or running trial's accuracy, a local trial's host), never a bare 'None'."""
    table = pd.DataFrame(results.rows())
    for column, write in [("Validation accuracy", percent), ("Test accuracy", percent), ("Seconds", format_duration),
                          ("Where", str)]:
        table[column] = [write(value) if pd.notna(value) else "–" for value in table[column]]
    table["Note"] = table["Note"].fillna("")
    return table.rename(columns={"Seconds": "Duration"})


def sweep_section(settings: Settings) -> None:
    """The section: the owner's form, then the chosen sweep, followed live while it runs."""
    st.subheader("Sweep")
    st.caption("A sweep trains many runs to find better settings: Optuna picks each trial's settings from how the "
               "earlier ones did, and stops a trial early when its validation accuracy falls behind. The first "
               "trial trains the default settings, to compare with. Every trial is an ordinary run in the table "
               "below.")
    launch.reap_drivers()
    database = sweep_database()
    if database is None:
        return
    url, storage = database
    owner = viewer_is_owner()
    try:
        sweeps = store.read_sweeps(storage) if storage is not None else []
    except sweep_database_errors() as error:
        sweeps_unreadable(error)
        return
    if owner:
        sweep_form(settings, url, busy=any(sweep.is_active for sweep in sweeps), picker_key=SWEEP_PICKER_KEY)
    else:
        st.caption("Only the owner of this deployment starts, cancels and promotes sweeps; everyone sees their "
                   "results.")
    show_notice(SWEEP_NOTICE_KEY)
    if not sweeps:
        st.caption("No sweeps yet.")
        return
    names = [sweep.name for sweep in sweeps]
    running = next((sweep.name for sweep in sweeps if sweep.is_active), None)
    if st.session_state.get(SWEEP_PICKER_KEY) not in names:
        st.session_state[SWEEP_PICKER_KEY] = running or names[0]
    name = st.selectbox("Sweep", names, key=SWEEP_PICKER_KEY,
                        format_func=lambda shown: f"{shown} (running)" if shown == running else shown)
    is_active = name == running
    st.fragment(_sweep_panel, run_every=LIVE_REFRESH_SECONDS * 2 if is_active else None)(name, url, is_active, owner,
                                                                                       settings)


def _sweep_panel(name: str, url: str, polling: bool, owner: bool, settings: Settings) -> None:
    storage = cached_storage(url)
    try:
        results = sweep_results(storage, name)
    except ValueError:
        st.caption(f"Sweep {name} is gone.")
        return
    except sweep_database_errors() as error:
        sweeps_unreadable(error)
        return
    sweep = results.sweep
    if polling and not sweep.is_active:
        st.rerun(scope="app")  # it has just ended: redraw the page (the runs table too) and stop polling
    _status_line(results)
    if owner:
        _owner_controls(results, url, settings)
    if not results.trials:
        st.caption("The first trials are starting…")
        return
    st.dataframe(trials_table(results), hide_index=True, column_config=TABLE_COLUMNS, key=f"sweep-trials-{name}")
    best = results.best
    if best is not None:
        (st.success if results.beat_default else st.info)(results.verdict())
    _figures(results, url)
    if best is not None:
        _promote_best(results)


def _status_line(results: SweepResults) -> None:
    sweep, spec = results.sweep, results.sweep.spec
    done = len(store.counted(results.trials))
    going = sum(1 for trial in results.trials if trial.state.name == "RUNNING")
    where = f"on the Dask cluster at {spec.dask}" if spec.dask else "on this machine"
    st.caption(f"**{sweep.state}** · {done} of {spec.trials} trials done"
               + (f" · {going} training" if going else "") + f" · {spec.parallel} at a time {where} · searching "
               + ", ".join(spec.params) + f" · {spec.base.arch}, {spec.base.epochs} epochs, "
               + f"{spec.base.limit or 60_000:,} images")
    if sweep.state == "failed" and sweep.ended:
        st.error(sweep.ended.get("message") or "The sweep's driver failed.")
        tail = launch.driver_log_tail(sweep.name)
        if tail:
            st.code(tail, language=None)
    elif sweep.state == "interrupted":
        st.warning("The sweep's driver is gone (the server restarted, or it was killed). Its trials so far are "
                   "kept; resume it to run the rest.")


def _owner_controls(results: SweepResults, url: str, settings: Settings) -> None:
    sweep = results.sweep
    if sweep.state in ("running", "starting"):
        st.button("Cancel sweep", key=f"sweep-cancel-{sweep.name}", on_click=_cancel, args=(sweep.name, url),
                  help="Kills the trials now training; those that finished are kept.")
    elif sweep.state == "cancelling":
        st.caption("Cancelling: its trials are being stopped…")
        if time.time() - (sweep.cancel_requested or time.time()) > KILL_AFTER_SECONDS:
            st.button("Kill the sweep's driver", key=f"sweep-kill-{sweep.name}", on_click=_kill, args=(sweep.name, url))
    elif sweep.state in ("interrupted", "cancelled") and len(store.counted(results.trials)) < sweep.spec.trials:
        st.button("Resume sweep", key=f"sweep-resume-{sweep.name}", on_click=_resume, args=(sweep.name, url, settings),
                  help="Runs the trials it is missing; its trial numbers go on.")


def _figures(results: SweepResults, url: str) -> None:
    finished = tuple(trial.number for trial in results.trials if trial.state.is_finished())
    if not results.complete:
        return
    history, parallel, importance = sweep_figures(url, results.sweep.name, finished)
    history_tab, parallel_tab, importance_tab = st.tabs(["Optimisation history", "Parallel coordinates",
                                                         "Parameter importances"])
    chart = {"config": {"displayModeBar": False}}
    history_tab.plotly_chart(history, key=f"sweep-history-{results.sweep.name}", **chart)
    parallel_tab.plotly_chart(parallel, key=f"sweep-parallel-{results.sweep.name}", **chart)
    if importance is None:
        importance_tab.caption("Parameter importances appear once at least four trials have finished with "
                               "different accuracies.")
    else:
        importance_tab.plotly_chart(importance, key=f"sweep-importance-{results.sweep.name}", **chart)


@st.cache_data(show_spinner=False, max_entries=16)
def sweep_figures(url: str, name: str, finished: tuple[int, ...]):
    """The sweep's three figures, drawn again only when another trial has finished (the importances fit a forest)."""
    import optuna

    study = optuna.load_study(study_name=name, storage=cached_storage(url))
    complete = sum(1 for trial in study.trials if trial.state == optuna.trial.TrialState.COMPLETE)
    return history_figure(study), parallel_figure(study), importance_figure(study, complete)


def _promote_best(results: SweepResults) -> None:
    best = results.best
    run = results.run_of(best)
    if run is None or not run.has_model:
        return
    if not viewer_is_owner():
        st.caption(f"The best trial's model is run {run.name}. {OWNER_ONLY_NOTE}")
        return
    default_key = f"sweep-promote-default-{results.sweep.name}"
    left, right = st.columns([1, 2])
    left.button("Promote the best trial", key=f"sweep-promote-{results.sweep.name}", type="primary",
                on_click=_promote, args=(run.dir, default_key),
                help=f"Copies trial #{best.number}'s model (run {run.name}) into models/ under the run's name.")
    right.checkbox("Make it the default for everyone", value=False, key=default_key)


def _promote(run_dir, default_key: str) -> None:
    from digitlab.store.registry import ModelExistsError, ModelLoadError, promote_run

    if not viewer_is_owner():  # checked again: the button may be from before a sign-out
        st.session_state[SWEEP_NOTICE_KEY] = ("error", OWNER_ONLY_NOTE)
        return
    make_default = bool(st.session_state.get(default_key, False))
    try:
        entry = promote_run(run_dir, make_active=make_default)
    except ModelExistsError:
        st.session_state[SWEEP_NOTICE_KEY] = ("info", f"Run {run_dir.name}'s model is already in models/.")
        return
    except (ModelLoadError, ValueError, OSError) as error:
        st.session_state[SWEEP_NOTICE_KEY] = ("error", f"The model was not promoted: {error}")
        return
    where = "the default model for everyone" if make_default else "in models/"
    st.session_state[SWEEP_NOTICE_KEY] = ("success", f"Model **{entry.name}** is now {where}.")


def _cancel(name: str, url: str) -> None:
    if viewer_is_owner():
        launch.cancel_sweep(cached_storage(url), name)


def _kill(name: str, url: str) -> None:
    if viewer_is_owner():
        launch.kill_driver(cached_storage(url), name)


def _resume(name: str, url: str, settings: Settings) -> None:
    if not viewer_is_owner():
        return
    try:
        launch.resume_sweep(cached_storage(url), url, name, settings)
    except (ValueError, RuntimeError, OSError) as error:  # TrainingBusyError is a RuntimeError
        st.session_state[SWEEP_NOTICE_KEY] = ("warning", f"The sweep was not resumed: {error}")
