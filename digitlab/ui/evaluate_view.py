"""The Evaluate page: the selected model's metrics, then each section in turn, and a second opinion."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from digitlab.datasets.mnist import Mnist, MnistUnavailableError, load_mnist
from digitlab.evaluation.metrics import Evaluation, cached_evaluation, disagreements, evaluate_model
from digitlab.store.model_names import model_argument
from digitlab.store.registry import ModelEntry, ModelLoadError, list_models
from digitlab.ui.formatting import counted, plain_markdown, table_column_px
from digitlab.ui.bank_evaluation import bank_evaluation, dataset_switch
from digitlab.ui.evaluate_gallery import show_gallery
from digitlab.ui.evaluate_insights import show_calibration, show_hardest, show_test_map
from digitlab.ui.evaluate_mistakes import show_confusion_matrix, show_mistakes
from digitlab.ui.figures.evaluation import confidence_figure
from digitlab.ui.formatting import percent
from digitlab.ui.loaders import load_predictor
from digitlab.ui.sidebar import model_sidebar

SELECTED_MODEL_KEY = "selected_model"  # set by app.py from the sidebar
COMPARE_MODEL_KEY = "evaluate_compare_model"
DISAGREEMENTS_PAGE_KEY = "evaluate_disagreements_page"
TABLE_ROW_HEIGHT = 35  # px, Streamlit's default dataframe row height


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
    what = (counted(evaluation.n, "labelled drawing") + " in the drawing bank"
            + (f" by {plain_markdown(dataset.writer)}" if dataset.writer else "")) if dataset.bank \
        else counted(evaluation.n, "MNIST test image")
    st.caption(f"Model **{entry.label}** on the {what}.")
    show_headline(evaluation)
    show_confusion_matrix(evaluation)
    images = "drawings" if dataset.bank else "test images"
    show_mistakes(evaluation, mnist, images)
    show_confidence(evaluation)
    show_calibration(evaluation)
    show_hardest(evaluation, mnist, images)
    if not dataset.bank:  # the map and the second model are of MNIST test
        show_test_map(entry, evaluation, mnist)
        show_comparison(entry, evaluation, mnist)


def selected_model() -> ModelEntry | None:
    """The model chosen in the sidebar."""
    # Not set when the page runs without app.py: `streamlit run pages/evaluate.py`, or a first visit straight
    # to /evaluate, which Streamlit serves in its legacy pages/-folder mode. Draw the picker here instead.
    if SELECTED_MODEL_KEY not in st.session_state:
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
    """Accuracy, errors and macro F1, over the table of each digit's precision, recall and F1."""
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
            # Sized for "Macro average" in the last row, and kept in view when a phone scrolls the table sideways.
            "Digit": st.column_config.TextColumn(width=table_column_px(table["Digit"]), pinned=True),
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


# --- confidence -------------------------------------------------------------------------------------


def show_confidence(evaluation: Evaluation) -> None:
    """How sure the model was of its right and of its wrong answers."""
    st.subheader("How sure was the model?")
    st.caption("The probability the model gave its own answer, for right and for wrong answers. Each group is "
               "shown as shares of itself, so the few mistakes are as visible as the many right answers.")
    st.plotly_chart(confidence_figure(evaluation), config={"displayModeBar": False})


# --- comparison -------------------------------------------------------------------------------------


def per_class_changes(first: Evaluation, second: Evaluation) -> pd.DataFrame:
    """Each digit's recall under model A and model B, and B's change in percentage points."""
    rows = []
    for row_a, row_b in zip(first.per_class, second.per_class):
        rows.append({"Digit": str(row_a["digit"]), "Recall A": percent(row_a["recall"]),
                     "Recall B": percent(row_b["recall"]), "Change": 100 * (row_b["recall"] - row_a["recall"])})
    return pd.DataFrame(rows)


def show_comparison(entry: ModelEntry, evaluation: Evaluation, mnist: Mnist) -> None:
    """A second model beside this one: both accuracies, each digit's recall, and the images they disagree on."""
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
    everyone = [entry, *others.values()]  # each model by the name `--model` takes for it, a run's given name first
    first.metric(f"A: {model_argument(entry, everyone)}", percent(evaluation.accuracy))
    second.metric(f"B: {model_argument(other, everyone)}", percent(other_evaluation.accuracy),
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
