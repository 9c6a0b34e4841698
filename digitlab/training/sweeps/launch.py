"""Making a sweep, and starting and cancelling its driver from the app.

A sweep started from the Train page runs as a process of its own, `python -m digitlab sweep --study NAME`,
exactly as one resumed from a terminal: the page writes the study (its spec) first, then launches the
driver in a session of its own with the training lock handed over (as jobs.start_run hands it to a
trainer), so the sweep outlives the script run and the tab that started it. Everything the page shows comes
from the study and the run folders, so every tab and every visitor sees the same sweep.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

from digitlab.config.database import DATABASE_URL_VAR
from digitlab.config.paths import REPO_ROOT, runs_root
from digitlab.config.settings import TRAIN_MEMORY_MB_VAR, Settings
from digitlab.training.memory_budget import estimate_run_memory
from digitlab.training.run_lock import take_training_lock
from digitlab.training.sweeps import study_store as store
from digitlab.training.sweeps.driver import holder_name
from digitlab.training.sweeps.search_space import heaviest_configs, highest, parse_space
from digitlab.training.sweeps.study_store import SweepSpec

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,59}")
MAX_TRIALS = 500
SWEEP_LOGS = ".sweeps"  # under the runs folder (a dot name: never listed as a run): each driver's output
_START_LOCK = threading.Lock()  # Streamlit serves every session from threads of one process
_LAUNCHED: dict[int, subprocess.Popen] = {}  # drivers this server started, so they can be reaped
DRIVER_MB = 200  # a sweep's driver, no TensorFlow: 159 MB measured driving local trials, 113 MB on Dask (rounded up)


def check_trials(trials: int) -> None:
    """Raise ValueError unless a sweep, new or resumed, may run this many trials."""
    if not 1 <= trials <= MAX_TRIALS:
        raise ValueError(f"A sweep runs between 1 and {MAX_TRIALS} trials.")


def check_new_sweep(name: str, spec: SweepSpec) -> None:
    """ValueError, saying what to change, when the name or the spec cannot make a sweep."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise ValueError("A sweep's name has 1 to 60 letters, digits, '.', '_' or '-', and starts with a letter "
                         "or digit.")
    check_trials(spec.trials)
    if spec.parallel < 1:
        raise ValueError("A sweep runs at least one trial at a time.")
    if spec.base.bank_weight or spec.base.init_from or spec.base.teacher:
        raise ValueError("A sweep trains from MNIST (with pen digits and non-digits if asked): tune fine-tuning on "
                         "the bank, starting weights and teachers with single runs.")
    parse_space(spec.params, spec.base)


def new_sweep(storage, name: str, spec: SweepSpec):
    """The study for a new sweep, checked; ValueError when it cannot be made."""
    check_new_sweep(name, spec)
    return store.create_sweep(storage, name, spec)


def deployment_refusal(spec: SweepSpec, settings: Settings, cores: int | None = None) -> str | None:
    """Why this deployment will not run the sweep from the page, or None."""
    space = parse_space(spec.params, spec.base)
    refusal = settings.refusal(highest(space, "epochs", spec.base.epochs), spec.base.limit)
    if refusal:
        return refusal
    cores = cores or os.cpu_count() or 1
    most = max(1, cores // max(1, settings.train_threads))
    if spec.dask is None and spec.parallel > most:
        return (f"This machine runs at most {most} trials at once ({cores} cores, {settings.train_threads} "
                f"thread{'s' if settings.train_threads > 1 else ''} each).")
    return None


def sweep_log_path(name: str, root: Path | None = None) -> Path:
    return (root or runs_root()) / SWEEP_LOGS / f"{name}.log"


def memory_refusal(spec: SweepSpec, settings: Settings) -> str | None:
    """Why the sweep's trials at once, with its driver, would not fit the memory this deployment gives training.

    Each trial is estimated as a single run is (digitlab.training.memory_budget), at the heaviest settings the
    space allows; a Dask sweep's trials use the workers' memory, so only its driver counts here.
    """
    worst = max(estimate_run_memory(config).total_mb for config in heaviest_configs(spec.base, parse_space(
        spec.params, spec.base)))
    trials_here = 0 if spec.dask else spec.parallel
    need = trials_here * worst + DRIVER_MB
    if need <= settings.train_memory_mb:
        return None
    return (f"This sweep would need about {need:,.0f} MB of memory ({trials_here} trial"
            f"{'s' if trials_here != 1 else ''} at once of up to {worst:,.0f} MB each, and {DRIVER_MB} MB for the "
            f"sweep itself); this deployment gives training {settings.train_memory_mb:,} MB ({TRAIN_MEMORY_MB_VAR}). "
            "Run fewer trials at once, search smaller batches, widths or architectures, or use a Dask cluster.")


def start_sweep(storage, url: str, name: str, spec: SweepSpec, settings: Settings, root: Path | None = None) -> None:
    """Create the sweep and launch its driver, once it is known to fit this deployment (ValueError saying why not);
    TrainingBusyError while a run or another sweep holds the training lock."""
    check_new_sweep(name, spec)
    _check_fits(spec, settings)
    _launch_driver(storage, url, name, root, create=spec)


def resume_sweep(storage, url: str, name: str, settings: Settings, root: Path | None = None) -> None:
    """Launch a new driver for a sweep whose driver is gone: its trial numbers go on from where they were."""
    state = store.read_sweep(storage, name)
    if state.is_active:
        raise ValueError(f"Sweep '{name}' is still running.")
    _check_fits(state.spec, settings)
    _launch_driver(storage, url, name, root)


def _check_fits(spec: SweepSpec, settings: Settings) -> None:
    refusal = deployment_refusal(spec, settings) or memory_refusal(spec, settings)
    if refusal:
        raise ValueError(refusal)


def _launch_driver(storage, url: str, name: str, root: Path | None, create: SweepSpec | None = None) -> None:
    """`python -m digitlab sweep --study NAME` in a session of its own, holding the training lock passed to it."""
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    with _START_LOCK, take_training_lock(root) as lock:
        study = store.create_sweep(storage, name, create) if create is not None else store.load_sweep(storage, name)[0]
        lock.name_holder(holder_name(name))
        log_path = sweep_log_path(name, root)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        # The driver opens the same database the page does, whether the page read it from the environment or secrets.
        env = lock.child_environment({**os.environ, DATABASE_URL_VAR: url, "PYTHONUNBUFFERED": "1",
                                      "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT),
                                                                                  os.environ.get("PYTHONPATH")]))})
        with open(log_path, "ab") as log:
            process = subprocess.Popen([sys.executable, "-m", "digitlab", "sweep", "--study", name], cwd=REPO_ROOT,
                                       env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, close_fds=True, pass_fds=(lock.fd,))
        _LAUNCHED[process.pid] = process
        study.set_user_attr(store.DRIVER_ATTR, store.driver_record(process.pid))


def cancel_sweep(storage, name: str) -> None:
    """Ask the sweep's driver to kill its trials and stop (it checks twice a second, wherever it runs)."""
    store.request_cancel(storage, name)


def kill_driver(storage, name: str) -> bool:
    """Kill a driver on this machine that did not answer Cancel; its local trials die with it. Whether one was."""
    state = store.read_sweep(storage, name)
    here = store.driver_record()["host"]
    if not state.driver or state.driver.get("host") != here or not store.driver_alive(state.driver, state.heartbeat):
        return False
    try:
        os.kill(int(state.driver["pid"]), signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    process = _LAUNCHED.pop(int(state.driver["pid"]), None)
    if process is not None:
        process.wait(timeout=10)
    store.mark_ended(storage, name, "cancelled", "Cancelled: its driver was killed.")
    return True


def reap_drivers() -> None:
    """Collect the exit status of drivers this server launched that have ended (no zombies left behind)."""
    for pid, process in list(_LAUNCHED.items()):
        if process.poll() is not None:
            del _LAUNCHED[pid]


def driver_log_tail(name: str, lines: int = 20, root: Path | None = None) -> str:
    try:
        return "\n".join(sweep_log_path(name, root).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""

