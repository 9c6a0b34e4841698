"""The Evaluate page's dataset switch: MNIST test, or the drawing bank (all writers or one)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from digitlab.datasets.mnist import Mnist
from digitlab.bank.engine import DrawingBankError
from digitlab.evaluation.bank_scores import evaluate_drawings
from digitlab.evaluation.metrics import Evaluation
from digitlab.store.registry import ModelEntry
from digitlab.ui.bank import drawing_bank, viewer_session
from digitlab.ui.formatting import plain_markdown
from digitlab.ui.loaders import load_predictor

DATASET_KEY = "evaluate_dataset"
WRITER_KEY = "evaluate_bank_writer"
MNIST_TEST = "MNIST test"
DRAWING_BANK = "Drawing bank"


@dataclass(frozen=True)
class DatasetChoice:
    bank: bool  # False: MNIST test
    writer: str | None = None  # with bank: one writer's drawings only


def dataset_switch() -> DatasetChoice:
    """The radio (and writer picker) choosing what to evaluate on."""
    left, right = st.columns([1, 1])
    choice = left.radio("Dataset", [MNIST_TEST, DRAWING_BANK], key=DATASET_KEY, horizontal=True,
                        help="The drawing bank holds the drawings people confirmed or corrected on the Draw page.")
    if choice != DRAWING_BANK:
        return DatasetChoice(bank=False)
    try:
        writers = drawing_bank().writers(viewer_session=viewer_session())
    except DrawingBankError:
        writers = []  # bank_evaluation reports the error
    writer = right.selectbox("Writer", [None, *writers], key=WRITER_KEY,
                             format_func=lambda name: "all writers" if name is None else name)
    return DatasetChoice(bank=True, writer=writer)


def bank_evaluation(entry: ModelEntry, writer: str | None) -> tuple[Evaluation, Mnist] | None:
    """The model's evaluation on the bank's labelled drawings, with the drawings as a test set; None after a message."""
    try:
        bank = drawing_bank()
        revision = bank.revision()
    except DrawingBankError as error:
        st.error(str(error))
        return None
    evaluation, images, labels = _bank_evaluation(entry.sha256, bank.url, writer, viewer_session(), revision, entry)
    if evaluation.n == 0:
        who = f" by {plain_markdown(writer)}" if writer else ""
        st.info(f"The drawing bank has no labelled drawings{who} yet. Correct a few readings on the Draw page, or "
                "import drawings on the Drawings page.")
        return None
    empty = np.zeros((0, 28, 28), np.uint8)
    return evaluation, Mnist(x_train=empty, y_train=np.zeros(0, np.uint8), x_test=images, y_test=labels,
                             source="drawing bank")



@st.cache_data(show_spinner="Reading the drawing bank...", max_entries=8)
def _bank_evaluation(sha256: str, url: str, writer: str | None, viewer_session: str | None, revision: tuple[int, int],
                     _entry: ModelEntry):
    # Keyed by model file, bank, writer, viewer and the bank's revision: a saved or deleted drawing is a new key.
    dataset = drawing_bank().as_dataset(writer=writer, viewer_session=viewer_session)
    evaluation = evaluate_drawings(load_predictor(_entry), dataset, sha256)
    return evaluation, dataset.x, dataset.y
