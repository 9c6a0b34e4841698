"""What a Dask worker runs for one trial: the trainer in a subprocess, its progress streamed back, its model returned.

The worker needs DigitLab importable and MNIST reachable (DIGITLAB_MNIST, or a download), as the app does.
The trial trains in a temporary run folder on the worker, copied from the app's (config.json); while it
trains, each new history row and each change of status.json go to the sweep's event topic
(Worker.log_event), and the driver writes them into the app's run folder. The result is the final status,
every history row and the files it made (model.keras, and what else the trainer writes) with their
sha256, for the app to verify and write.

The driver steers through one Dask Variable per sweep, {"beat": n, "cancel": [trial tokens]}:
  - a trial whose token is listed is killed, its whole process group (Future.cancel() cannot stop a
    subprocess a running task started);
  - when "beat" stops changing for LEASE_SECONDS the driver is gone, and the trial is killed too.
A worker that dies takes its trainer with it (the parent-death signal); Dask then gives the task to another
worker, which finds the trial's "started" Event set and returns it failed rather than training it again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

from digitlab.store import run_folder as runs
from digitlab.store.run_history import HISTORY_FILE, read_history_rows
from digitlab.training.jobs import describe_exit_code
from digitlab.training.sweeps.trial_process import kill_trial, launch_trial, machine_description

# What the result looks like; a worker still running an older DigitLab answers in an older one, and the driver
# says so instead of misreading it (a worker imports this module once: restart workers after an upgrade).
RESULT_VERSION = 2
POLL_SECONDS = 0.5  # how often the trial's files are read for news
CONTROL_SECONDS = 1.0  # how often the driver's Variable is read
CONTROL_TIMEOUT = 5.0  # a Variable read that takes longer counts as no news
LEASE_SECONDS = 30.0  # a driver silent this long is gone: its trial stops
# The run folder's files the app writes itself (from the stream) or sent: everything else the trial made comes back.
KEPT_BY_THE_APP = {runs.CONFIG_FILE, runs.JOB_FILE, runs.STATUS_FILE, runs.LOG_FILE, runs.STOP_FILE, HISTORY_FILE}
LOG_TAIL_LINES = 200  # of the trainer's output, copied into the app's run log


def worker_result_version() -> int:
    """What a worker answers when the driver checks, before the first trial, that it can run DigitLab's trials."""
    return RESULT_VERSION


def started_event_name(trial_token: str) -> str:
    return f"{trial_token}-started"


def train_trial_on_worker(files: dict[str, bytes], trial_token: str, topic: str, control_name: str,
                          threads: int | None) -> dict:
    """Train one trial here; the result the driver writes into the app's run folder."""
    from distributed import Event, get_worker

    worker = get_worker()
    where = {**machine_description(), "worker": worker.address, "pid": os.getpid()}
    started = Event(started_event_name(trial_token))
    if started.is_set():
        return {"version": RESULT_VERSION, "state": "failed", "where": where, "restarted": True,
                "message": "The Dask worker that was training this trial died, so the trial failed."}
    started.set()
    worker.log_event(topic, {"trial": trial_token, "kind": "started", "where": where})
    folder = Path(tempfile.mkdtemp(prefix="digitlab-trial-"))
    try:
        run_dir = folder / "run"
        run_dir.mkdir()
        for name, data in files.items():
            (run_dir / Path(name).name).write_bytes(data)  # file names only: nothing lands outside the folder
        process, _ = launch_trial(run_dir, threads)
        result = _follow(process, run_dir, lambda message: worker.log_event(topic, {"trial": trial_token, **message}),
                         trial_token, control_name)
        return {**result, "where": where}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _follow(process, run_dir: Path, send, trial_token: str, control_name: str) -> dict:
    """Stream the trial's rows and status until its process ends (or is killed); then its result."""
    from distributed import Variable

    control = Variable(control_name)
    rows_sent, last_status, killed_because = 0, None, None
    last_beat, beat_seen_at, next_control = None, time.monotonic(), 0.0
    while True:
        code = process.poll()
        rows = read_history_rows(run_dir)
        if len(rows) > rows_sent:
            send({"kind": "rows", "start": rows_sent, "rows": rows[rows_sent:]})
            rows_sent = len(rows)
        status = runs.read_status(run_dir).to_json()
        if status != last_status:
            send({"kind": "status", "status": status})
            last_status = status
        if code is not None:
            break
        now = time.monotonic()
        if now >= next_control:
            next_control = now + CONTROL_SECONDS
            steering = _read(control)
            if steering.get("beat") is not None and steering.get("beat") != last_beat:
                last_beat, beat_seen_at = steering.get("beat"), now
            if trial_token in (steering.get("cancel") or []):
                killed_because = "Stopped at the sweep's request"
            elif now - beat_seen_at > LEASE_SECONDS:
                killed_because = f"Stopped: the sweep's driver was silent for {LEASE_SECONDS:.0f} s"
            if killed_because:
                code = kill_trial(process)
                continue
        time.sleep(POLL_SECONDS)
    return _result(run_dir, code, killed_because)


def _read(control) -> dict:
    try:
        value = control.get(timeout=CONTROL_TIMEOUT)
    except (TimeoutError, OSError):  # not set yet, the scheduler slow to answer, or a dropped link: no news
        return {}
    return value if isinstance(value, dict) else {}


def _result(run_dir: Path, code: int | None, killed_because: str | None) -> dict:
    """The trial's final status and history, and every file it made (its model above all) with each one's sha256."""
    status = runs.read_status(run_dir)
    if status.is_active:  # it wrote no final status: it was killed, or died
        status.state = "failed"
        status.message = f"{killed_because or describe_exit_code(code)}."
    made = {path.name: path.read_bytes() for path in sorted(run_dir.iterdir())
            if path.is_file() and path.name not in KEPT_BY_THE_APP and not path.name.startswith(".")}
    return {"version": RESULT_VERSION, "state": status.state, "message": status.message, "status": status.to_json(),
            "rows": read_history_rows(run_dir), "log": runs.read_run(run_dir).log_tail(LOG_TAIL_LINES),
            "files": made, "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in made.items()}}
