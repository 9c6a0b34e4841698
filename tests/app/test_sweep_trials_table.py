"""The Sweep section's trials table: a figure or a dash in every cell, as the runs table shows runs."""

from __future__ import annotations

import optuna
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState

from digitlab.store.run_config import TrainConfig
from digitlab.training.sweeps import study_store as store
from digitlab.training.sweeps.results import SweepResults
from digitlab.ui.sweep_view import trials_table


def _trial(number: int, state: TrialState, value: float | None, **attrs):
    trial = optuna.trial.create_trial(state=state, value=value, params={"lr": 1e-3 * (number + 1)},
                                      distributions={"lr": FloatDistribution(1e-6, 1e-2, log=True)},
                                      user_attrs=attrs, intermediate_values={1: 0.5} if value is None else None)
    trial.number = number
    return trial


def test_a_pruned_and_a_running_trial_show_dashes_not_none():
    """Test that a pruned trial (no final accuracy: its note says why) and a trial still running (no time,
    no host) show '–' in the table, and a finished trial its accuracy as a percentage."""
    spec = store.SweepSpec(base=TrainConfig(arch="mlp", epochs=2), params=["lr=1e-6:1e-2:log"], trials=3, parallel=1)
    sweep = store.SweepState(name="s", spec=spec, driver=None, heartbeat=None, cancel_requested=None, ended=None)
    trials = [_trial(0, TrialState.COMPLETE, 0.9512, **{store.OUTCOME_ATTR: "complete"}),
              _trial(1, TrialState.PRUNED, None, **{store.OUTCOME_ATTR: "pruned",
                                                    store.MESSAGE_ATTR: "Pruned by the sweep after epoch 1."}),
              _trial(2, TrialState.RUNNING, None)]

    table = trials_table(SweepResults(sweep, trials))

    assert list(table["Validation accuracy"]) == ["95.12%", "–", "–"]
    assert list(table["Test accuracy"]) == ["–", "–", "–"], "no run folder, so no test figure"
    assert list(table["Duration"]) == ["–", "–", "–"] and list(table["Where"]) == ["–", "–", "–"]
    assert table.loc[1, "Note"] == "Pruned by the sweep after epoch 1." and table.loc[0, "Note"] == ""
    cells = table.astype(str).to_numpy().ravel().tolist()
    assert not any(cell in ("None", "nan", "NaN", "nan%") for cell in cells), cells
