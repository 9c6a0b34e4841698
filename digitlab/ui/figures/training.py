"""Plotly figures of training curves: one run's loss and accuracy, and several runs overlaid."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from digitlab.training.progress import BATCH_ROW_EVERY

SMOOTHING_ALPHA = 0.3  # weight of the newest batch in the moving average: enough to calm the noise, little lag
METRICS = (("loss", "Loss"), ("accuracy", "Accuracy"))


def smooth(values: pd.Series) -> pd.Series:
    """An exponential moving average, debiased at the start (as TensorBoard draws it)."""
    return values.ewm(alpha=SMOOTHING_ALPHA, adjust=True).mean()


def batches_per_epoch(history: pd.DataFrame, reported: int | None = None) -> int:
    """Batches in one epoch: as the run reported it, or as its epoch rows show it."""
    if reported:
        return int(reported)
    epochs = history[history["kind"] == "epoch"]
    largest = epochs["batch"].max() if len(epochs) else history["batch"].max()
    return int(largest) if pd.notna(largest) and largest > 0 else 1


def _training_rows(history: pd.DataFrame) -> pd.DataFrame:
    # Rows are written every few batches; a run with fewer batches per epoch than that has only epoch rows,
    # whose training figures are then the best per-batch curve there is.
    batches = history[history["kind"] == "batch"]
    return batches if len(batches) else history[history["kind"] == "epoch"]


def _validation_rows(history: pd.DataFrame) -> pd.DataFrame:
    return history[(history["kind"] == "epoch") & history["val_loss"].notna()]


def _in_epochs(rows: pd.DataFrame, per_epoch: int) -> pd.Series:
    return rows["step"] / per_epoch


def _line_mode(rows: pd.DataFrame) -> str:
    return "lines" if len(rows) > 2 else "lines+markers"  # a line of one point would not show at all


def _empty_figure(title: str) -> go.Figure:
    figure = make_subplots(rows=1, cols=2, subplot_titles=[label for _, label in METRICS])
    # The legend under the plots, not beside them: on a phone a legend at the side took half the width.
    figure.update_layout(title=title, height=400, margin=dict(t=70, b=40, l=40, r=20),
                         legend=dict(orientation="h", yanchor="top", y=-0.2, x=0))
    for column in (1, 2):
        figure.update_xaxes(title_text="epoch", rangemode="tozero", row=1, col=column)
    figure.update_yaxes(rangemode="tozero", row=1, col=1)
    figure.update_yaxes(range=[0, 1.02], tickformat=".0%", row=1, col=2)
    return figure


def training_curves_figure(history: pd.DataFrame, reported_batches_per_epoch: int | None = None,
                           title: str = "Training curves") -> go.Figure:
    """Loss and accuracy side by side: training every BATCH_ROW_EVERY batches, its smoothed line, and validation per
    epoch."""
    figure = _empty_figure(title)
    per_epoch = batches_per_epoch(history, reported_batches_per_epoch)
    training = _training_rows(history)
    validation = _validation_rows(history)
    colors = {"raw": "rgba(31, 119, 180, 0.3)", "smooth": "rgb(31, 119, 180)", "validation": "rgb(255, 127, 14)"}
    for column, (metric, label) in enumerate(METRICS, start=1):
        first = column == 1  # one legend entry per kind of line, not one per subplot
        x = _in_epochs(training, per_epoch)
        figure.add_trace(go.Scatter(x=x, y=training[metric], mode=_line_mode(training),
                                    name=f"training (per {BATCH_ROW_EVERY} batches)",
                                    line=dict(color=colors["raw"], width=1), legendgroup="raw", showlegend=first),
                         row=1, col=column)
        figure.add_trace(go.Scatter(x=x, y=smooth(training[metric]), mode=_line_mode(training),
                                    name="training (smoothed)",
                                    line=dict(color=colors["smooth"], width=2), legendgroup="smooth",
                                    showlegend=first), row=1, col=column)
        figure.add_trace(go.Scatter(x=_in_epochs(validation, per_epoch), y=validation[f"val_{metric}"],
                                    mode="lines+markers", name="validation (per epoch)",
                                    line=dict(color=colors["validation"], width=2), legendgroup="validation",
                                    showlegend=first), row=1, col=column)
    return figure


def overlay_figure(runs: list[tuple[str, pd.DataFrame, int | None]]) -> go.Figure:
    """Several runs in one chart: smoothed training (dotted) and validation (solid) per run, a color each."""
    figure = _empty_figure("Runs compared")
    palette = qualitative.Plotly
    for index, (label, history, reported) in enumerate(runs):
        color = palette[index % len(palette)]
        per_epoch = batches_per_epoch(history, reported)
        training = _training_rows(history)
        validation = _validation_rows(history)
        for column, (metric, _) in enumerate(METRICS, start=1):
            first = column == 1
            figure.add_trace(go.Scatter(x=_in_epochs(training, per_epoch), y=smooth(training[metric]),
                                        mode=_line_mode(training),
                                        name=f"{label} training", line=dict(color=color, width=1.5, dash="dot"),
                                        legendgroup=label, showlegend=first), row=1, col=column)
            figure.add_trace(go.Scatter(x=_in_epochs(validation, per_epoch), y=validation[f"val_{metric}"],
                                        mode="lines+markers", name=f"{label} validation",
                                        line=dict(color=color, width=2), legendgroup=label, showlegend=first),
                             row=1, col=column)
    return figure
