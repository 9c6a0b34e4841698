"""The Evaluate page: the selected model's metrics, confusion matrix, mistakes and a second opinion."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from digitlab.datasets.mnist import Mnist, MnistUnavailableError, load_mnist
from digitlab.evaluation.metrics import Evaluation, cached_evaluation, disagreements, evaluate_model, misclassified
from digitlab.store.registry import ModelEntry, ModelLoadError, list_models
from digitlab.ui.bank_evaluation import bank_evaluation, dataset_switch
from digitlab.ui.digit_reading import send_to_draw_page
from digitlab.ui.evaluate_insights import show_calibration, show_hardest, show_test_map
from digitlab.ui.figures.probabilities import pixel_image, probability_chart
from digitlab.ui.loaders import load_predictor

SELECTED_MODEL_KEY = "selected_model"  # set by app.py from the sidebar
CHART_KEY = "evaluate_confusion_chart"
ROW_RATES_KEY = "evaluate_row_rates"
TRUE_DIGIT_KEY = "evaluate_true_digit"
PREDICTED_DIGIT_KEY = "evaluate_predicted_digit"
MISTAKES_PAGE_KEY = "evaluate_mistakes_page"
COMPARE_MODEL_KEY = "evaluate_compare_model"
DISAGREEMENTS_PAGE_KEY = "evaluate_disagreements_page"

DIGIT_CHOICES = [None, *range(10)]  # None: any digit
GALLERY_COLUMNS = 8
GALLERY_ROWS = 3
PIXEL_SCALE = 4  # each MNIST pixel becomes a 4x4 block: 112 px images with every pixel visible
TABLE_ROW_HEIGHT = 35  # px, Streamlit's default dataframe row height
CELL_MARKER_SIZE = 38  # px; the invisible click target over each cell, about a cell wide
MATRIX_SIZE = 520  # px; a fixed square, so the colour bar sits right beside the matrix
CLOSER_LOOK_KEY = "evaluate_closer_look"


def percent(value: float) -> str:
    """Every share on the page in one format: 97.23%."""
    return f"{value:.2%}"


def evaluate_page() -> None:
    """Draw the whole page for the model chosen in the sidebar."""
    st.title("Evaluate")
    entry = selected_model()
    if entry is None:
        st.info("No usable model to evaluate. Train one on the Train page, or restore models/default.keras.")
        return
    dataset = dataset_switch()
    try:
        if dataset.bank:
            evaluated = bank_evaluation(entry, dataset.writer)
            if evaluated is None:
                return
            evaluation, mnist = evaluated
        else:
            mnist = load_mnist()
            evaluation = evaluation_for(entry)
    except MnistUnavailableError as error:
        st.error(f"The MNIST test set is needed to evaluate a model, and it could not be loaded.\n\n{error}")
        return
    except ModelLoadError as error:
        st.error(f"{error} Choose another model in the sidebar.")
        return
    what = f"labelled drawings in the drawing bank{f' by {dataset.writer}' if dataset.writer else ''}" \
        if dataset.bank else "MNIST test images"
    st.caption(f"Model **{entry.label}** on the {evaluation.n:,} {what}.")
    show_headline(evaluation)
    show_confusion_matrix(evaluation)
    show_mistakes(evaluation, mnist)
    show_confidence(evaluation)
    show_calibration(evaluation)
    show_hardest(evaluation, mnist)
    if not dataset.bank:  # the map and the second model are of MNIST test
        show_test_map(entry, evaluation, mnist)
        show_comparison(entry, evaluation, mnist)


def selected_model() -> ModelEntry | None:
    # Not set when the page runs without app.py: `streamlit run pages/evaluate.py`, or a first visit straight
    # to /evaluate, which Streamlit serves in its legacy pages/-folder mode. Draw the picker here instead.
    if SELECTED_MODEL_KEY not in st.session_state:
        from digitlab.ui.sidebar import model_sidebar

        return model_sidebar()
    return st.session_state[SELECTED_MODEL_KEY]


def evaluation_for(entry: ModelEntry) -> Evaluation:
    """The model's evaluation: from memory, else from the disk cache, else computed (a few seconds)."""
    if not entry.usable:
        raise ModelLoadError(f"Model '{entry.name}' cannot be used: {entry.problem}.")
    return _evaluation_for(entry.sha256, entry)


@st.cache_data(show_spinner="Evaluating the model on the 10,000 MNIST test images (once per model)...",
               max_entries=16)
def _evaluation_for(sha256: str, _entry: ModelEntry) -> Evaluation:
    # Keyed by the file's hash alone: identical files give identical results, and a changed file is a
    # new key. The disk cache is tried before the model is loaded, so a known model needs no Keras.
    stored = cached_evaluation(sha256)
    if stored is not None:
        return stored
    return evaluate_model(load_predictor(_entry), model_sha256=sha256)


def show_headline(evaluation: Evaluation) -> None:
    accuracy, errors, macro_f1 = st.columns(3)
    accuracy.metric("Accuracy", percent(evaluation.accuracy))
    errors.metric("Errors", f"{evaluation.errors:,} of {evaluation.n:,}")
    macro_f1.metric("Macro F1", percent(evaluation.macro["f1"]), help="The mean of the ten digits' F1 scores.")
    table = metrics_table(evaluation)
    st.dataframe(
        table,
        hide_index=True,
        height=TABLE_ROW_HEIGHT * (len(table) + 1) + 3,  # every row and the header, no scrolling
        column_config={
            **{name: st.column_config.NumberColumn(name, format="%.2f%%") for name in ("Precision", "Recall", "F1")},
            "Support": st.column_config.NumberColumn("Support", format="localized"),
        },
    )


def metrics_table(evaluation: Evaluation) -> pd.DataFrame:
    """One row per digit and a last row of macro averages."""
    # Shares are stored as percentages so the table prints them as the rest of the page does (97.23%).
    rows = [{"Digit": str(row["digit"]), "Precision": 100 * row["precision"], "Recall": 100 * row["recall"],
             "F1": 100 * row["f1"], "Support": row["support"]} for row in evaluation.per_class]
    macro = evaluation.macro
    rows.append({"Digit": "Macro average", "Precision": 100 * macro["precision"], "Recall": 100 * macro["recall"],
                 "F1": 100 * macro["f1"], "Support": macro["support"]})
    return pd.DataFrame(rows)


# --- confusion matrix -------------------------------------------------------------------------------


def show_confusion_matrix(evaluation: Evaluation) -> None:
    st.subheader("Confusion matrix")
    row_rates = st.toggle("Show rates (share of each true digit)", key=ROW_RATES_KEY)
    st.caption("Rows are the true digit, columns the model's prediction. The diagonal (right answers) is greyed "
               "out so the mistakes stand out. Click a cell to see its images below.")
    figure = confusion_figure(evaluation.confusion, row_rates, highlighted_cell())
    st.plotly_chart(figure, key=CHART_KEY, on_select=_filter_by_selected_cell, selection_mode="points",
                    config={"displayModeBar": False}, width="content")


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


def selected_cell(chart_state) -> tuple[int, int] | None:
    """The (true, predicted) cell the user clicked, from the chart's selection state."""
    points = ((chart_state or {}).get("selection") or {}).get("points") or []
    for point in points:
        if isinstance(point.get("x"), (int, float)) and isinstance(point.get("y"), (int, float)):
            return int(round(point["y"])), int(round(point["x"]))
    return None


def _filter_by_selected_cell() -> None:
    # A callback runs before the page is redrawn, so the gallery's filter boxes can still be set here:
    # they stay the one record of the filter, whether it came from a click or from the boxes.
    cell = selected_cell(st.session_state.get(CHART_KEY))
    if cell is not None:
        st.session_state[TRUE_DIGIT_KEY], st.session_state[PREDICTED_DIGIT_KEY] = cell
        st.session_state[MISTAKES_PAGE_KEY] = 1


def highlighted_cell() -> tuple[int, int] | None:
    true_digit = st.session_state.get(TRUE_DIGIT_KEY)
    predicted_digit = st.session_state.get(PREDICTED_DIGIT_KEY)
    if true_digit is None or predicted_digit is None:
        return None
    return true_digit, predicted_digit


# --- galleries --------------------------------------------------------------------------------------


def describe_digit(digit: int | None) -> str:
    return "any digit" if digit is None else str(digit)


def _show_first_page_of_mistakes() -> None:
    st.session_state[MISTAKES_PAGE_KEY] = 1


def show_mistakes(evaluation: Evaluation, mnist: Mnist) -> None:
    st.subheader("Misclassified test images")
    true_box, predicted_box, _ = st.columns([1, 1, 2])
    true_digit = true_box.selectbox("True digit", DIGIT_CHOICES, key=TRUE_DIGIT_KEY, format_func=describe_digit,
                                    on_change=_show_first_page_of_mistakes)
    predicted_digit = predicted_box.selectbox("Predicted as", DIGIT_CHOICES, key=PREDICTED_DIGIT_KEY,
                                              format_func=describe_digit, on_change=_show_first_page_of_mistakes)
    if true_digit is not None and true_digit == predicted_digit:
        right = int(evaluation.confusion[true_digit, true_digit])
        total = int(evaluation.confusion[true_digit].sum())
        st.info(f"That cell holds the right answers: {right:,} of the {total:,} {true_digit}s were read as "
                f"{true_digit} ({percent(right / total if total else 0.0)}). Click a cell off the diagonal, or pick "
                "two different digits, to see mistakes.")
        return
    indices = misclassified(evaluation, true_digit, predicted_digit, sort="confidence")
    what = f"true {describe_digit(true_digit)}, predicted as {describe_digit(predicted_digit)}"
    if indices.size == 0:
        st.success(f"No mistakes match ({what}).")
        return
    st.caption(f"**{indices.size:,}** misclassified image(s) match ({what}). Most confident mistakes first; "
               "each caption reads true → predicted · confidence.")
    confidence = evaluation.confidence

    def caption(index: int) -> str:
        return f"{evaluation.labels[index]} → {evaluation.predictions[index]} · {percent(confidence[index])}"

    show_gallery(indices, mnist, caption, MISTAKES_PAGE_KEY)
    show_closer_look(indices, evaluation, mnist)


def show_closer_look(indices: np.ndarray, evaluation: Evaluation, mnist: Mnist) -> None:
    """One of the mistakes enlarged, with the model's probability for every digit."""
    choices = [int(index) for index in indices[:200]]
    chosen = st.selectbox("Look closer at one of them", choices, index=None, key=CLOSER_LOOK_KEY,
                          placeholder="Choose an image to see all ten probabilities",
                          format_func=lambda index: f"test image {index:,}: a {evaluation.labels[index]} read as "
                                                    f"{evaluation.predictions[index]}")
    if chosen is None or chosen not in choices:
        return
    picture, bars = st.columns([1, 3])
    picture.image(pixel_image(mnist.x_test[chosen], 7), caption=f"true {evaluation.labels[chosen]}")
    with bars:
        st.plotly_chart(probability_chart(evaluation.probabilities[chosen][:10]), config={"displayModeBar": False},
                        key="evaluate-closer-look-chart")
    if st.button("Open it on the Draw page", key="evaluate-open-on-draw",
                 help="Read it there with the Why? panel: what the model looked at and what it resembles."):
        send_to_draw_page(mnist.x_test[chosen], f"MNIST test image {chosen:,} (a {evaluation.labels[chosen]})")
        st.switch_page("pages/draw.py")


def show_gallery(indices: np.ndarray, mnist: Mnist, caption: Callable[[int], str], page_key: str) -> None:
    """A page of enlarged test images in a grid, with a page picker when there is more than one page."""
    per_page = GALLERY_COLUMNS * GALLERY_ROWS
    pages = max(1, -(-indices.size // per_page))
    if st.session_state.get(page_key, 1) > pages:  # the filter shrank the list under the page shown
        st.session_state[page_key] = pages
    page = 1
    if pages > 1:
        picker, _ = st.columns([1, 3])
        page = picker.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=page_key)
    shown = indices[(page - 1) * per_page : page * per_page]
    for row_start in range(0, shown.size, GALLERY_COLUMNS):
        columns = st.columns(GALLERY_COLUMNS)
        for column, index in zip(columns, shown[row_start : row_start + GALLERY_COLUMNS]):
            column.image(pixel_image(mnist.x_test[index], PIXEL_SCALE, grid=False), caption=caption(int(index)))


# --- confidence -------------------------------------------------------------------------------------


def show_confidence(evaluation: Evaluation) -> None:
    st.subheader("How sure was the model?")
    st.caption("The probability the model gave its own answer, for right and for wrong answers. Each group is "
               "shown as shares of itself, so the few mistakes are as visible as the many right answers.")
    st.plotly_chart(confidence_figure(evaluation), config={"displayModeBar": False})


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


# --- comparison -------------------------------------------------------------------------------------


def per_class_changes(first: Evaluation, second: Evaluation) -> pd.DataFrame:
    """Each digit's recall under model A and model B, and B's change in percentage points."""
    rows = []
    for row_a, row_b in zip(first.per_class, second.per_class):
        rows.append({"Digit": str(row_a["digit"]), "Recall A": percent(row_a["recall"]),
                     "Recall B": percent(row_b["recall"]), "Change": 100 * (row_b["recall"] - row_a["recall"])})
    return pd.DataFrame(rows)


def show_comparison(entry: ModelEntry, evaluation: Evaluation, mnist: Mnist) -> None:
    st.subheader("Compare with another model")
    others = {other.name: other for other in list_models() if other.usable and other.name != entry.name}
    if not others:
        st.caption("There is no other model to compare with. Train one on the Train page; finished runs appear here.")
        return
    choice = st.selectbox("Second model", list(others), index=None, placeholder="Choose a model",
                          key=COMPARE_MODEL_KEY, format_func=lambda name: others[name].label)
    if choice is None:
        return
    other = others[choice]
    try:
        other_evaluation = evaluation_for(other)
    except ModelLoadError as error:
        st.error(f"{error} Choose another model to compare with.")
        return
    differing = disagreements(evaluation, other_evaluation)
    first, second, apart = st.columns(3)
    first.metric(f"A: {entry.name}", percent(evaluation.accuracy))
    second.metric(f"B: {other.name}", percent(other_evaluation.accuracy),
                  delta=f"{(other_evaluation.accuracy - evaluation.accuracy) * 100:+.2f} points")
    apart.metric("Test images they disagree on", f"{differing.size:,}")
    st.dataframe(per_class_changes(evaluation, other_evaluation), hide_index=True,
                 column_config={"Change": st.column_config.NumberColumn("Change (points)", format="%+.2f")})
    if differing.size == 0:
        st.success("The two models give the same answer on every test image.")
        return
    labels = evaluation.labels
    a_right = evaluation.predictions[differing] == labels[differing]
    b_right = other_evaluation.predictions[differing] == labels[differing]
    st.caption(f"Only A right: **{int(a_right.sum()):,}** · only B right: **{int(b_right.sum()):,}** · "
               f"both wrong: **{int((~a_right & ~b_right).sum()):,}**. Each caption reads true · A's answer · "
               "B's answer.")

    def caption(index: int) -> str:
        return f"{labels[index]} · A {evaluation.predictions[index]} · B {other_evaluation.predictions[index]}"

    show_gallery(differing, mnist, caption, DISAGREEMENTS_PAGE_KEY)
