"""Where a sweep lives: an Optuna study in the drawing bank's database, and the attributes DigitLab keeps on it.

The study holds everything a page or a resumed driver needs, so no sweep file exists beside the run folders:

    study attribute   digitlab_sweep     SweepSpec: the base recipe, the --param texts, trials, parallel, executor
                      driver             the process running it: pid, its create time, host, when it began
                      heartbeat          when that driver last said it was alive (epoch seconds)
                      cancel_requested   when someone asked the sweep to stop
                      ended              how its last driver ended: finished, cancelled or failed, and why
    trial attribute   run                the trial's run folder (an ordinary run, under the runs folder)
                      where              host, GPU and Dask worker it ran on
                      outcome            complete, pruned, failed, stopped, cancelled or interrupted
                      message            why it ended as it did, when not complete
                      baseline           true on the trial of the base recipe's own settings

This module is the only one that knows these names. Optuna keeps its tables (studies, trials, ...) and its
own alembic_version beside the bank's, which records its revision in digitlab_alembic_version.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import psutil

from digitlab.config.database import database_url
from digitlab.store.run_config import TrainConfig

SWEEP_ATTR, DRIVER_ATTR, HEARTBEAT_ATTR, CANCEL_ATTR, ENDED_ATTR = (
    "digitlab_sweep", "driver", "heartbeat", "cancel_requested", "ended")
RUN_ATTR, WHERE_ATTR, OUTCOME_ATTR, MESSAGE_ATTR, BASELINE_ATTR = "run", "where", "outcome", "message", "baseline"
# Outcomes that do not use up one of the sweep's trials: the sweep, not the trial, was stopped.
UNCOUNTED_OUTCOMES = ("cancelled", "interrupted")
HEARTBEAT_SECONDS = 5.0  # how often a driver says it is alive
DRIVER_SILENT_AFTER = 60.0  # a driver on another machine silent this long is taken for gone
STARTING_GRACE = 60.0  # a sweep whose driver has not said anything this long after creation did not start


@dataclass
class SweepSpec:
    """What a sweep was asked to do; stored on its study, so a resumed sweep does exactly that."""

    base: TrainConfig  # the recipe every trial starts from
    params: list[str]  # the --param texts, e.g. ["lr=1e-4:3e-3:log", "width=16,32,48"]
    trials: int  # trials in all; a resumed sweep runs the ones missing
    parallel: int  # trials at once
    dask: str | None = None  # the Dask scheduler's address; None: local processes
    started_by: str = "local"  # who started it
    created_at: float = field(default_factory=time.time)

    def to_json(self) -> dict:
        return {**asdict(self), "base": self.base.to_json()}

    @classmethod
    def from_json(cls, data: Any) -> "SweepSpec":
        if not isinstance(data, dict) or not isinstance(data.get("base"), dict):
            raise ValueError("the study holds no DigitLab sweep")
        return cls(base=TrainConfig.from_json(data["base"]), params=[str(text) for text in data.get("params") or []],
                   trials=int(data.get("trials") or 0), parallel=int(data.get("parallel") or 1),
                   dask=data.get("dask") or None, started_by=str(data.get("started_by") or "local"),
                   created_at=float(data.get("created_at") or 0.0))


@dataclass
class SweepState:
    """A sweep as its study says it is, read at one moment."""

    name: str
    spec: SweepSpec
    driver: dict | None  # pid, create_time, host, started_at
    heartbeat: float | None
    cancel_requested: float | None
    ended: dict | None  # outcome, message, at

    @property
    def state(self) -> str:
        """starting, running, cancelling, finished, cancelled, failed, or interrupted (its driver is gone)."""
        if self.ended:
            return str(self.ended.get("outcome") or "finished")
        if self.driver is None:
            return "starting" if time.time() - self.spec.created_at < STARTING_GRACE else "interrupted"
        if not driver_alive(self.driver, self.heartbeat):
            return "interrupted"
        return "cancelling" if self.cancel_requested else "running"

    @property
    def is_active(self) -> bool:
        return self.state in ("starting", "running", "cancelling")


def driver_record(pid: int | None = None) -> dict:
    """A process (this one by default) as a sweep's driver."""
    pid = pid or os.getpid()
    return {"pid": pid, "create_time": psutil.Process(pid).create_time(), "host": socket.gethostname(),
            "started_at": time.time()}


def driver_alive(driver: dict, heartbeat: float | None) -> bool:
    """Whether the driver is running: by its process on this machine, by its heartbeat on another."""
    if driver.get("host") != socket.gethostname():
        return heartbeat is not None and time.time() - heartbeat < DRIVER_SILENT_AFTER
    try:
        process = psutil.Process(int(driver.get("pid") or 0))
        return (abs(process.create_time() - float(driver.get("create_time") or 0)) < 2.0
                and process.status() != psutil.STATUS_ZOMBIE)
    except (psutil.Error, ValueError):
        return False


def open_storage(url: str | None = None):
    """Optuna's storage in the bank's database (DIGITLAB_DATABASE_URL, else the SQLite file beside runs/)."""
    import optuna
    from optuna.storages import RDBStorage

    from digitlab.bank.engine import bound_statements, server_connect_args

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # its per-trial INFO lines would bury the JSON lines
    url = url or database_url()
    # SQLite: wait for another process's write instead of failing at once; a server: replace dropped connections,
    # and give up on one that does not answer, or on a statement stuck behind a lock, as the bank does, instead of
    # hanging the page or the driver.
    engine_kwargs = ({"connect_args": {"timeout": 30}} if url.startswith("sqlite")
                     else {"pool_pre_ping": True, "connect_args": server_connect_args(url)})
    storage = RDBStorage(url, engine_kwargs=engine_kwargs)
    if storage.engine.dialect.name == "postgresql":
        bound_statements(storage.engine, url)
        storage.engine.dispose()  # the connections Optuna opened to set up its tables were made without the bound
    return storage


def has_sweeps(url: str | None = None) -> bool:
    """Whether the database holds Optuna's tables at all (looking must not create them)."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    from digitlab.bank.engine import server_connect_args

    url = url or database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") and not os.path.exists(
            parsed.database):
        return False  # connecting would create the file
    engine = create_engine(url, connect_args=server_connect_args(url))  # the bank's bounded waits; none for SQLite
    try:
        return inspect(engine).has_table("studies")
    finally:
        engine.dispose()


def create_sweep(storage, name: str, spec: SweepSpec):
    """A new study holding spec; ValueError when a study of that name exists."""
    import optuna

    try:
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    except optuna.exceptions.DuplicatedStudyError:
        raise ValueError(f"A sweep named '{name}' exists already: resume it with --study {name} "
                         "(leave out the other settings) or choose another name.") from None
    study.set_user_attr(SWEEP_ATTR, spec.to_json())
    return study


def load_sweep(storage, name: str, sampler=None, pruner=None):
    """The study and its spec; ValueError when there is no DigitLab sweep of that name."""
    import optuna

    try:
        study = optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        raise ValueError(f"There is no sweep named '{name}'.") from None
    return study, SweepSpec.from_json(study.user_attrs.get(SWEEP_ATTR))


def read_sweeps(storage) -> list[SweepState]:
    """Every DigitLab sweep in the database, newest first."""
    states = []
    for study in storage.get_all_studies():
        try:
            spec = SweepSpec.from_json(study.user_attrs.get(SWEEP_ATTR))
        except (ValueError, TypeError):
            continue  # another application's study, or one made by hand
        states.append(_state(study.study_name, spec, study.user_attrs))
    return sorted(states, key=lambda state: state.spec.created_at, reverse=True)


def read_sweep(storage, name: str) -> SweepState:
    _, spec = load_sweep(storage, name)
    study_id = storage.get_study_id_from_name(name)
    return _state(name, spec, storage.get_study_user_attrs(study_id))


def _state(name: str, spec: SweepSpec, attrs: dict) -> SweepState:
    return SweepState(name, spec, attrs.get(DRIVER_ATTR), attrs.get(HEARTBEAT_ATTR), attrs.get(CANCEL_ATTR),
                      attrs.get(ENDED_ATTR))


def read_trials(storage, name: str) -> list:
    """The sweep's trials (optuna FrozenTrial), by number."""
    study_id = storage.get_study_id_from_name(name)
    return sorted(storage.get_all_trials(study_id, deepcopy=False), key=lambda trial: trial.number)


def counted(trials: list) -> list:
    """The trials that used up one of the sweep's trials: all but those stopped with the sweep."""
    from optuna.trial import TrialState

    return [trial for trial in trials if trial.state in (TrialState.COMPLETE, TrialState.PRUNED)
            or (trial.state == TrialState.FAIL and trial.user_attrs.get(OUTCOME_ATTR) not in UNCOUNTED_OUTCOMES)]


def request_cancel(storage, name: str) -> None:
    """Ask the sweep's driver, wherever it runs, to kill its trials and stop."""
    storage.set_study_user_attr(storage.get_study_id_from_name(name), CANCEL_ATTR, time.time())


def cancel_was_requested(storage, study_id: int, since: float) -> bool:
    """Whether someone asked the sweep to stop after `since` (a driver ignores requests older than itself)."""
    asked = storage.get_study_user_attrs(study_id).get(CANCEL_ATTR)
    return isinstance(asked, (int, float)) and asked >= since


def mark_driver_started(study) -> None:
    """Record this process as the sweep's driver; a resumed sweep is no longer ended."""
    study.set_user_attr(DRIVER_ATTR, driver_record())
    study.set_user_attr(HEARTBEAT_ATTR, time.time())
    study.set_user_attr(ENDED_ATTR, None)


def heartbeat(study) -> None:
    study.set_user_attr(HEARTBEAT_ATTR, time.time())


def mark_ended(storage, name: str, outcome: str, message: str) -> None:
    """Record how the sweep's driver ended (by the driver, or by whoever killed it)."""
    storage.set_study_user_attr(storage.get_study_id_from_name(name), ENDED_ATTR,
                                {"outcome": outcome, "message": message, "at": time.time()})
