"""Training jobs: start, stop and delete runs, each a `python -m digitlab train --run-dir` process.

The app never trains in its own process. start_run writes the run's config into a new run folder
(digitlab.store.run_folder), then launches a fresh interpreter in its own session that trains from that folder, so
the run outlives the script run (and a restart of the page) that started it; everything the page shows
comes from the run folder, which is why a reload, a second tab and another visitor all see the same run.

A run whose trainer has not yet written status.json is "starting", and one whose process died without
saying so is marked "failed" by refresh_run, never left "running" forever.

One run at a time on the whole deployment: a lock file under the runs root, created with O_CREAT |
O_EXCL, names the run that holds it and its pid. A lock whose process is gone or whose run has finished
is stale and is cleared. On top of that each visitor may start only so many runs an hour.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

from digitlab.store import run_folder as runs
from digitlab.store.atomic import write_json_atomic
from digitlab.config.paths import REPO_ROOT, runs_root
from digitlab.store.run_folder import ACTIVE_STATES, FINISHED_STATES, BankDrawings, JobRecord, Run, TrainConfig, read_run
from digitlab.config.settings import Settings, load_settings

LOCK_FILE = ".training.lock"
LOCAL_USER = "local"
LOCK_BIRTH_SECONDS = 10.0  # a lock this young may still be being written: unreadable is not yet stale
HOUR = 3600.0

__all__ = ["ACTIVE_STATES", "FINISHED_STATES", "RunActiveError", "TrainingBusyError", "active_run", "delete_run",
           "force_stop", "refresh_run", "refresh_runs", "request_stop", "start_run"]


class TrainingBusyError(RuntimeError):
    """Another run holds the training lock; .run_name says which."""

    def __init__(self, run_name: str | None):
        self.run_name = run_name
        where = f"run {run_name}" if run_name else "another run"
        super().__init__(f"A training run is already going ({where}). "
                         "Stop it or wait for it to finish, then start again.")


class RunActiveError(RuntimeError):
    """The action needs a run that is not running (delete) or one that is (stop)."""


class RunQuotaError(RuntimeError):
    """This visitor has started as many runs as the deployment allows for now; the message says when to retry."""


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
        reaped, wait_status = os.waitpid(pid, os.WNOHANG)
        if reaped == pid:
            _EXIT_CODES[pid] = os.waitstatus_to_exitcode(wait_status)
            return False
    except ChildProcessError:
        pass  # not our child: another instance of the app, or an earlier server, launched it
    except OSError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may itself contain spaces.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def is_training_process(pid: int | None) -> bool:
    """Whether pid is a live DigitLab trainer (not a later process that reused the pid)."""
    if not pid:
        return False
    # Read the command line first and reap after: a process being killed loses its command line before
    # it becomes a zombie, and pid_alive must then get the chance to reap it and record how it ended.
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        command = None  # gone, or no /proc to check against
    if not pid_alive(pid):
        return False
    return not command or b"digitlab" in command  # empty: still exiting; ask again on the next refresh


def describe_exit(pid: int | None) -> str:
    code = _EXIT_CODES.get(pid) if pid else None
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
    if pid is None or is_training_process(pid):
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


# --- the one-run-at-a-time lock --------------------------------------------------------------------------


def _lock_path(root: Path) -> Path:
    return root / LOCK_FILE


def _read_lock(root: Path) -> dict | None:
    """The lock's contents; {} when it exists but is unreadable; None when there is no lock."""
    try:
        text = _lock_path(root).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _lock_is_held(root: Path, lock: dict) -> bool:
    """Whether the lock belongs to a live process whose run has not finished."""
    pid = lock.get("pid")
    if not isinstance(pid, int):
        try:
            age = time.time() - _lock_path(root).stat().st_mtime
        except OSError:
            return False
        return age < LOCK_BIRTH_SECONDS
    alive = pid_alive(pid)
    if not lock.get("run"):
        return alive  # the launcher is between taking the lock and starting the trainer
    run = refresh_run(read_run(root / lock["run"]))  # a run that died is marked failed on the way
    return alive and run.state not in FINISHED_STATES


def active_run(root: Path | None = None) -> Run | None:
    """The run holding the training lock, or None (clearing a stale lock on the way)."""
    root = root or runs_root()
    lock = _read_lock(root)
    if lock is None:
        return None
    if _lock_is_held(root, lock):
        return read_run(root / lock["run"]) if lock.get("run") else None
    with _START_LOCK:
        _clear_stale_lock(root, lock)
    return None


def _clear_stale_lock(root: Path, seen: dict) -> None:
    # Remove only the lock we judged stale: if it changed meanwhile, a new run has taken it.
    if _read_lock(root) == seen:
        _lock_path(root).unlink(missing_ok=True)


def _take_lock(root: Path) -> None:
    """Create the lock atomically or raise TrainingBusyError naming the run that holds it."""
    for _ in range(3):
        try:
            descriptor = os.open(_lock_path(root), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            lock = _read_lock(root)
            if lock is not None and _lock_is_held(root, lock):
                raise TrainingBusyError(lock.get("run")) from None
            if lock is not None:
                _clear_stale_lock(root, lock)
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            json.dump({"pid": os.getpid(), "run": None, "taken_at": time.time()}, file)
        return
    raise TrainingBusyError(None)


# --- actions ---------------------------------------------------------------------------------------------


def runs_started_recently(started_by: str, root: Path | None = None, within: float = HOUR) -> list[Run]:
    """The runs this visitor started in the last `within` seconds, newest first."""
    since = time.time() - within
    return [run for run in runs.list_runs(root)
            if run.job is not None and run.started_by == started_by and (run.job.launched_at or 0) >= since]


def quota_refusal(settings: Settings, started_by: str, root: Path | None = None) -> str | None:
    """Why this visitor may not start another run now, or None (the local user and owners have no quota)."""
    if started_by == LOCAL_USER:
        return None
    recent = runs_started_recently(started_by, root)
    if len(recent) >= settings.max_runs_per_hour:
        oldest = min(run.job.launched_at or time.time() for run in recent)
        wait_minutes = max(1, int((oldest + HOUR - time.time()) // 60) + 1)
        return (f"You have started {len(recent)} runs in the last hour; this deployment allows "
                f"{settings.max_runs_per_hour} per visitor. You can start another in about {wait_minutes} min.")
    return None


def start_run(config: TrainConfig, settings: Settings | None = None, root: Path | None = None,
              started_by: str = LOCAL_USER, bank: BankDrawings | None = None) -> Run:
    """Write config (and the bank snapshot it trains on) into a new run folder and launch its trainer.

    Returns the starting run.

    started_by names who asked (a visitor's id, or "local"); visitors are held to the per-hour quota.
    Raises ValueError (bad config, or one this deployment does not allow), RunQuotaError or
    TrainingBusyError.
    """
    settings = settings or load_settings()
    config = replace(config, threads=settings.train_threads)  # the deployment decides what training may use
    config.validate()
    refusal = settings.refusal(config.epochs, config.limit)
    if refusal:
        raise ValueError(refusal)
    root = root or runs_root()
    root.mkdir(parents=True, exist_ok=True)
    with _START_LOCK:
        quota = quota_refusal(settings, started_by, root)
        if quota:
            raise RunQuotaError(quota)
        _take_lock(root)
        run_dir = None
        try:
            run_dir = runs.create_run(config, root, bank=bank)
            command = runs.trainer_command(run_dir)
            process = _launch(command, run_dir, config.threads)
        except BaseException:
            _lock_path(root).unlink(missing_ok=True)
            if run_dir is not None:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        _CHILDREN[process.pid] = process
        runs.write_job(run_dir, JobRecord(pid=process.pid, command=command, launched_at=time.time(),
                                          started_by=started_by))
        _write_lock(root, {"pid": process.pid, "run": run_dir.name, "taken_at": time.time()})
    return read_run(run_dir)


def _write_lock(root: Path, lock: dict) -> None:
    write_json_atomic(_lock_path(root), lock)


def _launch(command: list[str], run_dir: Path, threads: int | None) -> subprocess.Popen:
    # A fresh interpreter in a session of its own: it keeps running when the script run that started it
    # ends, and a Ctrl-C in the server's terminal does not reach it.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    if threads:  # also set before TensorFlow starts, for thread pools it sizes at import
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1")
    with runs.open_log(run_dir) as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    try:
        os.setpriority(os.PRIO_PROCESS, process.pid, 10)  # below the server, so drawing stays quick
    except (AttributeError, OSError):
        pass
    return process


def request_stop(run: Run) -> None:
    """Ask a run to stop: the trainer finishes its current batch and keeps the last completed epoch."""
    run = refresh_run(read_run(run.dir))
    if not run.is_active:
        raise RunActiveError(f"Run {run.name} is not running ({run.state}).")
    runs.request_stop(run.dir)


def force_stop(run: Run) -> Run:
    """Kill a run that did not answer Stop; it is then shown as failed."""
    run = refresh_run(read_run(run.dir))
    if run.is_active and is_training_process(run.pid):
        runs.request_stop(run.dir)
        try:
            os.killpg(run.pid, signal.SIGKILL)  # the trainer leads its own session, so its group is its own
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.time() + 5
        while time.time() < deadline and pid_alive(run.pid):
            time.sleep(0.1)
    return refresh_run(read_run(run.dir))


def delete_run(run: Run) -> None:
    """Delete a run folder; refused for a run that is still going."""
    run = refresh_run(read_run(run.dir))
    if run.is_active:
        raise RunActiveError(f"Run {run.name} is still {run.state}: stop it before deleting it.")
    runs.delete_run_folder(run.dir)
