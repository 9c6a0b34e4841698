"""Evaluate page sections about trust and structure: reliability diagram, a map of the test set, hardest images."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from digitlab.evaluation.calibration import RELIABILITY_BINS, expected_calibration_error, hardest_examples, per_image_loss, reliability_bins
from digitlab.datasets.mnist import Mnist
from digitlab.evaluation.metrics import Evaluation
from digitlab.store.registry import ModelEntry

MAP_PANEL_KEY = "evaluate_map_panel"
MAP_CHART_KEY = "evaluate_map_chart"
MAP_SELECTION_PAGE_KEY = "evaluate_map_page"
HARDEST_PAGE_KEY = "evaluate_hardest_page"
HARDEST_COUNT = 48
DIGIT_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]  # plotly's ten, one per digit
SHADES = " ░▒▓█"  # hover pictures: a 14x14 digit drawn with these, darkest ink last


# --- calibration ---------------------------------------------------------------------------------------------


def show_calibration(evaluation: Evaluation) -> None:
    st.subheader("Can its confidence be trusted?")
    ece = expected_calibration_error(evaluation.probabilities, evaluation.labels)
    st.metric("Expected calibration error", f"{ece:.2%}",
              help=f"The gap between confidence and accuracy, averaged over {RELIABILITY_BINS} confidence bins "
                   "weighted by how many answers fall in each. 0% is perfectly calibrated.")
    st.caption("Each bar is the accuracy of the answers given with that much confidence; on the dashed line, "
               "confidence means exactly what it says. Bars below the line: overconfident.")
    st.plotly_chart(reliability_figure(evaluation), config={"displayModeBar": False})


def reliability_figure(evaluation: Evaluation) -> go.Figure:
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


# --- hardest examples ----------------------------------------------------------------------------------------


def show_hardest(evaluation: Evaluation, mnist: Mnist) -> None:
    from digitlab.ui.evaluate_view import show_gallery

    st.subheader("Hardest test images")
    st.caption("The images with the highest loss (the least probability given to the true digit), right or "
               "wrong; often mislabelled or truly ambiguous. Each caption reads true → predicted · loss.")
    indices = hardest_examples(evaluation.probabilities, evaluation.labels, HARDEST_COUNT)
    loss = per_image_loss(evaluation.probabilities, evaluation.labels)

    def caption(index: int) -> str:
        return f"{evaluation.labels[index]} → {evaluation.predictions[index]} · {loss[index]:.1f}"

    show_gallery(indices, mnist, caption, HARDEST_PAGE_KEY)


# --- the map -----------------------------------------------------------------------------------------------


def show_test_map(entry: ModelEntry, evaluation: Evaluation, mnist: Mnist) -> None:
    """The test set laid out by the model's embedding; computed on first opening, once per model."""
    panel = st.expander("Map of the test set, as the model sees it", key=MAP_PANEL_KEY,
                        icon=":material/scatter_plot:", on_change="rerun")
    if not panel.open:
        return
    with panel:
        test_map = _test_map(entry, evaluation, mnist)
        if test_map is None:
            return
        st.caption(f"{test_map.indices.size:,} test images (every mistake and a random sample of the rest) placed "
                   "by t-SNE on the model's penultimate-layer embedding: images the model finds alike sit close. "
                   "Colour is the true digit; circled points are mistakes. Hover to see a digit; drag a box or "
                   "lasso to show the images below.")
        figure = map_figure(test_map.indices, test_map.coordinates, evaluation, mnist)
        state = st.plotly_chart(figure, key=MAP_CHART_KEY, on_select="rerun", selection_mode=("box", "lasso", "points"))
        chosen = selected_test_indices(state, figure)
        if chosen.size:
            from digitlab.ui.evaluate_view import show_gallery

            st.caption(f"**{chosen.size:,}** selected; each caption reads true → predicted.")
            show_gallery(chosen, mnist, lambda i: f"{evaluation.labels[i]} → {evaluation.predictions[i]}",
                         MAP_SELECTION_PAGE_KEY)


def _test_map(entry: ModelEntry, evaluation: Evaluation, mnist: Mnist):
    from digitlab.evaluation.embedding_map import build_test_map, read_test_map

    stored = read_test_map(entry.sha256)
    if stored is not None:
        return stored
    from digitlab.explain.explainer import ExplainError, cached_embeddings
    from digitlab.ui.loaders import load_predictor
    from digitlab.ui.why_panel import load_explainer

    try:
        explainer = load_explainer(entry, load_predictor(entry))
    except ExplainError as error:
        st.info(f"This model has no embedding to map: {error}")
        return None
    bar = st.progress(0.0, text="Embedding the test images (once per model)...")
    embeddings = cached_embeddings(explainer, mnist.x_test, entry.sha256, "test",
                                   progress=lambda done, total: bar.progress(done / total, text=f"Embedding the test "
                                                                             f"images: {done:,} of {total:,}"))
    bar.progress(1.0, text="Laying out the map with t-SNE (once per model, about ten seconds)...")
    test_map = build_test_map(embeddings, evaluation.predictions, evaluation.labels, entry.sha256)
    bar.empty()
    return test_map


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


def selected_test_indices(state, figure: go.Figure) -> np.ndarray:
    """The test indices of the selected points, in test-set order, each once."""
    points = ((state or {}).get("selection") or {}).get("points") or []
    chosen = set()
    for point in points:
        curve, position = point.get("curve_number"), point.get("point_index")
        if isinstance(curve, int) and isinstance(position, int) and curve < len(figure.data):
            data = figure.data[curve].customdata
            if data is not None and position < len(data):
                chosen.add(int(data[position]))
    return np.array(sorted(chosen), dtype=np.int64)
