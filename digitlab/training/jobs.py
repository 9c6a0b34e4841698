"""Training jobs: start, stop and delete runs, each a `python -m digitlab train --run-dir` process.

The app never trains in its own process. start_run writes the run's config into a new run folder
(digitlab.store.run_folder), then launches a fresh interpreter in its own session that trains from that folder, so
the run outlives the script run (and a restart of the page) that started it; everything the page shows
comes from the run folder, which is why a reload, a second tab and another visitor all see the same run.

A run whose trainer has not yet written status.json is "starting", and one whose process died without
saying so is marked "failed" by refresh_run, never left "running" forever. A trainer is known by its pid
and the time its process was created (job.json), so a later process that reuses the pid is not taken for it.

One run at a time on the whole deployment: the trainer holds an OS file lock for its run's life
(digitlab.training.run_lock says how it is handed over). On top of that each visitor may start only so many runs
an hour, and a run whose estimated memory exceeds the deployment's budget is refused before it starts
(digitlab.training.memory_budget). Stop, force-stop and delete are for the owner and for the visitor who
started the run (digitlab.training.visitors, which also says why job.json names no visitor).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil

from digitlab.store import run_folder as runs
from digitlab.config.paths import REPO_ROOT, runs_root
from digitlab.store.run_folder import Run, read_run
from digitlab.store.run_config import TrainConfig
from digitlab.bank.snapshot import BankDrawings
from digitlab.config.settings import Settings, load_settings
from digitlab.training.run_lock import HeldLock, TrainingBusyError, holder, take_training_lock
from digitlab.store.run_records import JobRecord
from digitlab.store.run_records import ACTIVE_STATES, FINISHED_STATES
from digitlab.training.memory_budget import estimate_run_memory
from digitlab.training.visitors import (LOCAL_USER, NotYourRunError, Requester, browser_token, check_may_control,
                                        quota_refusal, visitor_token)

# Seconds two readings of one process's create time may differ: psutil adds the boot time, a whole second that
# shifts when the clock is set. A process that reused the pid started long after the trainer did.
CREATE_TIME_TOLERANCE = 2.0

__all__ = ["ACTIVE_STATES", "FINISHED_STATES", "LOCAL_USER", "NotYourRunError", "Requester", "RunActiveError",
           "RunMemoryError", "RunQuotaError", "TrainingBusyError", "active_run", "delete_run", "force_stop",
           "refresh_run", "refresh_runs", "request_stop", "start_run"]


class RunActiveError(RuntimeError):
    """The action needs a run that is not running (delete) or one that is (stop)."""


class RunQuotaError(RuntimeError):
    """This visitor has started as many runs as the deployment allows for now; the message says when to retry."""


class RunMemoryError(ValueError):
    """The run would need more memory than the deployment's budget; the message says how much and what to cut."""


# --- processes -------------------------------------------------------------------------------------------

# Popen objects of the runs this server launched, so their exit codes can be read and they can be reaped.
_CHILDREN: dict[int, subprocess.Popen] = {}
# Exit statuses of children reaped here, kept to explain a failure after the pid is gone.
_EXIT_CODES: dict[int, int] = {}
_START_LOCK = threading.Lock()  # Streamlit serves every session from threads of one process


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid is still running (a zombie is not: it has ended)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        code = child.poll()  # reaps our own child, which would otherwise linger as a zombie
        if code is None:
            return True
        _EXIT_CODES[pid] = code
        _CHILDREN.pop(pid, None)
        return False
    try:
        process = psutil.Process(pid)
        if process.status() != psutil.STATUS_ZOMBIE:
            return True
        if process.ppid() == os.getpid():  # our child whose Popen was lost (a module reload): reap it here
            code = process.wait(timeout=0)
            if code is not None:  # None: another waiter reaped it first
                _EXIT_CODES[pid] = int(code)
    except (psutil.NoSuchProcess, psutil.TimeoutExpired):  # gone, or reaped elsewhere meanwhile
        pass
    except psutil.AccessDenied:
        return True  # it exists, owned by someone else
    return False


def process_create_time(pid: int) -> float | None:
    """When the process with this pid was created (epoch seconds), or None when there is none."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def trainer_is_running(run: Run) -> bool:
    """Whether the run's trainer is alive: its pid, created when job.json says, running DigitLab."""
    pid = run.pid
    if not pid:
        return False
    recorded = run.job.create_time if run.job is not None and run.job.pid == pid else None
    try:
        process = psutil.Process(pid)
        if recorded is not None and abs(process.create_time() - recorded) > CREATE_TIME_TOLERANCE:
            return False  # another process got the pid after the trainer ended
        # Read the command line before pid_alive reaps: a process being killed loses its command line before
        # it becomes a zombie, and pid_alive must then get the chance to reap it and record how it ended.
        command = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        command = []  # gone, a zombie (pid_alive reaps it if it is ours) or not ours to read
    if not pid_alive(pid):
        return False
    return not command or any("digitlab" in part for part in command)  # empty: still exiting; ask again later


def describe_exit(pid: int | None) -> str:
    return describe_exit_code(_EXIT_CODES.get(pid) if pid else None)


def describe_exit_code(code: int | None) -> str:
    """How a trainer that wrote no final status ended, from its exit status (None: not known)."""
    if code is None:
        return "The training process ended without finishing"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (out of memory, or killed by hand)" if -code == signal.SIGKILL else ""
        return f"The training process was killed by {name}{hint}"
    return f"The training process exited with code {code} before finishing"


def refresh_run(run: Run) -> Run:
    """The run as it really is: one whose process is gone but whose status says running is marked failed."""
    if not run.is_active:
        return run
    pid = run.pid
    if pid is None or trainer_is_running(run):
        return run
    # The process is gone, so nothing else writes status.json now: re-read it, because the trainer may
    # have written its final status between our first read and its exit.
    latest = read_run(run.dir)
    if not latest.is_active:
        return latest
    now = time.time()
    stop_note = " after Stop was requested" if latest.stop_requested else ""
    runs.update_status(run.dir, state="failed", pid=pid, started_at=latest.started_at or None, finished_at=now,
                       elapsed=(now - latest.started_at) if latest.started_at else None, eta=None,
                       message=f"{describe_exit(pid)}{stop_note}. The end of its log is shown below.")
    return read_run(run.dir)


def refresh_runs(root: Path | None = None) -> list[Run]:
    """Every run, newest first, with dead 'running' runs marked failed."""
    return [refresh_run(run) for run in runs.list_runs(root)]


def active_run(root: Path | None = None) -> Run | None:
    """The run whose trainer holds the training lock, or None."""
    root = root or runs_root()
    name = holder(root)
    if not name:
        return None  # free, or a start that has not named its run yet
    run = read_run(root / name)
    return run if run.is_active else None  # a trainer that has just written its final status is leaving


# --- actions ---------------------------------------------------------------------------------------------


def start_run(config: TrainConfig, settings: Settings | None = None, root: Path | None = None,
              started_by: str = LOCAL_USER, bank: BankDrawings | None = None, started_in: str | None = None) -> Run:
    """Write config (and the bank snapshot it trains on) into a new run folder and launch its trainer.

    Returns the starting run.

    started_by names who asked (the viewer's id, or "local"), started_in the browser's secret where it sent
    one; visitors are held to the per-hour quota, and job.json records only tokens (training.visitors).
    Raises ValueError (bad config, or one this deployment does not allow), RunMemoryError (over the memory
    budget), RunQuotaError or TrainingBusyError.
    """
    settings = settings or load_settings()
    config = replace(config, threads=settings.train_threads)  # the deployment decides what training may use
    config.validate()
    refusal = settings.refusal(config.epochs, config.limit)
    if refusal:
        raise ValueError(refusal)
    memory = estimate_run_memory(config, bank_drawings=len(bank.train_y) if bank is not None else 0)
    refusal = memory.refusal(settings.train_memory_mb)
    if refusal:
        raise RunMemoryError(refusal)
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    with _START_LOCK:
        quota = quota_refusal(settings, started_by, root)
        if quota:
            raise RunQuotaError(quota)
        # Leaving this block closes our copy of the lock: from then on the trainer alone holds it.
        with take_training_lock(root) as lock:
            run_dir = None
            try:
                run_dir = runs.create_run(config, root, bank=bank)
                lock.name_holder(run_dir.name)
                command = trainer_command(run_dir)
                process = _launch(command, run_dir, config.threads, lock)
            except BaseException:
                if run_dir is not None:
                    shutil.rmtree(run_dir, ignore_errors=True)
                raise
            _CHILDREN[process.pid] = process
            runs.write_job(run_dir, JobRecord(pid=process.pid, command=command, launched_at=time.time(),
                                              started_by=visitor_token(started_by, root),
                                              started_in=browser_token(started_in, root),
                                              create_time=process_create_time(process.pid)))
    return read_run(run_dir)


def _launch(command: list[str], run_dir: Path, threads: int | None, lock: HeldLock) -> subprocess.Popen:
    # A fresh interpreter in a session of its own: it keeps running when the script run that started it
    # ends, and a Ctrl-C in the server's terminal does not reach it. It inherits the training lock.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    if threads:  # also set before TensorFlow starts, for thread pools it sizes at import
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1")
    with runs.open_log(run_dir) as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=lock.child_environment(env), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                   pass_fds=(lock.fd,))
    yield_to_the_page(process.pid)
    return process


TRAINER_NICENESS = 19  # the lowest CPU priority: a stroke on the Draw page always comes before a training step


def yield_to_the_page(pid: int) -> None:
    """Run a trainer at the lowest CPU priority, so the server and the browsers of people drawing come first.
    Set before it starts TensorFlow's threads: on Linux a priority is per thread, inherited by new threads."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, TRAINER_NICENESS)
    except (AttributeError, OSError):
        pass  # no priorities here (Windows), or the trainer already exited: nothing to yield


def trainer_command(run_dir: Path) -> list[str]:
    """The process that trains a run folder from its config.json."""
    return [sys.executable, "-m", "digitlab", "train", "--run-dir", str(run_dir)]


def request_stop(run: Run, requester: Requester) -> None:
    """Ask a run to stop: the trainer finishes its current batch and keeps the last completed epoch.

    Only the owner and the visitor who started the run may: NotYourRunError otherwise.
    """
    run = refresh_run(read_run(run.dir))
    check_may_control(run, requester, "stop")
    if not run.is_active:
        raise RunActiveError(f"Run {run.name} is not running ({run.state}).")
    runs.request_stop(run.dir)


def force_stop(run: Run, requester: Requester) -> Run:
    """Kill a run that did not answer Stop; it is then shown as failed. The owner's and the starter's only."""
    run = refresh_run(read_run(run.dir))
    check_may_control(run, requester, "force-stop")
    if run.is_active and trainer_is_running(run):
        runs.request_stop(run.dir)
        try:
            os.killpg(run.pid, signal.SIGKILL)  # the trainer leads its own session, so its group is its own
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.time() + 5
        while time.time() < deadline and pid_alive(run.pid):
            time.sleep(0.1)
    return refresh_run(read_run(run.dir))


def delete_run(run: Run, requester: Requester) -> None:
    """Delete a run folder; refused for a run that is still going, and for anyone but the owner and its starter."""
    run = refresh_run(read_run(run.dir))
    check_may_control(run, requester, "delete")
    if run.is_active:
        raise RunActiveError(f"Run {run.name} is still {run.state}: stop it before deleting it.")
    runs.delete_run_folder(run.dir)
