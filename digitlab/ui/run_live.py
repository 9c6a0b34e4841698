"""One run on the Train page: its status, metrics and curves, followed live while it trains.

Everything shown comes from run folders (digitlab.store.run_folder), never from this session's memory, so a reload,
a second tab or another visitor sees the same run. The live view is a fragment that refreshes itself
every second while a run is active and not at all otherwise.
"""

from __future__ import annotations

import math
import time

import streamlit as st

from digitlab.store import run_folder as runs
from digitlab.store.run_folder import Run
from digitlab.training import jobs
from digitlab.training.visitors import Requester, may_control
from digitlab.ui import access
from digitlab.ui.bank_fine_tune import comparison_table
from digitlab.ui.figures.training import training_curves_figure
from digitlab.ui.formatting import describe_run_settings, format_duration, percent
from digitlab.ui.train_page_state import LIVE_REFRESH_SECONDS, WATCHED_RUN_KEY
from digitlab.store.run_history import read_history

FORCE_STOP_AFTER_SECONDS = 30.0  # a run still going this long after Stop may be stuck: offer to kill it
STOP_NOT_YOURS = "Only the visitor who started this run, or the owner, can stop it."


def viewer_requester() -> Requester:
    """Who this session is when it asks to stop or delete a run (jobs checks it again)."""
    return Requester(access.viewer_id(), access.viewer_is_owner(), access.browser_key())


def viewer_may_control(run: Run, requester: Requester | None = None) -> bool:
    """Whether this session (requester, else asked now) may stop, force-stop or delete the run: the owner, or the
    visitor who started it."""
    return may_control(run.started_by, requester or viewer_requester(), run.dir.parent, run.started_in)


def watch(run: Run) -> None:
    """Follow a run that was just started in the live view."""
    st.session_state[WATCHED_RUN_KEY] = run.name
    st.rerun()  # redraw the page with the live view polling


def live_run_panel(active: Run | None) -> None:
    """The active run, or else the last run this session saw active, in a fragment that polls while it runs."""
    if active is not None:
        st.session_state[WATCHED_RUN_KEY] = active.name  # so its outcome stays in view when it ends
    name = st.session_state.get(WATCHED_RUN_KEY)
    if not name or runs.find_run(name) is None:
        return
    is_active = active is not None
    # run_every is fixed each full script run: one-second polling while a run is active, none when idle.
    live = st.fragment(_live_run, run_every=LIVE_REFRESH_SECONDS if is_active else None)
    live(name, is_active)


def _live_run(run_name: str, polling: bool) -> None:
    run = runs.find_run(run_name)
    if run is None:
        return  # deleted meanwhile
    run = jobs.refresh_run(run)
    if polling and not run.is_active:
        st.rerun(scope="app")  # it has just finished: redraw the whole page (runs table included), stop polling
    st.subheader(f"Run {run.title}")
    run_status(run, can_stop=run.is_active and viewer_may_control(run))
    run_curves(run, key=f"curves-{run.name}")


def run_curves(run: Run, key: str, title: str | None = None) -> None:
    """A run's loss and accuracy curves, with why the loss cannot reach zero under label smoothing."""
    history = read_history(run.dir)
    if len(history):
        st.plotly_chart(training_curves_figure(history, run.status.batches_per_epoch, **({"title": title} if title else {})),
                        config={"displayModeBar": False}, key=key)
        smoothing = run.config.label_smoothing if run.config else 0.0
        if smoothing > 0:
            st.caption(f"Why the loss stays above {smoothing_loss_floor(smoothing):.2f}: the run trains with label "
                       f"smoothing {smoothing:g}, so each target is {1 - smoothing + smoothing / 10:.1%} sure of its "
                       "digit rather than 100%, which keeps the model's confidence honest on odd drawings. A model "
                       "that matched every target exactly would still score that loss.")
    elif run.is_active:
        st.caption("The curves appear after the first batches.")


def smoothing_loss_floor(smoothing: float, classes: int = 10) -> float:
    """The lowest cross-entropy a model can reach on label-smoothed targets: their own entropy."""
    sure, spread = 1 - smoothing + smoothing / classes, smoothing / classes
    return -(sure * math.log(sure) + (classes - 1) * spread * math.log(spread))


def run_status(run: Run, can_stop: bool = False) -> None:
    """Progress and Stop while a run is going; its metrics, and why it ended if not done, afterwards."""
    status = run.status
    st.caption(f"{run.config.arch if run.config else '?'} · {describe_run_settings(run.config)} · {run.state}")
    if run.config and run.config.notes:
        st.caption(f"Notes: {run.config.notes}")
    epochs = run.config.epochs if run.config else "?"
    if run.is_active:
        batches = status.batches_per_epoch
        where = (f"Epoch {status.epoch or 1} of {epochs}" + (f" · batch {status.batch} of {batches}" if batches else ""))
        message = status.message or "Starting"
        st.progress(min(max(float(status.progress or 0.0), 0.0), 1.0),
                    text=f"{where} · {message}" if message != "Training" else where)
        columns = st.columns(4)
        columns[0].metric("Elapsed", format_duration(run.duration))
        columns[1].metric("Time left", format_duration(status.eta),  # "–" fits a narrow column ("estimating…" did not)
                          help="Shown once enough batches have run for the pace to be known.")
        columns[2].metric("Best validation accuracy", percent(status.best_val_accuracy))
        with columns[3]:
            if can_stop:
                _stop_controls(run)
            else:
                st.caption(STOP_NOT_YOURS)
        return
    columns = st.columns(4)
    columns[0].metric("Test accuracy", percent(status.test_accuracy))
    columns[1].metric("Best validation accuracy", percent(status.best_val_accuracy))
    columns[2].metric("Epochs completed", f"{status.completed_epochs} of {epochs}")
    columns[3].metric("Duration", format_duration(run.duration))
    if status.peak_memory_mb:  # what a deployer sizes DIGITLAB_TRAIN_MEMORY_MB by
        estimated = (f" (estimated {status.memory_estimate_mb:,.0f} MB before it started)"
                     if status.memory_estimate_mb else "")
        st.caption(f"Peak memory of its training process: {status.peak_memory_mb:,.0f} MB{estimated}.")
    if run.state == "done" and status.warning:
        st.warning(f"Finished, with a warning. {status.warning}")
    elif run.state == "done":
        st.success(f"Finished. Test accuracy on the 10,000 MNIST test images: {percent(status.test_accuracy)}.")
    elif run.state == "stopped":
        st.warning(status.message or "Stopped.")
    elif run.state == "failed":
        failure_report(run)
    elif run.config_problem:
        st.error(f"This run folder cannot be read: {run.config_problem}.")
    comparison_table(run)


def failure_report(run: Run) -> None:
    """Why a run failed in one line; for the owner, where its full log is and its end (a traceback) folded away.

    A visitor gets the cause alone: the log's traceback and the path name the server's folders."""
    cause = one_line(run.status.message) or "It recorded no cause."
    st.error(f"The run failed. {cause}")
    if not access.viewer_is_owner():
        return
    st.caption(f"Its full log: {run.dir / runs.LOG_FILE}")
    tail = run.log_tail(20)
    if tail:
        with st.expander("The end of its log", expanded=False):
            st.code(tail, language=None)


def one_line(message: str | None, limit: int = 200) -> str:
    """A status message as one line of at most limit characters (an exception's text may run over many)."""
    text = " ".join((message or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _stop_controls(run: Run) -> None:
    if not run.stop_requested:
        if st.button("Stop", key=f"stop-{run.name}",
                     help="Ends after the current batch and keeps the model of the last completed epoch."):
            try:
                jobs.request_stop(run, viewer_requester())
            except (jobs.RunActiveError, jobs.NotYourRunError) as error:
                st.info(str(error))
        return
    st.caption("Stop requested: ending after the current batch…")
    asked = run.stop_requested_at or time.time()
    if time.time() - asked > FORCE_STOP_AFTER_SECONDS and st.button("Force stop", key=f"kill-{run.name}"):
        try:
            jobs.force_stop(run, viewer_requester())
        except jobs.NotYourRunError as error:
            st.info(str(error))
            return
        st.rerun()
