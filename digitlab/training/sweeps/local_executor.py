"""Trials as trainer processes on this machine, as many at once as the sweep's --parallel; the default executor.

Each trial is the Train page's own trainer process on its run folder, so its job.json, status.json,
history.csv and log are written exactly as a single run's are, and the page follows it the same way.
The executor reads each trial's completed epochs from its history.csv and its end from its status.json.
"""

from __future__ import annotations

import math
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from digitlab.store import run_folder as runs
from digitlab.store.run_history import read_history
from digitlab.store.run_records import JobRecord
from digitlab.training.jobs import process_create_time
from digitlab.training.sweeps.trial_reports import EpochDone, TrialEnded, TrialReport, TrialStarted
from digitlab.training.jobs import describe_exit_code
from digitlab.training.sweeps.trial_process import kill_trial, launch_trial, machine_description


@dataclass
class _LocalTrial:
    run_dir: Path
    process: subprocess.Popen
    epochs_reported: int = 0


class LocalExecutor:
    """Runs each trial's trainer here, in its own process group, sharing the sweep's training lock."""

    def __init__(self, threads: int | None, lock_fd: int | None, started_by: str = "local"):
        self.threads = threads  # CPU threads each trainer may use
        self.lock_fd = lock_fd  # the training lock the sweep holds, passed to each trainer
        self.started_by = started_by
        self._trials: dict[int, _LocalTrial] = {}
        self._reports: list[TrialReport] = []
        self._where = {**machine_description(), "worker": None}

    def start(self, number: int, run_dir: Path) -> None:
        process, command = launch_trial(run_dir, self.threads, self.lock_fd)
        runs.write_job(run_dir, JobRecord(pid=process.pid, command=command, launched_at=time.time(),
                                          started_by=self.started_by, create_time=process_create_time(process.pid)))
        self._trials[number] = _LocalTrial(run_dir, process)
        self._reports.append(TrialStarted(number, self._where))

    def running(self) -> list[int]:
        return list(self._trials)

    def reports(self) -> list[TrialReport]:
        reports, self._reports = self._reports, []
        for number, trial in list(self._trials.items()):
            code = trial.process.poll()  # read before the epochs, so no epoch written before the exit is missed
            reports += self._new_epochs(number, trial)
            if code is not None:
                del self._trials[number]
                reports.append(self._ended(number, trial, code))
        return reports

    def stop(self, number: int) -> None:
        trial = self._trials.get(number)
        if trial is not None:
            kill_trial(trial.process)

    def close(self) -> None:
        """Kill any trial still going (the driver waits for its trials first, so normally none is)."""
        for number in list(self._trials):
            self.stop(number)

    @staticmethod
    def _new_epochs(number: int, trial: _LocalTrial) -> list[EpochDone]:
        history = read_history(trial.run_dir)
        epochs = history[history["kind"] == "epoch"]
        new = []
        for _, row in epochs.iloc[trial.epochs_reported:].iterrows():
            value = row.get("val_accuracy")
            if value is not None and math.isfinite(float(value)):
                new.append(EpochDone(number, int(row["epoch"]), float(value)))
        trial.epochs_reported = len(epochs)
        return new

    @staticmethod
    def _ended(number: int, trial: _LocalTrial, code: int) -> TrialEnded:
        run = runs.read_run(trial.run_dir)
        if run.is_active:  # it died without writing its final status: say how
            now = time.time()
            runs.update_status(trial.run_dir, state="failed", finished_at=now, eta=None,
                               elapsed=(now - run.started_at) if run.started_at else None,
                               message=f"{describe_exit_code(code)}. The end of its log is shown below.")
            run = runs.read_run(trial.run_dir)
        return TrialEnded(number, run.state, run.status.message)
