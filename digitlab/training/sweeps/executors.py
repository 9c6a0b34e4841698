"""What runs a sweep's trials: the executor a sweep is configured for, and what every executor does.

An executor starts a trial on a run folder the driver created and reports on it (trial_reports); stop() kills
a trial's process group wherever it runs, and its TrialEnded follows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from digitlab.config.secrets import config_value
from digitlab.training.sweeps.trial_reports import TrialReport

DASK_SCHEDULER_VAR = "DIGITLAB_DASK_SCHEDULER"  # tcp://host:port of a Dask scheduler: trials run on its workers


class Executor(Protocol):
    def start(self, number: int, run_dir: Path) -> None: ...

    def reports(self) -> list[TrialReport]: ...

    def stop(self, number: int) -> None: ...

    def running(self) -> list[int]: ...

    def close(self) -> None: ...


def configured_scheduler(given: str | None = None) -> str | None:
    """The Dask scheduler a sweep uses: --dask, else DIGITLAB_DASK_SCHEDULER, else None (local processes)."""
    address = given or config_value(DASK_SCHEDULER_VAR)
    address = str(address).strip() if address else None
    if address and "://" not in address:
        raise ValueError(f"The Dask scheduler '{address}' needs its protocol, e.g. tcp://{address}.")
    return address or None


def make_executor(scheduler: str | None, token: str, threads: int | None, lock_fd: int | None,
                  started_by: str) -> Executor:
    """Local processes without a scheduler, else the Dask cluster at that address (token names its Dask objects)."""
    if scheduler is None:
        from digitlab.training.sweeps.local_executor import LocalExecutor

        return LocalExecutor(threads, lock_fd, started_by)
    from digitlab.training.sweeps.dask_executor import DaskExecutor

    return DaskExecutor(scheduler, token, threads, started_by)
