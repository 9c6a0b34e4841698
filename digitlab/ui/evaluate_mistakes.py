"""The Evaluate page's mistakes: the confusion matrix, the gallery of mistakes a click on it filters, a closer look.

The two digit boxes above the gallery are the one record of the filter: a click on a matrix cell sets them.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from digitlab.datasets.mnist import Mnist
from digitlab.evaluation.metrics import Evaluation, misclassified
from digitlab.ui.digit_reading import send_to_draw_page
from digitlab.ui.evaluate_gallery import show_gallery
from digitlab.ui.figures.evaluation import confusion_figure
from digitlab.ui.figures.probabilities import pixel_image, probability_chart
from digitlab.ui.formatting import counted, percent, verb
from digitlab.ui.page_memory import remember_across_pages

CHART_KEY = "evaluate_confusion_chart"
ROW_RATES_KEY = "evaluate_row_rates"
TRUE_DIGIT_KEY = "evaluate_true_digit"
PREDICTED_DIGIT_KEY = "evaluate_predicted_digit"
MISTAKES_PAGE_KEY = "evaluate_mistakes_page"
CLOSER_LOOK_KEY = "evaluate_closer_look"
DIGIT_CHOICES = [None, *range(10)]  # None: any digit


# --- confusion matrix -------------------------------------------------------------------------------


def show_confusion_matrix(evaluation: Evaluation) -> None:
    """The matrix of true against predicted digits; a click on a cell filters the mistakes below."""
    st.subheader("Confusion matrix")
    row_rates = st.toggle("Show rates (share of each true digit)", key=ROW_RATES_KEY)
    st.caption("Rows are the true digit, columns the model's prediction. The diagonal (right answers) is greyed "
               "out so the mistakes stand out. Click a cell to see its images below.")
    figure = confusion_figure(evaluation.confusion, row_rates, highlighted_cell())
    st.plotly_chart(figure, key=CHART_KEY, on_select=_filter_by_selected_cell, selection_mode="points",
                    config={"displayModeBar": False}, width="content")


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
    """The cell the digit boxes filter on, outlined in the matrix; None while either box says any digit."""
    true_digit = st.session_state.get(TRUE_DIGIT_KEY)
    predicted_digit = st.session_state.get(PREDICTED_DIGIT_KEY)
    if true_digit is None or predicted_digit is None:
        return None
    return true_digit, predicted_digit


# --- mistakes ---------------------------------------------------------------------------------------


def describe_digit(digit: int | None) -> str:
    return "any digit" if digit is None else str(digit)


def _show_first_page_of_mistakes() -> None:
    st.session_state[MISTAKES_PAGE_KEY] = 1


def show_mistakes(evaluation: Evaluation, mnist: Mnist, images: str = "test images") -> None:
    """The misclassified images of the chosen cell, most confident first, then a closer look at one.

    images names what was evaluated: MNIST's test images, or the drawing bank's drawings."""
    st.subheader(f"Misclassified {images}")
    true_box, predicted_box, _ = st.columns([1, 1, 2])
    remember_across_pages(TRUE_DIGIT_KEY, PREDICTED_DIGIT_KEY, ROW_RATES_KEY)  # a mistake opened on Draw, and back
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
    st.caption(f"{counted(indices.size, 'misclassified image', bold=True)} {verb(indices.size, 'matches', 'match')} "
               f"({what}). Most confident mistakes first; each caption reads true → predicted · confidence.")
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

