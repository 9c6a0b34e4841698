"""A sweep's figures, drawn by Optuna's own plotly visualisations: optimisation history, parallel coordinates and
parameter importances."""

from __future__ import annotations

import plotly.graph_objects as go

TARGET = "Validation accuracy"
MIN_TRIALS_FOR_IMPORTANCE = 4  # fewer finished trials say more about chance than about the parameters
FIGURE_HEIGHT = 380


def _styled(figure: go.Figure, title: str) -> go.Figure:
    figure.update_layout(title=title, height=FIGURE_HEIGHT, margin=dict(l=10, r=10, t=50, b=10))
    return figure


def history_figure(study) -> go.Figure:
    """Each finished trial's validation accuracy in the order they ran, with the best so far."""
    from optuna.visualization import plot_optimization_history

    figure = plot_optimization_history(study, target_name=TARGET)
    figure.update_yaxes(tickformat=".1%")
    return _styled(figure, "Optimisation history")


def parallel_figure(study) -> go.Figure:
    """Every finished trial as a line through its parameters to its validation accuracy."""
    from optuna.visualization import plot_parallel_coordinate

    return _styled(plot_parallel_coordinate(study, target_name=TARGET), "Parameters against validation accuracy")


def importance_figure(study, finished: int) -> go.Figure | None:
    """How much of the accuracy's variation each parameter explains (fANOVA, seeded so it does not flicker);
    None until there are enough finished trials, or when they do not vary."""
    if finished < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    from optuna.importance import FanovaImportanceEvaluator
    from optuna.visualization import plot_param_importances

    try:
        figure = plot_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=0), target_name=TARGET)
    except (RuntimeError, ValueError):  # e.g. every finished trial has the same accuracy: nothing to explain
        return None
    return _styled(figure, "Parameter importances")
