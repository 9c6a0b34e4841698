"""A sweep's driver: the ask/tell loop that starts trials, prunes the poor ones and records each outcome.

One driver per sweep at a time, as `python -m digitlab sweep` (from a terminal, or launched by the Train page).
It asks the study for a trial's parameters, creates an ordinary run folder for it, hands it to the executor,
reports each completed epoch's validation accuracy to the study (Optuna's median pruner stops a trial that
falls below the earlier trials' median at that epoch), and tells the study how each trial ended. A trial's
value is its last epoch's validation accuracy: the model its run folder keeps. The first trial of a new sweep
is the base recipe's own settings where they lie in the space, so the best is measured against them.

The training lock (digitlab.training.run_lock): a sweep is one training job for the deployment. Its driver holds
the lock for the sweep's whole life, taken like a single run's (or inherited from the page that launched it),
and passes it to each local trainer, so the lock stays held while any of its processes lives: a single run
cannot start beside a sweep, nor a sweep beside a run, while a sweep's --parallel trainers run under its one lock.
A Dask sweep holds it too, though its trials train elsewhere: the lock then means one training job at a time.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psutil

from digitlab.config.paths import runs_root
from digitlab.store import run_folder as runs
from digitlab.store.shares import percent
from digitlab.training.jobs import trainer_is_running
from digitlab.training.run_lock import LOCK_FD_VARIABLE, take_training_lock
from digitlab.training.sweeps import study_store as store
from digitlab.training.sweeps.executors import Executor, make_executor
from digitlab.training.sweeps.trial_reports import EpochDone, TrialEnded, TrialStarted
from digitlab.training.sweeps.search_space import base_values, config_for, parse_space

POLL_SECONDS = 0.5
PRUNE_AFTER_TRIALS = 4  # the median pruner compares with this many finished trials before it prunes any
SHUTDOWN_PATIENCE = 90.0  # seconds to wait for trials told to stop (a Dask worker answers within seconds)


def holder_name(name: str) -> str:
    """What the training lock says holds it while a sweep runs."""
    return f"sweep {name}"


@contextmanager
def sweep_training_lock(root: Path, name: str) -> Iterator[int]:
    """The training lock's descriptor for the sweep's life: the one the page passed on, else taken here.

    Raises TrainingBusyError when a run or another sweep holds it.
    """
    inherited = os.environ.pop(LOCK_FD_VARIABLE, None)
    if inherited and inherited.isdigit():
        fd = int(inherited)
        try:
            os.set_inheritable(fd, False)  # only the trainers get it, through pass_fds
        except OSError:
            fd = None
        if fd is not None:
            try:
                yield fd
            finally:
                os.close(fd)
            return
    root.mkdir(parents=True, exist_ok=True)
    with take_training_lock(root) as lock:
        lock.name_holder(holder_name(name))
        yield lock.fd


def drive_sweep(name: str, storage, emit: Callable[[dict], None], root: Path | None = None) -> str:
    """Run the sweep `name` until it has all its trials, or is cancelled; its outcome (finished or cancelled)."""
    import optuna

    _, spec = store.load_sweep(storage, name)
    sampler = optuna.samplers.TPESampler(seed=spec.base.seed, constant_liar=True,
                                         n_startup_trials=max(2, min(10, spec.trials // 3)))
    pruner = optuna.pruners.MedianPruner(n_startup_trials=PRUNE_AFTER_TRIALS, n_warmup_steps=0)
    study, spec = store.load_sweep(storage, name, sampler, pruner)
    space = parse_space(spec.params, spec.base)
    state = store.read_sweep(storage, name)
    if state.driver and state.driver.get("pid") != os.getpid() and store.driver_alive(state.driver, state.heartbeat):
        raise ValueError(f"Sweep '{name}' is already running (process {state.driver.get('pid')} on "
                         f"{state.driver.get('host')}).")
    root = root or runs_root()
    with sweep_training_lock(root, name) as lock_fd:
        return _Driver(name, storage, study, spec, space, emit, root, lock_fd).run()


class _Driver:
    def __init__(self, name, storage, study, spec, space, emit, root: Path, lock_fd: int):
        self.name, self.storage, self.study, self.spec, self.space = name, storage, study, spec, space
        self.emit, self.root, self.lock_fd = emit, root, lock_fd
        self.study_id = storage.get_study_id_from_name(name)
        self.since = psutil.Process().create_time()  # cancel requests older than this process are not for it
        self.trials: dict[int, object] = {}  # optuna Trial of each trial this driver started, by number
        self.run_dirs: dict[int, Path] = {}
        self.where: dict[int, dict] = {}
        self.intents: dict[int, tuple[str, str]] = {}  # why the driver stopped a trial: (outcome, message)
        self.signalled = False

    def run(self) -> str:
        import optuna

        store.mark_driver_started(self.study)
        self._fail_interrupted_trials()
        values = base_values(self.spec.base, self.space)
        if values is not None and not self._has_baseline():
            self.study.enqueue_trial(values, user_attrs={store.BASELINE_ATTR: True})
        spare_cores = max(1, (os.cpu_count() or 1) // self.spec.parallel)  # local trials share this machine's cores
        self.threads = self.spec.base.threads or (None if self.spec.dask else spare_cores)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        outcome, message, executor = "failed", "The sweep's driver stopped on an error.", None
        try:
            executor = make_executor(self.spec.dask, f"{self.study_id}-{int(self.since)}", self.threads, self.lock_fd,
                                     self.spec.started_by)
            outcome, message = self._loop(executor, optuna)
        except Exception as error:
            message = f"The sweep stopped: {error}"
            raise
        finally:
            if executor is not None:
                self._stop_all(executor, "cancelled" if outcome == "cancelled" else "interrupted")
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            store.mark_ended(self.storage, self.name, outcome, message)
        return outcome

    def _stop_all(self, executor: Executor, outcome: str) -> None:
        """Stop the trials still going, record how each ended, and let the executor go."""
        for number in executor.running():
            self.intents[number] = (outcome, "Stopped with the sweep.")
            executor.stop(number)
        deadline = time.monotonic() + SHUTDOWN_PATIENCE
        while executor.running() and time.monotonic() < deadline:
            self._handle(executor, executor.reports())
            time.sleep(0.2)
        self._handle(executor, executor.reports())
        executor.close()

    def _has_baseline(self) -> bool:
        """Whether the default settings have a trial that ran, or will run: one stopped with the sweep is run again."""
        trials = store.read_trials(self.storage, self.name)
        kept = {trial.number for trial in store.counted(trials)}
        return any(trial.user_attrs.get(store.BASELINE_ATTR) and (trial.number in kept or trial.state.name == "WAITING")
                   for trial in trials)

    def _on_signal(self, signum, _frame) -> None:
        self.signalled = True

    def _loop(self, executor: Executor, optuna) -> tuple[str, str]:
        last_beat = 0.0
        while True:
            if self.signalled or store.cancel_was_requested(self.storage, self.study_id, self.since):
                return "cancelled", "Cancelled: its running trials were stopped."
            if time.monotonic() - last_beat > store.HEARTBEAT_SECONDS:
                store.heartbeat(self.study)
                last_beat = time.monotonic()
            used = len(store.counted(store.read_trials(self.storage, self.name)))
            while len(executor.running()) < self.spec.parallel and used + len(executor.running()) < self.spec.trials:
                if not self._start_next(executor, optuna):
                    used += 1  # a trial whose config cannot be trained has failed, and counts
            self._handle(executor, executor.reports())
            if not executor.running() and used >= self.spec.trials:
                return "finished", f"Finished its {self.spec.trials} trials."
            time.sleep(POLL_SECONDS)

    def _start_next(self, executor: Executor, optuna) -> bool:
        trial = self.study.ask({name: parameter.distribution for name, parameter in self.space.items()})
        number = trial.number
        try:
            config = config_for(self.spec.base, trial.params)
        except ValueError as error:
            message = f"These settings cannot be trained: {error}"
            trial.set_user_attr(store.OUTCOME_ATTR, "failed")
            trial.set_user_attr(store.MESSAGE_ATTR, message)
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            self.emit(self._line(number, trial.params, "failed", None, None, message))
            return False
        config = replace(config, threads=self.threads, title=f"{self.name} #{number}",
                         extra={**config.extra, "sweep": self.name, "trial": number})
        run_dir = runs.create_run(config, self.root)
        trial.set_user_attr(store.RUN_ATTR, run_dir.name)
        self.trials[number], self.run_dirs[number] = trial, run_dir
        executor.start(number, run_dir)
        return True

    def _handle(self, executor: Executor, reports: list) -> None:
        import optuna

        for report in reports:
            trial = self.trials.get(report.number)
            if trial is None:
                continue
            if isinstance(report, TrialStarted):
                self.where[report.number] = report.where
                trial.set_user_attr(store.WHERE_ATTR, report.where)
            elif isinstance(report, EpochDone):
                trial.report(report.val_accuracy, report.epoch)
                epochs = runs.read_config(self.run_dirs[report.number]).epochs
                if (report.number in executor.running() and report.number not in self.intents and report.epoch < epochs
                        and trial.should_prune()):
                    self.intents[report.number] = ("pruned", (
                        f"Pruned by the sweep after epoch {report.epoch}: its validation accuracy "
                        f"{percent(report.val_accuracy)} was below the median of the earlier trials at that epoch."))
                    executor.stop(report.number)
            elif isinstance(report, TrialEnded):
                self._tell(trial, report, optuna)

    def _tell(self, trial, report: TrialEnded, optuna) -> None:
        number, run_dir = report.number, self.run_dirs[report.number]
        del self.trials[number]
        run = runs.read_run(run_dir)
        value, state = None, optuna.trial.TrialState.FAIL
        if number in self.intents:
            outcome, message = self.intents.pop(number)
            kept = bool(run.status.model_sha256) and run.model_path.is_file()
            runs.update_status(run_dir, state="stopped" if kept else "failed", partial=True, eta=None,
                               finished_at=time.time(), message=message + (" The model of its last completed epoch "
                                                                           "is kept." if kept else ""))
            if outcome == "pruned":
                state = optuna.trial.TrialState.PRUNED
        elif report.state == "done" and run.status.val_accuracy is not None:
            outcome, message = "complete", report.message
            value, state = float(run.status.val_accuracy), optuna.trial.TrialState.COMPLETE
        else:
            outcome = "stopped" if report.state == "stopped" else "failed"
            message = report.message or ("Stopped by hand." if outcome == "stopped" else "The trial failed.")
        trial.set_user_attr(store.OUTCOME_ATTR, outcome)
        trial.set_user_attr(store.MESSAGE_ATTR, message)
        self.study.tell(trial, value, state=state)
        run = runs.read_run(run_dir)
        self.emit(self._line(number, trial.params, outcome, value, run, message))

    def _line(self, number: int, params: dict, outcome: str, value, run, message: str) -> dict:
        """The JSON line printed for a finished trial."""
        return {"study": self.name, "trial": number, "outcome": outcome, "value": value, "params": params,
                "run": run.name if run else None, "test_accuracy": run.status.test_accuracy if run else None,
                "seconds": round(run.duration, 1) if run and run.duration is not None else None,
                "where": self.where.get(number), "message": message}

    def _fail_interrupted_trials(self) -> None:
        """Trials a previous driver left running: failed as interrupted (they do not count), their runs too.

        Their trainers died with that driver (or, on Dask, when its beat stopped); one still alive is killed.
        """
        import optuna

        for trial in store.read_trials(self.storage, self.name):
            if trial.state != optuna.trial.TrialState.RUNNING:
                continue
            run = runs.find_run(str(trial.user_attrs.get(store.RUN_ATTR) or ""), self.root)
            message = "Interrupted: the sweep's driver ended while it trained."
            if run is not None:
                if run.pid and trainer_is_running(run):
                    try:
                        os.killpg(run.pid, signal.SIGKILL)  # the trainer leads its own process group
                    except (ProcessLookupError, PermissionError):
                        pass
                if runs.read_run(run.dir).state not in ("done", "stopped"):
                    runs.update_status(run.dir, state="failed", message=message, finished_at=time.time(), eta=None)
            trial_id = self.storage.get_trial_id_from_study_id_trial_number(self.study_id, trial.number)
            self.storage.set_trial_user_attr(trial_id, store.OUTCOME_ATTR, "interrupted")
            self.storage.set_trial_user_attr(trial_id, store.MESSAGE_ATTR, message)
            self.study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
