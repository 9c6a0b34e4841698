"""Training jobs: start, stop, list and delete runs, each a `python -m digitlab train` process and a folder.

The app never trains in its own process. start_run launches a fresh interpreter in its own session, so
the run outlives the script run (and a restart of the page) that started it; everything the page shows
comes from the run folder (see digitlab.train), which is why a reload, a second tab and another visitor
all see the same live run.

Besides the trainer's files, a run folder holds job.json (the launched process's pid, command and
config), written here as soon as the process exists: a run whose trainer has not yet written
status.json is "starting", and one whose process died without saying so is marked "failed" by
refresh_run, never left "running" forever.

One run at a time: a lock file under the runs root, created with O_CREAT | O_EXCL, names the run that
holds it and its pid. A lock whose process is gone or whose run has finished is stale and is cleared.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from digitlab.atomic import read_json, write_json_atomic
from digitlab.settings import Settings, load_settings
from digitlab.train import (CONFIG_FILE, HISTORY_COLUMNS, HISTORY_FILE, LOG_FILE, MODEL_FILE, STATUS_FILE, STOP_FILE,
                            TrainConfig, command_line)

if TYPE_CHECKING:
    import pandas

REPO_ROOT = Path(__file__).resolve().parent.parent
RUNS_ENV_VAR = "DIGITLAB_RUNS"
LOCK_FILE = ".training.lock"
JOB_FILE = "job.json"
ACTIVE_STATES = ("starting", "running")
FINISHED_STATES = ("done", "stopped", "failed")
LOCK_BIRTH_SECONDS = 10.0  # a lock this young may still be being written: unreadable is not yet stale


class TrainingBusyError(RuntimeError):
    """Another run holds the training lock; .run_name says which."""

    def __init__(self, run_name: str | None):
        self.run_name = run_name
        where = f"run {run_name}" if run_name else "another run"
        super().__init__(f"A training run is already going ({where}). "
                         "Stop it or wait for it to finish, then start again.")


class RunActiveError(RuntimeError):
    """The action needs a run that is not running (delete) or one that is (stop)."""


def runs_root() -> Path:
    return Path(os.environ.get(RUNS_ENV_VAR) or REPO_ROOT / "runs")


@dataclass
class RunInfo:
    """What a run folder says about its run."""

    dir: Path
    status: dict = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    job: dict = field(default_factory=dict)  # job.json: how the app launched it (pid, command, config)

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def state(self) -> str:
        if self.status.get("state"):
            return self.status["state"]
        return "starting" if self.job else "unknown"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def pid(self) -> int | None:
        pid = self.status.get("pid") or self.job.get("pid")
        return int(pid) if isinstance(pid, (int, str)) and str(pid).isdigit() else None

    @property
    def model_path(self) -> Path:
        return self.dir / MODEL_FILE

    @property
    def train_config(self) -> dict:
        """The run's training config: config.json, or the config it was launched with."""
        return self.config or self.job.get("config") or {}

    @property
    def started_at(self) -> float:
        return self.status.get("started_at") or self.job.get("launched_at") or 0.0

    @property
    def duration(self) -> float | None:
        """Seconds it trained (so far, while active)."""
        if self.is_active and self.started_at:
            return max(0.0, time.time() - self.started_at)
        return self.status.get("elapsed")

    @property
    def stop_requested(self) -> bool:
        return (self.dir / STOP_FILE).exists()

    @property
    def stop_requested_at(self) -> float | None:
        try:
            return (self.dir / STOP_FILE).stat().st_mtime
        except OSError:
            return None

    @property
    def can_promote(self) -> bool:
        return self.state in ("done", "stopped") and bool(self.status.get("model_sha256")) and self.model_path.is_file()

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the run printed (its traceback, when it failed)."""
        try:
            with open(self.dir / LOG_FILE, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 64_000))
                text = log.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def new_run_dir(arch: str, root: Path | None = None) -> Path:
    root = root or runs_root()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for suffix in range(1000):
        candidate = root / (f"{stamp}-{arch}" + (f"-{suffix}" if suffix else ""))
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError("Could not create a new run folder.")


def read_run(run_dir: Path) -> RunInfo:
    def read(name: str) -> dict:
        data = read_json(run_dir / name, default={})
        return data if isinstance(data, dict) else {}

    return RunInfo(run_dir, read(STATUS_FILE), read(CONFIG_FILE), read(JOB_FILE))


def list_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run folder under the runs root, newest first."""
    root = root or runs_root()
    if not root.is_dir():
        return []
    runs = [read_run(path) for path in root.iterdir() if path.is_dir() and not path.name.startswith(".")]
    return sorted(runs, key=lambda run: run.started_at, reverse=True)


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


def refresh_run(run: RunInfo) -> RunInfo:
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
    status = {
        **latest.status,
        "state": "failed",
        "pid": pid,
        "arch": latest.status.get("arch") or latest.train_config.get("arch"),
        "epochs": latest.status.get("epochs") or latest.train_config.get("epochs"),
        "started_at": latest.started_at or None,
        "finished_at": now,
        "elapsed": (now - latest.started_at) if latest.started_at else None,
        "eta": None,
        "message": f"{describe_exit(pid)}{stop_note}. The end of its log is shown below.",
        "updated_at": now,
    }
    write_json_atomic(run.dir / STATUS_FILE, status)
    return read_run(run.dir)


def refresh_runs(root: Path | None = None) -> list[RunInfo]:
    """Every run, newest first, with dead 'running' runs marked failed."""
    return [refresh_run(run) for run in list_runs(root)]


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


def active_run(root: Path | None = None) -> RunInfo | None:
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


def start_run(config: TrainConfig, settings: Settings | None = None, root: Path | None = None) -> RunInfo:
    """Launch `python -m digitlab train` for config in a new run folder; return the starting run.

    Raises ValueError (bad config, or one this deployment does not allow) or TrainingBusyError.
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
        _take_lock(root)
        run_dir = None
        try:
            run_dir = new_run_dir(config.arch, root)
            command = command_line(config, run_dir)
            process = _launch(command, run_dir, config.threads)
        except BaseException:
            _lock_path(root).unlink(missing_ok=True)
            if run_dir is not None:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        _CHILDREN[process.pid] = process
        write_json_atomic(run_dir / JOB_FILE, {"pid": process.pid, "command": command, "launched_at": time.time(),
                                               "config": asdict(config)})
        write_json_atomic(_lock_path(root), {"pid": process.pid, "run": run_dir.name, "taken_at": time.time()})
    return read_run(run_dir)


def _launch(command: list[str], run_dir: Path, threads: int | None) -> subprocess.Popen:
    # A fresh interpreter in a session of its own: it keeps running when the script run that started it
    # ends, and a Ctrl-C in the server's terminal does not reach it.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    if threads:  # also set before TensorFlow starts, for thread pools it sizes at import
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1")
    with open(run_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, close_fds=True)
    try:
        os.setpriority(os.PRIO_PROCESS, process.pid, 10)  # below the server, so drawing stays quick
    except (AttributeError, OSError):
        pass
    return process


def request_stop(run: RunInfo) -> None:
    """Ask a run to stop: the trainer finishes its current batch and keeps the last completed epoch."""
    run = refresh_run(read_run(run.dir))
    if not run.is_active:
        raise RunActiveError(f"Run {run.name} is not running ({run.state}).")
    (run.dir / STOP_FILE).touch()


def force_stop(run: RunInfo) -> RunInfo:
    """Kill a run that did not answer Stop; it is then shown as failed."""
    run = refresh_run(read_run(run.dir))
    if run.is_active and is_training_process(run.pid):
        (run.dir / STOP_FILE).touch()
        try:
            os.killpg(run.pid, signal.SIGKILL)  # the trainer leads its own session, so its group is its own
        except (ProcessLookupError, PermissionError):
            pass
        deadline = time.time() + 5
        while time.time() < deadline and pid_alive(run.pid):
            time.sleep(0.1)
    return refresh_run(read_run(run.dir))


def delete_run(run: RunInfo) -> None:
    """Delete a run folder; refused for a run that is still going."""
    run = refresh_run(read_run(run.dir))
    if run.is_active:
        raise RunActiveError(f"Run {run.name} is still {run.state}: stop it before deleting it.")
    # Rename first so that no reader ever lists a half-deleted run (list_runs skips dot names).
    doomed = run.dir.with_name(f".deleting-{run.name}-{uuid.uuid4().hex[:8]}")
    try:
        os.replace(run.dir, doomed)
    except FileNotFoundError:
        return  # already deleted, by another tab
    shutil.rmtree(doomed, ignore_errors=True)


def promote_finished_run(run: RunInfo, name: str) -> str:
    """Copy a finished run's model into models/ as `name` and make it the active model; return the name."""
    from digitlab.registry import list_store_models, promote_run

    run = refresh_run(read_run(run.dir))
    if not run.can_promote:
        raise RunActiveError(f"Run {run.name} has no finished model to use ({run.state}).")
    name = name.strip()
    if any(entry.name == name for entry in list_store_models()):
        raise ValueError(f"A model named '{name}' already exists in models/. Choose another name.")
    return promote_run(run.dir, name).name


# --- history ---------------------------------------------------------------------------------------------


def read_history(run_dir: Path) -> pandas.DataFrame:
    """history.csv as a table with numeric columns; rows still being written are left out."""
    import pandas as pd

    path = Path(run_dir) / HISTORY_FILE
    try:
        table = pd.read_csv(path, on_bad_lines="skip")
    except (OSError, ValueError):
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    if not set(HISTORY_COLUMNS) <= set(table.columns):
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    numeric = [column for column in HISTORY_COLUMNS if column != "kind"]
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")
    # A row the trainer is writing as we read may be cut short: it lacks its step or its loss.
    table = table[table["kind"].isin(["batch", "epoch"]) & table["step"].notna() & table["loss"].notna()]
    return table.reset_index(drop=True)
