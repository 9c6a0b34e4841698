"""What a sweep found: its trials as rows, its best trial, and whether the best beat the default settings.

The best trial is the one with the highest validation accuracy (what the sweep maximised); its MNIST test
accuracy is reported beside it, never used to choose. The default settings are the sweep's baseline trial,
the base recipe's own values (digitlab.training.sweeps.driver enqueues it first).
"""

from __future__ import annotations

from dataclasses import dataclass

from digitlab.store import run_folder as runs
from digitlab.store.run_folder import Run
from digitlab.store.shares import percent
from digitlab.training.sweeps import study_store as store


@dataclass
class SweepResults:
    """A sweep and its trials, read at one moment."""

    sweep: store.SweepState
    trials: list  # optuna FrozenTrial, by number

    def run_of(self, trial) -> Run | None:
        return runs.find_run(str(trial.user_attrs.get(store.RUN_ATTR) or ""))

    @property
    def complete(self) -> list:
        return [trial for trial in self.trials if trial.state.name == "COMPLETE" and trial.value is not None]

    @property
    def best(self):
        return max(self.complete, key=lambda trial: trial.value, default=None)

    @property
    def baseline(self):
        """The default settings' trial: the one that finished, else the latest (a sweep resumed after it was
        stopped runs the default settings again)."""
        baselines = [trial for trial in self.trials if trial.user_attrs.get(store.BASELINE_ATTR)]
        return next((trial for trial in baselines if trial.state.name == "COMPLETE"), baselines[-1] if baselines
                    else None)

    @property
    def beat_default(self) -> bool | None:
        """Whether the best trial's validation accuracy is above the default settings'; None with nothing to compare."""
        best, baseline = self.best, self.baseline
        if best is None or baseline is None or baseline.state.name != "COMPLETE":
            return None
        return best.value > baseline.value

    def rows(self) -> list[dict]:
        """One row per trial, for a table: number, outcome, accuracies, parameters, run and where it ran."""
        rows = []
        for trial in self.trials:
            run = self.run_of(trial)
            where = trial.user_attrs.get(store.WHERE_ATTR) or {}
            rows.append({"Trial": trial.number, "Outcome": _outcome(trial, run),
                         # a pruned trial's value is its last epoch's, not a finished run's: its note says which
                         "Validation accuracy": trial.value if trial.state.name == "COMPLETE" else None,
                         "Test accuracy": run.status.test_accuracy if run else None,
                         **{name: value for name, value in trial.params.items()},
                         "Default settings": bool(trial.user_attrs.get(store.BASELINE_ATTR)),
                         "Run": run.name if run else trial.user_attrs.get(store.RUN_ATTR),
                         "Where": " · ".join(filter(None, [where.get("host"), where.get("gpu")])) or None,
                         "Seconds": round(run.duration) if run and run.duration is not None else None,
                         "Note": trial.user_attrs.get(store.MESSAGE_ATTR) if _outcome(trial, run) != "complete"
                         else None})
        return rows

    def verdict(self) -> str:
        """Whether the best trial beat the default settings, in a sentence (validation, and test beside it)."""
        best, baseline = self.best, self.baseline
        if best is None:
            return "No trial has finished yet."
        described = (f"trial #{best.number} ({_params(best)}): {percent(best.value)} validation accuracy"
                     f"{self._test(best)}")
        if baseline is None or baseline.state.name != "COMPLETE":
            reason = ("the default settings lie outside the searched ranges" if baseline is None
                      else f"the default settings' trial #{baseline.number} did not finish")
            return f"Best: {described}. Nothing to compare it with: {reason}."
        if not self.beat_default:
            return (f"No trial beat the default settings (trial #{baseline.number}, {percent(baseline.value)} "
                    f"validation accuracy{self._test(baseline)}).")
        return (f"Best: {described}. It beat the default settings (trial #{baseline.number}: {percent(baseline.value)}"
                f"{self._test(baseline)}) by {100 * (best.value - baseline.value):.2f} points of validation accuracy.")

    def _test(self, trial) -> str:
        run = self.run_of(trial)
        accuracy = run.status.test_accuracy if run else None
        return f", {percent(accuracy)} on MNIST test" if accuracy is not None else ""


def sweep_results(storage, name: str) -> SweepResults:
    return SweepResults(store.read_sweep(storage, name), store.read_trials(storage, name))


def _outcome(trial, run: Run | None) -> str:
    if trial.state.name == "RUNNING":
        return run.state if run is not None and run.is_active else "running"
    if trial.state.name == "WAITING":
        return "waiting"
    return str(trial.user_attrs.get(store.OUTCOME_ATTR) or trial.state.name.lower())


def _params(trial) -> str:
    return ", ".join(f"{name}={value:.3g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in trial.params.items())
