"""Evaluate page sections about trust and structure: reliability diagram, a map of the test set, hardest images."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from digitlab.datasets.mnist import Mnist
from digitlab.evaluation.calibration import RELIABILITY_BINS, expected_calibration_error, hardest_examples, per_image_loss
from digitlab.evaluation.metrics import Evaluation
from digitlab.store.registry import ModelEntry
from digitlab.ui.evaluate_gallery import show_gallery
from digitlab.ui.figures.evaluation import map_figure, reliability_figure

MAP_PANEL_KEY = "evaluate_map_panel"
MAP_CHART_KEY = "evaluate_map_chart"
MAP_SELECTION_PAGE_KEY = "evaluate_map_page"
HARDEST_PAGE_KEY = "evaluate_hardest_page"
HARDEST_COUNT = 48


# --- calibration ---------------------------------------------------------------------------------------------


def show_calibration(evaluation: Evaluation) -> None:
    """The expected calibration error and the reliability diagram."""
    st.subheader("Can its confidence be trusted?")
    ece = expected_calibration_error(evaluation.probabilities, evaluation.labels)
    st.metric("Expected calibration error", f"{ece:.2%}",
              help=f"The gap between confidence and accuracy, averaged over {RELIABILITY_BINS} confidence bins "
                   "weighted by how many answers fall in each. 0% is perfectly calibrated.")
    st.caption("Each bar is the accuracy of the answers given with that much confidence; on the dashed line, "
               "confidence means exactly what it says. Bars below the line: overconfident.")
    st.plotly_chart(reliability_figure(evaluation), config={"displayModeBar": False})


# --- hardest examples ----------------------------------------------------------------------------------------


def show_hardest(evaluation: Evaluation, mnist: Mnist, images: str = "test images") -> None:
    """The images (MNIST's test images, or the bank's drawings) with the highest loss, right or wrong."""
    st.subheader(f"Hardest {images}")
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
            st.caption(f"**{chosen.size:,}** selected; each caption reads true → predicted.")
            show_gallery(chosen, mnist, lambda i: f"{evaluation.labels[i]} → {evaluation.predictions[i]}",
                         MAP_SELECTION_PAGE_KEY)


def _test_map(entry: ModelEntry, evaluation: Evaluation, mnist: Mnist):
    from digitlab.evaluation.embedding_map import build_test_map, read_test_map

    stored = read_test_map(entry.sha256)
    if stored is not None:
        return stored
    from digitlab.explain.layers import ExplainError
    from digitlab.explain.neighbours import cached_embeddings
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
