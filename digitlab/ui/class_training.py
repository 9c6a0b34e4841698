"""The Class page's training parts: pen writers imported as students, and "fine-tune on this class".

The fine-tune is the drawing bank's (ui.bank_fine_tune) limited to the class's drawings: a quarter of its
students held out whole, and when the run ends its before/after on those students beside MNIST test.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import streamlit as st

from digitlab.bank.archive import import_unipen
from digitlab.bank.classes import SchoolClass
from digitlab.bank.drawing_checks import DrawingRejectedError
from digitlab.bank.engine import DrawingBankError
from digitlab.bank.records import DrawingFilter, person
from digitlab.bank.repository import DrawingBank
from digitlab.bank.snapshot import held_out_people, snapshot_bank
from digitlab.store import run_folder as runs
from digitlab.store.registry import ModelLoadError, list_store_models
from digitlab.training import jobs
from digitlab.training.bank_fine_tune import DEFAULT_BANK_WEIGHT, DEFAULT_FINE_TUNE_EPOCHS, DEFAULT_REPLAY_IMAGES
from digitlab.ui.access import browser_key, current_deployment, viewer_id
from digitlab.ui.bank_fine_tune import fine_tune_config
from digitlab.ui.formatting import counted, plain_markdown, verb
from digitlab.ui.loaders import load_predictor
from digitlab.ui.run_live import run_status, viewer_may_control

RUNS_KEY = "class_page_runs"  # {class id: the name of the fine-tune run this session started for it}
PEN_WRITERS_KEY = "class_pen_writers"
LIVE_REFRESH_SECONDS = 2.0


def class_fine_tune_section(bank: DrawingBank, chosen: SchoolClass) -> None:
    """Fine-tune a model on the class's drawings, and the run this session started for it, followed live."""
    st.subheader("Fine-tune on this class")
    settings = current_deployment().settings
    if not settings.training_enabled:
        st.caption("Training is off on this deployment.")
        return
    try:
        labelled = [drawing for drawing in bank.readings(DrawingFilter(class_id=chosen.id))
                    if drawing.label is not None]
    except DrawingBankError as error:
        st.error(str(error))
        return
    # Each student as the run's split names them (person), shown by nickname as the page's table shows them.
    nicknames = {person(drawing.writer, drawing.session): drawing.nickname for drawing in labelled if drawing.nickname}
    people = {person(drawing.writer, drawing.session) for drawing in labelled}
    held_out = held_out_people(people)
    held_out_names = sorted(nicknames.get(student, student) for student in held_out)
    if not people:
        st.caption("Once the class has labelled drawings, a model can learn from them here.")
    else:
        st.caption(f"Learns from the class's labelled drawings by {counted(len(people), 'student')}, starting "
                   f"from a model's weights and replaying some MNIST. " + (
                       f"{counted(len(held_out), 'student')} {verb(len(held_out), 'is', 'are')} held out "
                       f"({plain_markdown(', '.join(held_out_names))}): the before/after shows how the model reads "
                       "students it never saw." if held_out else
                       "With one student nobody can be held out: the comparison shows MNIST test only."))
    models = [entry for entry in list_store_models() if entry.usable]
    run_name = st.session_state.get(RUNS_KEY, {}).get(chosen.id)
    if models and people:
        left, middle, right = st.columns(3)
        start = left.selectbox("Start from", [entry.name for entry in models], key="class_tune_model")
        epochs = middle.number_input("Epochs", 1, settings.max_epochs,
                                     value=min(DEFAULT_FINE_TUNE_EPOCHS, settings.max_epochs), key="class_tune_epochs")
        replay = right.number_input("MNIST replay images", 1000, settings.max_train_images, step=1000,
                                    value=min(DEFAULT_REPLAY_IMAGES, settings.max_train_images),
                                    key="class_tune_replay")
        if st.button("Fine-tune on this class", icon=":material/model_training:", key="class_tune_start",
                     disabled=jobs.active_run() is not None):
            entry = next(entry for entry in models if entry.name == start)
            run_name = _start(bank, chosen, entry, int(epochs), int(replay)) or run_name
    if run_name:
        live = st.fragment(_followed_run, run_every=LIVE_REFRESH_SECONDS if _is_active(run_name) else None)
        live(run_name)
    pen_writers_import(bank, chosen)


def _start(bank: DrawingBank, chosen: SchoolClass, entry, epochs: int, replay: int) -> str | None:
    try:
        snapshot = snapshot_bank(bank, class_id=chosen.id)
    except DrawingBankError as error:
        st.error(f"The class's drawings cannot be read: {error}")
        return None
    config = replace(fine_tune_config(entry, DEFAULT_BANK_WEIGHT, replay, epochs),
                     title=f"{entry.name} + class {chosen.name}"[:80],
                     notes=f"Fine-tuned on the class {chosen.name} from the Class page.")
    try:
        run = jobs.start_run(config, current_deployment().settings, started_by=viewer_id(), started_in=browser_key(),
                             bank=snapshot)
    except (jobs.TrainingBusyError, jobs.RunQuotaError) as error:
        st.warning(str(error))
        return None
    except (ValueError, OSError) as error:
        st.error(f"The run could not start: {error}")
        return None
    st.session_state.setdefault(RUNS_KEY, {})[chosen.id] = run.name
    return run.name


def _is_active(run_name: str) -> bool:
    run = runs.find_run(run_name)
    return run is not None and jobs.refresh_run(run).is_active


def _followed_run(run_name: str) -> None:
    run = runs.find_run(run_name)
    if run is None:
        return
    run = jobs.refresh_run(run)
    st.markdown(f"**{run.title}**")
    run_status(run, can_stop=run.is_active and viewer_may_control(run))  # then its metrics and the before/after table
    if not run.is_active:
        st.caption("Promote it on the Train page to make the whole class read with it.")


def pen_writers_import(bank: DrawingBank, chosen: SchoolClass) -> None:
    """Pen digits (UNIPEN text, like pendigits-orig.tra) into the class, each writer a student nicknamed pen-NN."""
    if not chosen.is_open:
        return
    with st.expander("Import pen writers as students", icon=":material/upload:"):
        st.caption("For a demonstration without a class at hand: each pen writer becomes a student of this class, "
                   "each digit read by the model chosen in the sidebar.")
        upload = st.file_uploader("UNIPEN file", type=["tra", "txt"], key="class_pen_file")
        writers = st.number_input("Writers (the first ones in the file)", 1, 44, value=8, key=PEN_WRITERS_KEY)
        entry = st.session_state.get("selected_model")  # the sidebar's model reads them, as on the Draw page
        if upload is None or not st.button("Import into the class", key="class_pen_import"):
            return
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "pen.tra"
            path.write_bytes(upload.getvalue())
            try:
                with st.spinner("Importing..."):
                    read = load_predictor(entry).predict_mnist if entry is not None and entry.usable else None
                    report = import_unipen(bank, path, writers=range(1, int(writers) + 1), class_id=chosen.id,
                                           read=read, model_sha256=entry.sha256 if read else None)
            except (DrawingRejectedError, DrawingBankError, ModelLoadError) as error:
                st.error(f"Nothing was imported: {error}")
                return
        st.success(f"Imported {upload.name}: {report.summary()}.")
