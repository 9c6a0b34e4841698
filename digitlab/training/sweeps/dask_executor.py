"""Trials on a Dask cluster: each one a task that trains in a subprocess on a worker (dask_worker_task).

The app keeps the trial's run folder: it sends the worker the folder's files, writes what the worker
streams back (history rows and status, through the sweep's event topic) into it as they come, and at the
end writes the model the worker returns, after checking its sha256, atomically. The run folder's job.json
names no process: none on this machine trains it.
"""

from __future__ import annotations

import hashlib
import queue
import time
import uuid
from dataclasses import dataclass, field, fields
from pathlib import Path

from digitlab.store import run_folder as runs
from digitlab.store.atomic import write_atomic
from digitlab.store.run_history import HistoryWriter
from digitlab.store.run_records import JobRecord, RunStatus
from digitlab.training.sweeps.dask_worker_task import RESULT_VERSION, train_trial_on_worker, worker_result_version
from digitlab.training.sweeps.trial_reports import EpochDone, TrialEnded, TrialReport, TrialStarted

CONTROL_EVERY = 2.0  # seconds between the driver's beats (the worker's lease is 30 s)
STOP_PATIENCE = 60.0  # a trial asked to stop that has not ended after this long is given up as failed
CONNECT_TIMEOUT = 20.0
_STATUS_FIELDS = {item.name for item in fields(RunStatus)} - {"pid"}  # pid: the worker's, meaningless here


@dataclass
class _DaskTrial:
    number: int
    run_dir: Path
    token: str
    future: object
    rows_written: int = 0
    where: dict = field(default_factory=dict)
    stop_asked: float | None = None


class DaskExecutor:
    """Runs trials on the cluster whose scheduler is at `address`; ValueError when it cannot be reached."""

    def __init__(self, address: str, token: str, threads: int | None, started_by: str = "local"):
        from distributed import Client, Variable

        self.address, self.threads, self.started_by = address, threads, started_by
        try:
            self.client = Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise ValueError(f"The Dask scheduler at {address} cannot be reached ({error}). Check "
                             "DIGITLAB_DASK_SCHEDULER or --dask, and that the scheduler is running.") from None
        self._check_cluster()
        self.topic = f"digitlab-sweep-{token}"
        self._control = Variable(f"digitlab-control-{token}", client=self.client)
        self._beat, self._cancelled, self._last_control = 0, set(), 0.0
        self._inbox: queue.Queue = queue.Queue()  # events arrive on the client's own thread
        self.client.subscribe_topic(self.topic, self._inbox.put)
        self._publish()
        self._trials: dict[int, _DaskTrial] = {}

    def _check_cluster(self) -> None:
        """ValueError unless the cluster can run this DigitLab's trials: the scheduler unpickles a task's function
        by its module's name, and the workers run it, so both need DigitLab importable, and the same version."""
        from distributed import CancelledError

        try:
            version = self.client.submit(worker_result_version, pure=False).result(timeout=3 * CONNECT_TIMEOUT)
        except (Exception, CancelledError) as error:  # whatever the cluster raised, the sweep cannot go on
            self.client.close()
            detail = str(error).strip().split(". ")[0].splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"The Dask cluster at {self.address} cannot run DigitLab's trials ({detail}). Its "
                             "scheduler and workers need this DigitLab importable (e.g. PYTHONPATH=/path/to/the "
                             "repository) and MNIST (DIGITLAB_MNIST).") from None
        if version != RESULT_VERSION:
            self.client.close()
            raise ValueError(f"The Dask workers at {self.address} run another version of DigitLab: restart them "
                             "with this one.")

    def start(self, number: int, run_dir: Path) -> None:
        token = f"{self.topic}-{number}-{uuid.uuid4().hex[:8]}"
        files = {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()}
        runs.write_job(run_dir, JobRecord(pid=None, launched_at=time.time(), started_by=self.started_by,
                                          command=["dask", self.address, "python", "-m", "digitlab", "train",
                                                   "--run-dir", "(a temporary folder on the worker)"]))
        runs.update_status(run_dir, state="starting", message="Waiting for a Dask worker")
        future = self.client.submit(train_trial_on_worker, files, token, self.topic, self._control.name,
                                    self.threads, key=token, pure=False)
        self._trials[number] = _DaskTrial(number, run_dir, token, future)

    def running(self) -> list[int]:
        return list(self._trials)

    def reports(self) -> list[TrialReport]:
        if time.monotonic() - self._last_control >= CONTROL_EVERY:
            self._publish()
        reports = self._streamed()
        for number, trial in list(self._trials.items()):
            if trial.future.done():
                reports += self._finished(number, trial)
            elif trial.stop_asked and time.time() - trial.stop_asked > STOP_PATIENCE:
                trial.future.release()
                del self._trials[number]
                reports.append(self._write_end(trial, "failed", "The worker did not stop the trial when asked; "
                                                                "it was given up."))
        return reports

    def stop(self, number: int) -> None:
        trial = self._trials.get(number)
        if trial is not None and trial.stop_asked is None:
            trial.stop_asked = time.time()
            self._cancelled.add(trial.token)
            self._publish()

    def close(self) -> None:
        """Leave the cluster; trials still going (the driver waits for them first) are told to stop."""
        for number in list(self._trials):
            self.stop(number)
        try:
            self.client.unsubscribe_topic(self.topic)
            self._control.delete()
        finally:
            self.client.close()

    def _publish(self) -> None:
        self._beat += 1
        self._control.set({"beat": self._beat, "cancel": sorted(self._cancelled)})
        self._last_control = time.monotonic()

    def _streamed(self) -> list[TrialReport]:
        by_token = {trial.token: (number, trial) for number, trial in self._trials.items()}
        reports: list[TrialReport] = []
        while True:
            try:
                _, message = self._inbox.get_nowait()
            except queue.Empty:
                return reports
            number, trial = by_token.get(message.get("trial"), (None, None))
            if trial is None:
                continue  # a trial that has already ended, or another sweep's
            if message.get("kind") == "started":
                trial.where = {key: message["where"].get(key) for key in ("host", "gpu", "worker")}
                reports.append(TrialStarted(number, trial.where))
            elif message.get("kind") == "rows":
                reports += self._write_rows(number, trial, int(message.get("start", 0)), message.get("rows") or [])
            elif message.get("kind") == "status" and RunStatus.from_json(message.get("status")).is_active:
                self._write_status(trial, message.get("status"))  # the final one comes with the files, below

    def _write_rows(self, number: int, trial: _DaskTrial, start: int, rows: list[dict]) -> list[EpochDone]:
        """Append the rows not yet written (each row once, in order, whichever way it came)."""
        new = rows[max(0, trial.rows_written - start):] if start <= trial.rows_written else []
        if not new:
            return []
        writer = HistoryWriter(trial.run_dir)
        epochs = []
        try:
            for row in new:
                writer.write(row)
                if row.get("kind") == "epoch" and row.get("val_accuracy") not in (None, ""):
                    epochs.append(EpochDone(number, int(float(row["epoch"])), float(row["val_accuracy"])))
        finally:
            writer.close()
        trial.rows_written += len(new)
        return epochs

    @staticmethod
    def _write_status(trial: _DaskTrial, status: dict) -> None:
        changes = {key: value for key, value in RunStatus.from_json(status).to_json().items() if key in _STATUS_FIELDS}
        runs.update_status(trial.run_dir, **changes, pid=None)

    def _finished(self, number: int, trial: _DaskTrial) -> list[TrialReport]:
        del self._trials[number]
        from distributed import CancelledError

        try:
            result = trial.future.result()
        except (Exception, CancelledError) as error:  # whatever the cluster raised ends this trial, not the sweep
            name = type(error).__name__
            why = ("the worker running it died" if name == "KilledWorker" else f"{name}: {error}")
            return [self._write_end(trial, "failed", f"The trial failed on the cluster: {why}.")]
        finally:
            trial.future.release()
        if not isinstance(result, dict) or result.get("version") != RESULT_VERSION:
            return [self._write_end(trial, "failed", "The Dask worker runs another version of DigitLab: restart the "
                                                     "workers with this one.")]
        if result.get("restarted"):
            host = trial.where.get("host") or "a worker"
            return [self._write_end(trial, "failed", f"The Dask worker training it on {host} died, so the trial "
                                                     "failed; the sweep goes on.")]
        reports: list[TrialReport] = self._write_rows(number, trial, 0, result.get("rows") or [])
        message = result.get("message") or ""
        state = result.get("state") or "failed"
        problem = _verify(result)
        if problem:
            state, message = "failed", problem
        else:
            for name, data in (result.get("files") or {}).items():
                write_atomic(trial.run_dir / Path(name).name, lambda temp, data=data: temp.write_bytes(data))
        self._write_status(trial, result.get("status") or {})
        with runs.open_log(trial.run_dir) as log:
            log.write(f"--- trained on {trial.where.get('host')} ({trial.where.get('worker')})\n".encode())
            log.write((result.get("log") or "").encode("utf-8", errors="replace"))
        reports.append(self._write_end(trial, state, message))
        return reports

    @staticmethod
    def _write_end(trial: _DaskTrial, state: str, message: str) -> TrialEnded:
        """The run folder's final word on the trial (kept when it already says so), as a report."""
        current = runs.read_status(trial.run_dir)
        if current.state != state or current.is_active:
            runs.update_status(trial.run_dir, state=state, message=message, finished_at=time.time(), eta=None)
        return TrialEnded(trial.number, state, message)


def _verify(result: dict) -> str | None:
    """Why the files a worker sent back cannot be kept, or None: each must match its sha256, the model its status."""
    files, digests = result.get("files") or {}, result.get("sha256") or {}
    for name, data in files.items():
        if hashlib.sha256(data).hexdigest() != digests.get(name):
            return f"The {name} that came back from the worker does not match its sha256; it was not kept."
    recorded = (result.get("status") or {}).get("model_sha256")
    if recorded and digests.get(runs.MODEL_FILE) != recorded:
        return f"The {runs.MODEL_FILE} that came back is not the one the trainer saved; it was not kept."
    return None
