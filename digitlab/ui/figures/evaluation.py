"""Plotly figures of a model's evaluation: confusion matrix, confidence, calibration and the test-set map."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from digitlab.datasets.mnist import Mnist
from digitlab.evaluation.calibration import reliability_bins
from digitlab.evaluation.metrics import Evaluation
from digitlab.ui.formatting import percent

CELL_MARKER_SIZE = 38  # px; the invisible click target over each cell, about a cell wide
MATRIX_SIZE = 520  # px; a fixed square, so the colour bar sits right beside the matrix
DIGIT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]  # plotly's ten, one per digit
SHADES = " ░▒▓█"  # hover pictures: a 14x14 digit drawn with these, darkest ink last


# --- confusion matrix ---------------------------------------------------------------------------------------


def confusion_figure(confusion: np.ndarray, row_rates: bool = False, highlight: tuple[int, int] | None = None) -> go.Figure:
    """Heatmap of the mistakes, every cell labelled, and one clickable point per off-diagonal cell."""
    counts = np.asarray(confusion)
    digits = list(range(counts.shape[0]))
    totals = counts.sum(axis=1, keepdims=True)
    rates = np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)
    values = rates if row_rates else counts.astype(float)
    off_diagonal = ~np.eye(len(digits), dtype=bool)
    colour_values = np.where(off_diagonal, values, np.nan)  # NaN cells take no colour: the diagonal is masked
    brightest = max(float(np.nanmax(colour_values)) if off_diagonal.any() else 0.0, 1e-9)

    tick_values, tick_texts = colour_bar_ticks(brightest, row_rates)
    figure = go.Figure(go.Heatmap(
        z=colour_values, x=digits, y=digits, colorscale="Reds", zmin=0, zmax=brightest, hoverinfo="skip",
        xgap=1, ygap=1, colorbar={"title": {"text": "share of row" if row_rates else "images"}, "tickvals": tick_values,
                                  "ticktext": tick_texts, "thickness": 14, "xpad": 6},
    ))
    annotations = []
    for true_digit in digits:
        for predicted_digit in digits:
            value = values[true_digit, predicted_digit]
            text = percent(value) if row_rates else f"{int(value):,}"
            if not off_diagonal[true_digit, predicted_digit] or value == 0:
                colour = "#9e9e9e"  # right answers and empty cells: quiet grey
            else:
                colour = "white" if value > 0.55 * brightest else "black"
            annotations.append({"x": predicted_digit, "y": true_digit, "text": text, "showarrow": False,
                                "font": {"color": colour, "size": 12}})

    # Plotly cannot select heatmap cells, so an invisible scatter point over each cell is the click
    # target; Streamlit reports which point was clicked. A diagonal cell says what it holds when clicked.
    true_digits, predicted_digits = np.nonzero(np.ones_like(off_diagonal))
    hover = [(f"true {t} → predicted {p}<br>{counts[t, p]:,} image(s), {percent(rates[t, p])} of the {t}s"
              "<br>click to show them") if t != p else
             f"{counts[t, p]:,} of the {int(totals[t, 0]):,} {t}s read right ({percent(rates[t, p])})"
             for t, p in zip(true_digits, predicted_digits)]
    figure.add_trace(go.Scatter(
        x=predicted_digits, y=true_digits, mode="markers", hovertext=hover, hoverinfo="text", showlegend=False,
        marker={"symbol": "square", "size": CELL_MARKER_SIZE, "opacity": 0, "color": "black"},
        selected={"marker": {"opacity": 0}}, unselected={"marker": {"opacity": 0}},
    ))
    shapes = []
    if highlight is not None:
        true_digit, predicted_digit = highlight
        shapes.append({"type": "rect", "x0": predicted_digit - 0.5, "x1": predicted_digit + 0.5,
                       "y0": true_digit - 0.5, "y1": true_digit + 0.5, "line": {"color": "#1f77b4", "width": 3}})
    figure.update_layout(
        annotations=annotations, shapes=shapes, height=MATRIX_SIZE, width=MATRIX_SIZE + 90,
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        # Fixed ranges: autorange would pad for the click targets' marker size and show empty margins.
        xaxis={"title": "Predicted digit", "tickvals": digits, "side": "top", "showgrid": False, "zeroline": False,
               "range": [-0.5, len(digits) - 0.5], "constrain": "domain", "fixedrange": True},
        yaxis={"title": "True digit", "tickvals": digits, "range": [len(digits) - 0.5, -0.5], "showgrid": False,
               "zeroline": False, "scaleanchor": "x", "constrain": "domain", "fixedrange": True},
        plot_bgcolor="#f3f3f3",  # shows through the masked diagonal
        hoverlabel={"bgcolor": "white"},
    )
    return figure


def colour_bar_ticks(brightest: float, row_rates: bool) -> tuple[list[float], list[str]]:
    """About five round, distinct tick values from 0 to the brightest cell, labelled as the cells are."""
    raw_step = brightest / 4
    magnitude = 10 ** np.floor(np.log10(raw_step)) if raw_step > 0 else 1.0
    step = next(factor * magnitude for factor in (1, 2, 5, 10) if factor * magnitude >= raw_step)
    if not row_rates:
        step = max(1.0, float(np.ceil(step)))  # counts are whole images
    values = [float(value) for value in np.arange(0, brightest + step * 1e-6, step)]
    if row_rates:
        decimals = max(0, int(-np.floor(np.log10(step * 100)))) if step < 0.01 else 0
        texts = [f"{value * 100:.{decimals}f}%" for value in values]
    else:
        texts = [f"{int(value):,}" for value in values]
    return values, texts


# --- confidence and calibration ------------------------------------------------------------------------


def confidence_figure(evaluation: Evaluation) -> go.Figure:
    """Overlaid histograms of predicted-class confidence for right and wrong predictions."""
    confidence = evaluation.confidence
    correct = evaluation.correct
    bins = {"start": 0.0, "end": 1.0, "size": 0.025}
    figure = go.Figure()
    for name, mask, colour in (("right", correct, "#2ca02c"), ("wrong", ~correct, "#d62728")):
        figure.add_trace(go.Histogram(
            x=confidence[mask], name=f"{name} ({int(mask.sum()):,})", histnorm="percent", xbins=bins,
            marker_color=colour, opacity=0.6,
            hovertemplate=f"{name}: %{{y:.1f}}% of them at confidence %{{x}}<extra></extra>",
        ))
    figure.update_layout(
        barmode="overlay", height=320, margin={"l": 10, "r": 10, "t": 10, "b": 10},
        xaxis={"title": "Confidence in the predicted digit", "range": [0, 1], "tickformat": ".0%"},
        yaxis={"title": "Share of the group (%)"}, legend={"orientation": "h", "y": 1.1},
    )
    return figure


def reliability_figure(evaluation: Evaluation) -> go.Figure:
    """The accuracy of each confidence bin as a bar, beside the dashed line of perfect calibration."""
    bins = reliability_bins(evaluation.probabilities, evaluation.labels)
    filled = [row for row in bins if row.count]
    figure = go.Figure()
    figure.add_trace(go.Bar(
        x=[(row.low + row.high) / 2 for row in filled], y=[row.accuracy for row in filled],
        width=[row.high - row.low for row in filled], name="accuracy", marker_color="#1f77b4",
        customdata=[[row.low, row.high, row.count, row.confidence] for row in filled],
        hovertemplate="confidence %{customdata[0]:.0%}–%{customdata[1]:.0%}: %{customdata[2]:,} answers, "
                      "mean confidence %{customdata[3]:.1%}, accuracy %{y:.1%}<extra></extra>",
    ))
    figure.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                                line={"dash": "dash", "color": "#555"}, hoverinfo="skip"))
    figure.update_layout(height=340, margin={"l": 10, "r": 10, "t": 10, "b": 10}, bargap=0.05,
                         xaxis={"title": "Confidence in the predicted digit", "range": [0, 1], "tickformat": ".0%"},
                         yaxis={"title": "Accuracy", "range": [0, 1.02], "tickformat": ".0%"},
                         legend={"orientation": "h", "y": 1.1})
    return figure


# --- the map of the test set ----------------------------------------------------------------------------


def digit_hover_picture(image: np.ndarray) -> str:
    """A 28x28 digit as 14 lines of block characters, for a plotly hover label in a monospace font."""
    small = np.asarray(image, np.float32).reshape(14, 2, 14, 2).mean(axis=(1, 3))
    levels = np.clip((small / 256 * len(SHADES)).astype(int), 0, len(SHADES) - 1)
    return "<br>".join("".join(SHADES[level] for level in row) for row in levels)


def map_figure(indices: np.ndarray, coordinates: np.ndarray, evaluation: Evaluation, mnist: Mnist) -> go.Figure:
    """One trace per true digit, and a last trace of rings around the mistakes; customdata holds test indices."""
    labels = evaluation.labels[indices]
    predictions = evaluation.predictions[indices]
    hover = np.array([f"#{i}: true {t}, predicted {p}<br>{digit_hover_picture(mnist.x_test[i])}"
                      for i, t, p in zip(indices, labels, predictions)], dtype=object)
    figure = go.Figure()
    for digit in range(10):
        mine = labels == digit
        figure.add_trace(go.Scattergl(
            x=coordinates[mine, 0], y=coordinates[mine, 1], mode="markers", name=str(digit),
            marker={"color": DIGIT_COLOURS[digit], "size": 5, "opacity": 0.75},
            customdata=indices[mine], hovertext=hover[mine], hoverinfo="text"))
    wrong = labels != predictions
    figure.add_trace(go.Scattergl(
        x=coordinates[wrong, 0], y=coordinates[wrong, 1], mode="markers", name="mistake",
        marker={"symbol": "circle-open", "size": 11, "color": "black", "line": {"width": 2}},
        customdata=indices[wrong], hovertext=hover[wrong], hoverinfo="text"))
    figure.update_layout(height=560, margin={"l": 10, "r": 10, "t": 10, "b": 10}, dragmode="lasso",
                         hoverlabel={"font": {"family": "monospace", "size": 9}, "bgcolor": "white"},
                         xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x"},
                         legend={"title": {"text": "true digit"}})
    return figure
