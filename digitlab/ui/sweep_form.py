"""The owner's form to start a sweep, and the database sweeps live in as the page opens it."""

from __future__ import annotations

import os
import time

import streamlit as st
from sqlalchemy.exc import SQLAlchemyError

from digitlab.config.secrets import ConfigurationError
from digitlab.config.settings import MNIST_TRAIN_IMAGES, Settings
from digitlab.store.run_config import ARCHITECTURE_NAMES, DEFAULT_ARCHITECTURE, TrainConfig
from digitlab.training.run_lock import TrainingBusyError
from digitlab.training.sweeps import launch
from digitlab.training.sweeps.defaults import DEFAULT_PARALLEL, DEFAULT_TRIALS
from digitlab.training.sweeps import study_store as store
from digitlab.training.sweeps.executors import configured_scheduler
from digitlab.training.sweeps.study_store import SweepSpec

FORM_KEYS = {"name": "sweep_name", "arch": "sweep_arch", "epochs": "sweep_epochs", "images": "sweep_images",
             "augment": "sweep_augment", "trials": "sweep_trials", "parallel": "sweep_parallel",
             "params": "sweep_params", "dask": "sweep_dask"}
DEFAULT_PARAMS = "lr=1e-4:3e-3:log\nwidth=16,32,48"
MOST_ON_DASK = 64  # trials at once on a cluster: its workers decide what runs, this only bounds the queue


@st.cache_resource(show_spinner=False)
def cached_storage(url: str):
    """Optuna's storage for the database at url, one per server process (an engine and its connection pool)."""
    return store.open_storage(url)


def sweep_database() -> tuple[str, object | None] | None:
    """(the database URL, its storage, or None while it holds no sweeps); None, with the reason shown, when the
    deployment's configuration is broken. Looking creates no tables: the first sweep does."""
    from digitlab.config.database import database_url
    from digitlab.ui.access import current_deployment

    try:
        url = database_url(deployment=current_deployment())
    except ConfigurationError as error:
        st.caption(f"Sweeps are off: {error}")
        return None
    try:
        return url, cached_storage(url) if store.has_sweeps(url) else None
    except sweep_database_errors() as error:  # unreachable: say so, keep the rest of the page
        sweeps_unreadable(error)
        return None


def sweep_database_errors() -> tuple[type[BaseException], ...]:
    """What the database's failures while reading sweeps can be: SQLAlchemy's, or Optuna's wrapping of them.

    A function, for `except sweep_database_errors()`: Python works it out only when something was raised, so
    a page that reads its sweeps fine never imports Optuna for it.
    """
    from optuna.exceptions import StorageInternalError

    return SQLAlchemyError, OSError, RuntimeError, StorageInternalError


def sweeps_unreadable(error: BaseException) -> None:
    """Say that the sweeps cannot be read just now, and why in words, instead of a traceback or a page that hangs."""
    if "statement timeout" in f"{error} {error.__cause__}":  # Optuna's error says only that a commit failed
        st.warning("The sweeps' database did not answer in time: another session may be holding its tables locked, "
                   "or a sweep's process is stuck. The rest of the page works; reload it in a moment.")
    else:
        st.warning(f"The sweeps' database cannot be read just now ({type(error).__name__}). The rest of the page "
                   "works; reload it in a moment.")


def sweep_form(settings: Settings, url: str, busy: bool, picker_key: str) -> None:
    """Start a sweep: its base recipe, the settings to search and how many trials; refused while one runs."""
    if not settings.training_enabled:
        return
    state = st.session_state
    state.setdefault(FORM_KEYS["name"], time.strftime("sweep-%Y%m%d-%H%M"))
    state.setdefault(FORM_KEYS["params"], DEFAULT_PARAMS)
    scheduler = _scheduler_or_none()
    state.setdefault(FORM_KEYS["dask"], scheduler or "")
    most_here = max(1, (os.cpu_count() or 1) // max(1, settings.train_threads))
    with st.expander("Start a sweep", expanded=False), st.form("sweep_form", enter_to_submit=False):
        left, middle, right = st.columns(3)
        left.text_input("Sweep name", key=FORM_KEYS["name"], max_chars=60)
        left.selectbox("Architecture", ARCHITECTURE_NAMES, index=ARCHITECTURE_NAMES.index(DEFAULT_ARCHITECTURE),
                       key=FORM_KEYS["arch"])
        left.toggle("Augmentation", value=False, key=FORM_KEYS["augment"])
        middle.number_input("Epochs per trial", 1, settings.max_epochs, value=min(2, settings.max_epochs),
                            key=FORM_KEYS["epochs"])
        fewest = min(1000, settings.max_train_images)
        middle.number_input("Training images", fewest, settings.max_train_images, step=1000,
                            value=min(10_000, settings.max_train_images), key=FORM_KEYS["images"])
        right.number_input("Trials", 1, launch.MAX_TRIALS, value=DEFAULT_TRIALS, key=FORM_KEYS["trials"])
        right.number_input("Trials at once", 1, MOST_ON_DASK, value=min(DEFAULT_PARALLEL, most_here),
                           key=FORM_KEYS["parallel"],
                           help=f"This machine runs at most {most_here} at once; a Dask cluster, as many as it has "
                                "workers for.")
        st.text_area("Settings to search, one a line", key=FORM_KEYS["params"], height=90,
                     help="name=low:high for a range (add :log for a log scale), name=a,b,c for choices. Searchable: "
                          "lr, width (digitnet), batch_size, epochs, label_smoothing, augment, seed, arch.")
        st.text_input("Dask scheduler (optional)", key=FORM_KEYS["dask"], placeholder="tcp://host:8786",
                      help="Run the trials on a Dask cluster's workers instead of this machine "
                           "(DIGITLAB_DASK_SCHEDULER sets the default).")
        submitted = st.form_submit_button("Start sweep", type="primary", disabled=busy)
    if busy:
        st.caption("A sweep is running: one at a time.")
    if submitted:
        _start(settings, url, picker_key)


def _scheduler_or_none() -> str | None:
    try:
        return configured_scheduler()
    except (ValueError, ConfigurationError):
        return None


def _start(settings: Settings, url: str, picker_key: str) -> None:
    state = st.session_state
    images = int(state[FORM_KEYS["images"]])
    dask = str(state.get(FORM_KEYS["dask"]) or "").strip() or None
    try:
        dask = configured_scheduler(dask) if dask else None
        base = TrainConfig(arch=state[FORM_KEYS["arch"]], epochs=int(state[FORM_KEYS["epochs"]]),
                           limit=None if images >= MNIST_TRAIN_IMAGES else images,
                           augment=bool(state[FORM_KEYS["augment"]]),
                           threads=None if dask else settings.train_threads)  # the deployment decides, here
        params = [line.strip() for line in str(state.get(FORM_KEYS["params"]) or "").splitlines() if line.strip()]
        spec = SweepSpec(base=base, params=params, trials=int(state[FORM_KEYS["trials"]]),
                         parallel=int(state[FORM_KEYS["parallel"]]), dask=dask)
        name = str(state[FORM_KEYS["name"]]).strip()
        launch.start_sweep(cached_storage(url), url, name, spec, settings)
    except TrainingBusyError as error:
        st.warning(str(error))
        return
    except (ValueError, OSError) as error:
        st.error(f"The sweep could not start: {error}")
        return
    state[picker_key] = name
    state.pop(FORM_KEYS["name"], None)  # the next sweep gets a fresh name
    st.rerun()
