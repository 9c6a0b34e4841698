"""The Train page's drawing-bank parts: fine-tune a model on the bank, and a run's before/after table.

Fine-tuning starts from a registered model's weights, learns the bank's drawings (a quarter of its
writers held out) and replays some MNIST so the model does not forget what it knew. When the run ends,
the page shows it beside the model it started from, on MNIST test and on the held-out writers, so
whoever promotes it sees what it gained and what it cost.

A visitor's fine-tune, and what this section says about it, covers only the drawings that visitor may see on
the Drawings page: never another class's, whose students' writer tags may be their real names.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from digitlab.training import jobs
from digitlab.training.memory_budget import estimate_run_memory
from digitlab.training.bank_fine_tune import (DEFAULT_BANK_WEIGHT, DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_FINE_TUNE_LR,
                                              DEFAULT_REPLAY_IMAGES, comparison_rows, starting_architecture)
from digitlab.bank.engine import DrawingBankError
from digitlab.store.registry import ModelEntry, list_store_models
from digitlab.store.run_folder import Run
from digitlab.store.run_config import MAX_BANK_WEIGHT, TrainConfig
from digitlab.bank.snapshot import BankDrawings, held_out_people, snapshot_bank
from digitlab.config.settings import Settings
from digitlab.ui.formatting import counted, plain_markdown, verb
from digitlab.ui.access import browser_key, viewer_id
from digitlab.ui.bank import drawing_bank, viewer_session

EMPTY_BANK_NOTE = ("The drawing bank has no labelled drawings to train on yet. Save some on the Draw page "
                   "(Right, or wrong and the digit) or import them on the Drawings page.")
REPLAY_NON_DIGITS = 2000  # for a model that refuses non-digits: keeps that output in practice while it learns
FINE_TUNE_KEYS = {"model": "bank_tune_model", "weight": "bank_tune_weight", "replay": "bank_tune_replay",
                  "epochs": "bank_tune_epochs"}


def bank_snapshot_or_message() -> BankDrawings | None:
    """The bank as this viewer may see it, split for a run; None after saying why it cannot be trained on."""
    try:
        snapshot = snapshot_bank(drawing_bank(), viewer_session=viewer_session())
    except DrawingBankError as error:
        st.error(f"The drawing bank cannot be read: {error}")
        return None
    if not len(snapshot.train_y):
        st.warning(EMPTY_BANK_NOTE)
        return None
    return snapshot


def bank_drawing_count() -> int:
    """Labelled drawings in the bank, held-out writers' too (an upper bound for a run's memory); 0 if unreadable."""
    try:
        return sum(drawing_bank().labelled_people(viewer_session()).values())
    except DrawingBankError:
        return 0



def fine_tune_panel(settings: Settings, active: Run | None) -> Run | None:
    """"Fine-tune a model on the bank": pick a model, the bank's weight and the MNIST replay; the run started."""
    if not settings.training_enabled:
        return None
    with st.expander("Fine-tune a model on the drawing bank"):
        try:
            counts = drawing_bank().labelled_people(viewer_session())  # the images are read only to train
        except DrawingBankError as error:
            st.error(f"The drawing bank cannot be read: {error}")
            return None
        held_out = held_out_people(counts)
        if not counts:
            st.info(EMPTY_BANK_NOTE)
        else:
            st.caption(f"The bank holds {sum(counts.values()):,} labelled drawings by "
                       f"{counted(len(counts), 'writer')}. "
                       + (f"{counted(len(held_out), 'writer')} {verb(len(held_out), 'is', 'are')} held out "
                          f"({', '.join(sorted(held_out))}): never trained on, so the before/after comparison shows "
                          "how the model reads people it has not seen."
                          if held_out else "With a single writer nobody can be held out, so the comparison shows "
                                           "MNIST test only."))
        models = [entry for entry in list_store_models() if entry.usable]
        if not models:
            st.info("There is no registered model to start from.")
            return None
        left, middle, right = st.columns(3)
        left.selectbox("Start from", [entry.name for entry in models], key=FINE_TUNE_KEYS["model"])
        middle.number_input("Bank weight", 1, MAX_BANK_WEIGHT, value=DEFAULT_BANK_WEIGHT, key=FINE_TUNE_KEYS["weight"],
                            help="Each bank drawing is shown this many times per epoch (each time augmented).")
        right.number_input("MNIST replay images", 1000, settings.max_train_images,
                           value=min(DEFAULT_REPLAY_IMAGES, settings.max_train_images), step=1000,
                           key=FINE_TUNE_KEYS["replay"],
                           help="MNIST images mixed in so the model keeps reading MNIST-style digits.")
        left.number_input("Epochs", 1, settings.max_epochs, value=min(DEFAULT_FINE_TUNE_EPOCHS, settings.max_epochs),
                          key=FINE_TUNE_KEYS["epochs"])
        entry = next(entry for entry in models if entry.name == st.session_state[FINE_TUNE_KEYS["model"]])
        fits = _memory_note(_form_config(entry), sum(counts.values()), settings)
        if st.button("Fine-tune on the bank", disabled=active is not None or not counts or not fits,
                     help="Starts a run from the chosen model's weights at a low learning rate."):
            return _start_fine_tune(entry, settings)
    return None


def fine_tune_config(entry: ModelEntry, weight: int, replay: int, epochs: int) -> TrainConfig:
    """The run that fine-tunes a registered model on the bank, replaying MNIST (and non-digits if it refuses)."""
    card = entry.card or {}
    config = card.get("config") or {}
    refuses = bool(config.get("non_digits")) or "non_digits" in (card.get("extra_data") or {})
    member = 1 if card.get("members") else None  # an ensemble: its first network is the one fine-tuned
    return TrainConfig(arch=starting_architecture(card, member), epochs=epochs,
                       lr=DEFAULT_FINE_TUNE_LR, augment=True, limit=replay, init_from=entry.name,
                       init_member=member, bank_weight=weight,
                       non_digits=REPLAY_NON_DIGITS if refuses else 0,
                       title=f"{entry.name} + drawing bank", notes="Fine-tuned on the drawing bank from the Train page.")


def _form_config(entry: ModelEntry) -> TrainConfig:
    state = st.session_state
    return fine_tune_config(entry, int(state[FINE_TUNE_KEYS["weight"]]), int(state[FINE_TUNE_KEYS["replay"]]),
                            int(state[FINE_TUNE_KEYS["epochs"]]))


def _memory_note(config: TrainConfig, bank_drawings: int, settings: Settings) -> bool:
    """Say what the fine-tune would need in memory; whether that fits this deployment's budget."""
    estimate = estimate_run_memory(config, bank_drawings=bank_drawings)
    refusal = estimate.refusal(settings.train_memory_mb)
    if refusal:
        st.warning(refusal, icon=":material/memory:")
        return False
    st.caption(f"Estimated peak memory: {estimate.total_mb:,.0f} MB of the {settings.train_memory_mb:,} MB this "
               "deployment allows a run.")
    return True


def _start_fine_tune(entry: ModelEntry, settings: Settings) -> Run | None:
    snapshot = bank_snapshot_or_message()
    if snapshot is None:
        return None
    config = _form_config(entry)
    try:
        return jobs.start_run(config, settings, started_by=viewer_id(), started_in=browser_key(), bank=snapshot)
    except (jobs.TrainingBusyError, jobs.RunQuotaError) as error:
        st.warning(str(error))
    except (ValueError, OSError) as error:
        st.error(f"The run could not start: {error}")
    return None


# The trainer measures both models before it writes the flatbuffer the app serves from (training/bank_fine_tune.py).
COMPARISON_WEIGHTS_NOTE = ("Both columns are measured with each model's full-precision weights. A run's test "
                           "accuracy elsewhere (above, in the sidebar, on Evaluate) is the served model's, whose 8-bit "
                           "weights can disagree on a few of the 10,000 MNIST test digits.")


def comparison_table(run: Run) -> None:
    """Before and after on MNIST test and held-out drawings, for a finished run that measured them."""
    record = run.status.comparison
    rows = comparison_rows(record)
    if not rows:
        return
    st.markdown(f"**Before and after** · before is *{record.get('before_model')}*")
    table = pd.DataFrame(rows).rename(columns={"dataset": "Dataset", "images": "Images", "before": "Before",
                                               "after": "After", "change": "Change"})
    table[["Before", "After", "Change"]] = table[["Before", "After", "Change"]] * 100  # in percent and points
    st.dataframe(table, hide_index=True, key=f"comparison-{run.name}", column_config={
        "Images": st.column_config.NumberColumn(format="localized"),
        "Before": st.column_config.NumberColumn(format="%.2f%%"),
        "After": st.column_config.NumberColumn(format="%.2f%%"),
        "Change": st.column_config.NumberColumn(format="%+.2f points", help="After minus before"),
    })
    writers = record.get("held_out_writers") or []
    if writers:
        st.caption(f"Held-out writers (never trained on): {', '.join(plain_markdown(writer) for writer in writers)}.")
    st.caption(COMPARISON_WEIGHTS_NOTE)
