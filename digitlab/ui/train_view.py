"""The Train page's parts: the run form, the live view of a run, and the table of every run.

Everything shown comes from run folders (digitlab.store.run_folder), never from this session's memory, so a reload,
a second tab or another visitor sees the same run. The live view is a fragment that refreshes itself
every second while a run is active and not at all otherwise.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from digitlab.training import jobs

from digitlab.store import run_folder as runs
from digitlab.training.architectures import ARCHITECTURES
from digitlab.datasets.pendigits import pendigits_path
from digitlab.store.registry import ModelExistsError, ModelLoadError, list_store_models, models_dir, promote_run
from digitlab.store.run_folder import MAX_BANK_WEIGHT, Run, TrainConfig
from digitlab.config.settings import MNIST_TRAIN_IMAGES, Settings, SettingsError, load_settings
from digitlab.ui.access import OWNER_ONLY_NOTE, viewer_id, viewer_is_owner
from digitlab.ui.bank_fine_tune import bank_snapshot_or_message, comparison_table, fine_tune_panel
from digitlab.ui.figures.probabilities import pixel_image
from digitlab.ui.figures.training import overlay_figure, training_curves_figure

LIVE_REFRESH_SECONDS = 1.0
FORCE_STOP_AFTER_SECONDS = 30.0  # a run still going this long after Stop may be stuck: offer to kill it
WATCHED_RUN_KEY = "train_watched_run"  # the last run this session saw active, shown until another one runs
NOTICE_KEY = "train_notice"  # (kind, text) left by a button callback for the next script run to show
FULL_RERUN_KEY = "train_full_rerun"  # set by the runs table's callbacks, whose effects lie outside its fragment
MODEL_PICKER_KEY = "model_name"  # the sidebar's model selectbox (digitlab.ui.sidebar)
FORM_KEYS = {"arch": "train_arch", "epochs": "train_epochs", "batch_size": "train_batch_size", "lr": "train_lr",
             "augment": "train_augment", "images": "train_images", "seed": "train_seed", "title": "train_title",
             "notes": "train_notes", "pen": "train_pen_digits", "refuse": "train_non_digits",
             "bank": "train_bank", "bank_weight": "train_bank_weight"}
PEN_COPIES = 2  # each training writer's digit drawn twice, with its own size, place and brush
NON_DIGITS = 6000  # generated scribbles, letters and doodles, when the run learns "not a digit"
MIN_TRAIN_IMAGES = 1000  # fewer teaches little; 10% of them are held out for validation
BATCH_SIZE_RANGE = (8, 2048)
LEARNING_RATE_RANGE = (1e-5, 0.5)
MAX_SEED = 2**31 - 1
QUICK_RECIPE = TrainConfig(arch="cnn-small", epochs=2, batch_size=128, lr=1e-3, augment=False, seed=0, limit=10_000)
DEFAULT_MODEL_RECIPE = TrainConfig(arch="digitnet", epochs=12, batch_size=128, lr=1e-3, augment=True, seed=0)


# --- settings and recipes --------------------------------------------------------------------------------


def deployment_settings() -> Settings:
    """This deployment's settings (env vars, then st.secrets); training off, with a message, if they are bad."""
    try:
        secrets = dict(st.secrets)
    except FileNotFoundError:  # Streamlit's error for no secrets file, or one that does not parse
        secrets = {}
    try:
        return load_settings(secrets)
    except SettingsError as error:
        st.error(f"Training is off because a setting is wrong: {error}")
        return Settings(training_enabled=False)


def default_model_recipe() -> TrainConfig:
    """The config the shipped default model was trained with (its card), else DigitLab's documented recipe.

    For an ensemble that is the recipe of its first member: each member is one ordinary run.
    """
    from digitlab.store.atomic import read_json

    card = read_json(models_dir() / "default.json", default={}) or {}
    config = card.get("config") if isinstance(card, dict) else None
    members = card.get("members") if isinstance(card, dict) else None
    if config is None and isinstance(members, list) and members and isinstance(members[0], dict):
        config = members[0].get("config")
    if not isinstance(config, dict):
        return DEFAULT_MODEL_RECIPE
    known = {field.name for field in fields(TrainConfig)} - {"threads", "extra", "teacher", "teacher_weight",
                                                             "title", "notes", "init_from", "init_member"}
    values = {key: value for key, value in config.items() if key in known}
    if values.get("pen_digits"):  # recorded as a path on the machine that trained it: use this server's copy
        values["pen_digits"] = str(pendigits_path()) if pendigits_path() else None
    try:
        recipe = TrainConfig(**values)
        recipe.validate()
    except (TypeError, ValueError):
        return DEFAULT_MODEL_RECIPE
    return recipe


def _apply_recipe(recipe: TrainConfig, settings: Settings) -> None:
    """Fill the form with a recipe, within this deployment's limits (a button callback)."""
    values = _form_values(recipe, settings)
    for name, value in values.items():
        st.session_state[FORM_KEYS[name]] = value
    if values["epochs"] < recipe.epochs or values["images"] < (recipe.limit or MNIST_TRAIN_IMAGES):
        st.session_state[NOTICE_KEY] = ("warning", "The recipe asks for more than this deployment allows; "
                                                   "epochs and images were capped.")


# --- the form ----------------------------------------------------------------------------------------------


def train_form(settings: Settings, active: Run | None) -> None:
    """The run form; Start launches a training process (refused while another run holds the lock)."""
    if not settings.training_enabled:
        st.info("Training is turned off on this deployment. The runs already trained are listed below.")
        return
    for name, value in _form_values(QUICK_RECIPE, settings).items():
        st.session_state.setdefault(FORM_KEYS[name], value)

    recipes = st.container(horizontal=True)
    recipes.button("Quick run settings", on_click=_apply_recipe, args=(QUICK_RECIPE, settings),
                   help="Fills in the form: cnn-small, 2 epochs, 10,000 images. Measured: 12.5 s on two CPU cores, "
                        "95% on MNIST test.")
    recipes.button("Default model's settings", on_click=_apply_recipe, args=(default_model_recipe(), settings),
                   help="Fills in the form with the default model's last training step (its card, models/default.json, "
                        "lists the whole recipe). That step took 29 minutes on two busy CPU cores.")

    # Enter in a number field must not start minutes of training: only the button submits.
    with st.form("train_form", border=True, enter_to_submit=False):
        left, middle, right = st.columns(3)
        left.selectbox("Architecture", list(ARCHITECTURES), key=FORM_KEYS["arch"],
                       help="; ".join(f"{name}: {_first_line(build.__doc__)}" for name, build in ARCHITECTURES.items()))
        left.toggle("Augmentation", key=FORM_KEYS["augment"],
                    help="Random shifts, rotations and stroke widths, so the model copes with drawings.")
        pen_file = pendigits_path()
        left.toggle("Real pen drawings", key=FORM_KEYS["pen"], disabled=pen_file is None,
                    help="Adds the 22 training writers' pen digits (UCI pendigits, CC BY 4.0), drawn as the canvas "
                         "draws, to MNIST; the 8 held-out writers are never trained on. "
                         + ("" if pen_file else "The pen data is not on this server."))
        left.toggle("Learn “not a digit”", key=FORM_KEYS["refuse"],
                    help=f"Adds {NON_DIGITS:,} generated scribbles, letters and doodles and an 11th output, so the "
                         "model can refuse a drawing that is no digit.")
        left.toggle("Drawing bank", key=FORM_KEYS["bank"],
                    help="Adds the drawings people saved on the Draw page or imported (a quarter of their writers "
                         "held out, to compare before and after). Bank weight: times each is shown per epoch.")
        left.number_input("Bank weight", 1, MAX_BANK_WEIGHT, key=FORM_KEYS["bank_weight"],
                          help="With the drawing bank: how many times each of its drawings is shown per epoch.")
        middle.number_input("Epochs", min_value=1, max_value=settings.max_epochs, step=1, key=FORM_KEYS["epochs"])
        fewest, most = _images_range(settings)
        middle.number_input("Training images", min_value=fewest, max_value=most, step=1000, key=FORM_KEYS["images"],
                            help=f"How many MNIST training images to use ({MNIST_TRAIN_IMAGES:,} = all); "
                                 "10% of them are held out to validate each epoch.")
        right.number_input("Batch size", *BATCH_SIZE_RANGE, step=32, key=FORM_KEYS["batch_size"])
        right.number_input("Learning rate", *LEARNING_RATE_RANGE, step=1e-4, format="%.5f", key=FORM_KEYS["lr"],
                           help="Peak learning rate of Adam, decayed along a cosine.")
        right.number_input("Seed", 0, MAX_SEED, step=1, key=FORM_KEYS["seed"])
        name_column, notes_column = st.columns([1, 2])
        name_column.text_input("Run name (optional)", key=FORM_KEYS["title"], max_chars=80,
                               placeholder="e.g. no augmentation", help="Shown in the runs table and in legends.")
        notes_column.text_input("Notes (optional)", key=FORM_KEYS["notes"], max_chars=300,
                                placeholder="What do you want to find out with this run?")
        submitted = st.form_submit_button("Start training", type="primary", disabled=active is not None)
    if active is not None:
        st.info(f"Run **{active.name}** is training. One run at a time: stop it below or wait for it to finish.")
    if submitted:
        _start(settings)


def _form_values(recipe: TrainConfig, settings: Settings) -> dict:
    """A recipe as form values, each inside its field's bounds (a widget refuses a value outside them)."""
    def clamp(value, low, high):
        return min(max(value, low), high)

    return {"arch": recipe.arch, "epochs": clamp(recipe.epochs, 1, settings.max_epochs),
            "batch_size": clamp(recipe.batch_size, *BATCH_SIZE_RANGE), "lr": clamp(recipe.lr, *LEARNING_RATE_RANGE),
            "augment": recipe.augment, "seed": clamp(recipe.seed, 0, MAX_SEED), "title": recipe.title,
            "notes": recipe.notes, "pen": recipe.pen_digits is not None, "refuse": recipe.non_digits > 0,
            "bank": recipe.bank_weight > 0, "bank_weight": clamp(recipe.bank_weight or 1, 1, MAX_BANK_WEIGHT),
            "images": clamp(recipe.limit or MNIST_TRAIN_IMAGES, *_images_range(settings))}


def _images_range(settings: Settings) -> tuple[int, int]:
    return min(MIN_TRAIN_IMAGES, settings.max_train_images), settings.max_train_images


def _start(settings: Settings) -> None:
    state = st.session_state
    images = int(state[FORM_KEYS["images"]])
    config = TrainConfig(arch=state[FORM_KEYS["arch"]], epochs=int(state[FORM_KEYS["epochs"]]),
                         batch_size=int(state[FORM_KEYS["batch_size"]]), lr=float(state[FORM_KEYS["lr"]]),
                         augment=bool(state[FORM_KEYS["augment"]]), seed=int(state[FORM_KEYS["seed"]]),
                         limit=None if images >= MNIST_TRAIN_IMAGES else images,
                         title=str(state.get(FORM_KEYS["title"]) or "").strip(),
                         pen_digits=str(pendigits_path()) if state.get(FORM_KEYS["pen"]) and pendigits_path() else None,
                         pen_copies=PEN_COPIES, non_digits=NON_DIGITS if state.get(FORM_KEYS["refuse"]) else 0,
                         notes=str(state.get(FORM_KEYS["notes"]) or "").strip(),
                         bank_weight=int(state[FORM_KEYS["bank_weight"]]) if state.get(FORM_KEYS["bank"]) else 0)
    bank = None
    if config.bank_weight:
        bank = bank_snapshot_or_message()
        if bank is None:
            return
    try:
        run = jobs.start_run(config, settings, started_by=viewer_id(), bank=bank)
    except (jobs.TrainingBusyError, jobs.RunQuotaError) as error:
        st.warning(str(error))
        return
    except (ValueError, OSError) as error:
        st.error(f"The run could not start: {error}")
        return
    watch(run)


def watch(run: Run) -> None:
    """Follow a run that was just started in the live view."""
    st.session_state[WATCHED_RUN_KEY] = run.name
    st.rerun()  # redraw the page with the live view polling


def bank_fine_tune(settings: Settings, active: Run | None) -> None:
    """The "fine-tune a model on the drawing bank" panel; the run it starts is followed live."""
    run = fine_tune_panel(settings, active)
    if run is not None:
        watch(run)


# --- the live view -----------------------------------------------------------------------------------------


def live_run_panel(active: Run | None, settings: Settings) -> None:
    """The active run, or else the last run this session saw active, in a fragment that polls while it runs."""
    if active is not None:
        st.session_state[WATCHED_RUN_KEY] = active.name  # so its outcome stays in view when it ends
    name = st.session_state.get(WATCHED_RUN_KEY)
    if not name or runs.find_run(name) is None:
        return
    is_active = active is not None
    # run_every is fixed each full script run: one-second polling while a run is active, none when idle.
    live = st.fragment(_live_run, run_every=LIVE_REFRESH_SECONDS if is_active else None)
    live(name, is_active, settings.training_enabled)


def _live_run(run_name: str, polling: bool, can_stop: bool) -> None:
    run = runs.find_run(run_name)
    if run is None:
        return  # deleted meanwhile
    run = jobs.refresh_run(run)
    if polling and not run.is_active:
        st.rerun(scope="app")  # it has just finished: redraw the whole page (runs table included), stop polling
    st.subheader(f"Run {run.title}")
    _run_status(run, can_stop)
    _run_curves(run, key=f"curves-{run.name}")


def _run_curves(run: Run, key: str, title: str | None = None) -> None:
    history = runs.read_history(run.dir)
    if len(history):
        st.plotly_chart(training_curves_figure(history, run.status.batches_per_epoch, **({"title": title} if title else {})),
                        config={"displayModeBar": False}, key=key)
        smoothing = run.config.label_smoothing if run.config else 0.0
        if smoothing > 0:
            st.caption(f"Why the loss stays above {smoothing_loss_floor(smoothing):.2f}: the run trains with label "
                       f"smoothing {smoothing:g}, so each target is {1 - smoothing + smoothing / 10:.1%} sure of its "
                       "digit rather than 100%, which keeps the model's confidence honest on odd drawings. A model "
                       "that matched every target exactly would still score that loss.")
    elif run.is_active:
        st.caption("The curves appear after the first batches.")


def _run_status(run: Run, can_stop: bool = False) -> None:
    """Progress and Stop while a run is going; its metrics, and why it ended if not done, afterwards."""
    status = run.status
    st.caption(f"{run.config.arch if run.config else '?'} · {_describe_settings(run.config)} · {run.state}")
    if run.config and run.config.notes:
        st.caption(f"Notes: {run.config.notes}")
    epochs = run.config.epochs if run.config else "?"
    if run.is_active:
        batches = status.batches_per_epoch
        where = (f"Epoch {status.epoch or 1} of {epochs}" + (f" · batch {status.batch} of {batches}" if batches else ""))
        message = status.message or "Starting"
        st.progress(min(max(float(status.progress or 0.0), 0.0), 1.0),
                    text=f"{where} · {message}" if message != "Training" else where)
        columns = st.columns(4)
        columns[0].metric("Elapsed", format_duration(run.duration))
        columns[1].metric("Time left", format_duration(status.eta) if status.eta is not None else "estimating…",
                          help="Shown once enough batches have run for the pace to be known.")
        columns[2].metric("Best validation accuracy", _percent(status.best_val_accuracy))
        if can_stop:
            with columns[3]:
                _stop_controls(run)
        return
    columns = st.columns(4)
    columns[0].metric("Test accuracy", _percent(status.test_accuracy))
    columns[1].metric("Best validation accuracy", _percent(status.best_val_accuracy))
    columns[2].metric("Epochs completed", f"{status.completed_epochs} of {epochs}")
    columns[3].metric("Duration", format_duration(run.duration))
    if run.state == "done" and status.warning:
        st.warning(f"Finished, with a warning. {status.warning}")
    elif run.state == "done":
        st.success(f"Finished. Test accuracy on the 10,000 MNIST test images: {_percent(status.test_accuracy)}.")
    elif run.state == "stopped":
        st.warning(status.message or "Stopped.")
    elif run.state == "failed":
        st.error(status.message or "The run failed.")
        tail = run.log_tail(20)
        if tail:
            st.code(tail, language=None)
    elif run.config_problem:
        st.error(f"This run folder cannot be read: {run.config_problem}.")
    comparison_table(run)


def _stop_controls(run: Run) -> None:
    if not run.stop_requested:
        if st.button("Stop", key=f"stop-{run.name}",
                     help="Ends after the current batch and keeps the model of the last completed epoch."):
            try:
                jobs.request_stop(run)
            except jobs.RunActiveError as error:
                st.info(str(error))
        return
    st.caption("Stop requested: ending after the current batch…")
    asked = run.stop_requested_at or time.time()
    if time.time() - asked > FORCE_STOP_AFTER_SECONDS and st.button("Force stop", key=f"kill-{run.name}"):
        jobs.force_stop(run)
        st.rerun()


# --- the runs table ----------------------------------------------------------------------------------------


def runs_section(settings: Settings, active: Run | None = None) -> None:
    """Every run in a table; select runs to overlay their curves, use one's model or delete them.

    While a run is active the table refreshes itself with the live view, so its row moves on too.
    """
    st.subheader("Runs")
    st.session_state.pop(FULL_RERUN_KEY, None)  # this is a whole-page run already
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        getattr(st, notice[0])(notice[1])
    st.fragment(_runs_table_and_actions, run_every=LIVE_REFRESH_SECONDS * 2 if active is not None else None)(settings)


def _runs_table_and_actions(settings: Settings) -> None:
    if st.session_state.pop(FULL_RERUN_KEY, False):
        # An action here changed what the sidebar or the notices above show: redraw the whole page.
        st.rerun(scope="app")
    all_runs = jobs.refresh_runs()
    if not all_runs:
        st.caption("No runs yet. Start one above; each run's files live in its own folder under "
                   f"{runs.runs_root()}.")
        return
    event = st.dataframe(runs_table(all_runs), key=runs_table_key(all_runs), on_select="rerun",
                         selection_mode="multi-row", hide_index=True, column_config=_COLUMN_CONFIG)
    selected = [all_runs[index] for index in event.selection.rows if index < len(all_runs)]
    if not selected:
        st.caption("Select runs in the table to compare their curves, use a run's model, or delete runs.")
        return
    if len(selected) == 1:
        _run_details(selected[0])
    else:
        curves = [(run.title, runs.read_history(run.dir), run.status.batches_per_epoch) for run in selected]
        st.plotly_chart(overlay_figure(curves), config={"displayModeBar": False}, key="runs-overlay")
    _run_actions(selected)


def _run_details(run: Run) -> None:
    """One selected run: its outcome (with the end of its log when it failed) and its curves."""
    if run.is_active:
        st.caption(f"Run {run.title} is {run.state}: it is shown live above.")
        return
    st.markdown(f"**{run.title}**")
    _run_status(run)
    _run_curves(run, key=f"details-{run.name}", title="Its curves")


def runs_table(all_runs: list[Run]) -> pd.DataFrame:
    """One row per run: what a visitor compares runs by."""
    rows = []
    for run in all_runs:
        status, config = run.status, run.config
        epochs = config.epochs if config else None
        rows.append({
            "Run": run.title,
            "Status": run.state + (" ⚠" if status.warning else ""),
            "Architecture": config.arch if config else None,
            "Parameters": status.parameters,
            "Epochs": f"{status.completed_epochs} / {epochs}" if epochs else None,
            "Best val accuracy": status.best_val_accuracy,
            "Test accuracy": status.test_accuracy,
            "Duration": format_duration(run.duration),
            "Started": time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at)) if run.started_at else None,
            "Settings": _describe_settings(config),
            "Folder": run.name,
        })
    return pd.DataFrame(rows)


_COLUMN_CONFIG = {
    "Parameters": st.column_config.NumberColumn(format="localized", help="Trainable and fixed weights of the model"),
    "Best val accuracy": st.column_config.NumberColumn(format="percent"),
    "Test accuracy": st.column_config.NumberColumn(format="percent", help="On the 10,000 MNIST test images"),
}


def runs_table_key(all_runs: list[Run]) -> str:
    """A table key that changes when runs come or go, so a selection never slides onto another run."""
    names = "\n".join(run.name for run in all_runs)
    return "runs-table-" + hashlib.sha1(names.encode()).hexdigest()[:12]


def _run_actions(selected: list[Run]) -> None:
    owner = viewer_is_owner()
    use_column, delete_column = st.columns(2)
    with use_column:
        if len(selected) != 1:
            st.caption("Select a single finished run to use its model.")
        elif not selected[0].has_model:
            st.caption(f"Run {selected[0].title} has no finished model to use ({selected[0].state}).")
        else:
            run = selected[0]
            st.button("Read with it in this tab", key=f"use-{run.name}", on_click=_use_in_session, args=(run,),
                      help="The Draw and Evaluate pages of this tab use this run's model; nobody else is affected.")
            if owner:
                _promote_form(run)
            else:
                st.caption("Promoting a model into models/ for everyone is for the owner.")
    with delete_column:
        if not owner:
            st.caption("Deleting runs is for the owner.")
            return
        deletable = [run for run in selected if not run.is_active]
        if len(deletable) < len(selected):
            st.caption("A run that is still going cannot be deleted; stop it first.")
        if deletable:
            with st.popover(f"Delete {len(deletable)} run(s)"):
                st.write("Delete " + ", ".join(run.title for run in deletable) + "? Their files are removed; "
                         "models already promoted into models/ stay.")
                st.button("Delete", type="primary", key="confirm-delete", on_click=_delete_runs, args=(deletable,))


def _promote_form(run: Run) -> None:
    """The owner's promotion: a name, a confirmation to replace an existing model, and whether it becomes the default."""
    name_key, replace_key, default_key = (f"promote-name-{run.name}", f"promote-replace-{run.name}",
                                          f"promote-default-{run.name}")
    anyway_key = f"promote-anyway-{run.name}"
    if run.status.warning:
        st.warning(f"Check before promoting: {run.status.warning}")
        st.checkbox("Promote it anyway", key=anyway_key)
    name = st.text_input("Model name", value=run.name, key=name_key, max_chars=80,
                         help="Letters, digits, '-' and '_'. The model is copied into models/ under this name.")
    taken = any(entry.name == (name or "").strip() for entry in list_store_models())
    if taken:
        st.checkbox(f"Replace the existing model '{name.strip()}' (its current version is kept)", key=replace_key)
    st.checkbox("Make it the default for everyone", value=True, key=default_key)
    confirmed = ((not taken or st.session_state.get(replace_key, False))
                 and (not run.status.warning or st.session_state.get(anyway_key, False)))
    st.button("Promote to models/", type="primary", key=f"promote-{run.name}", disabled=not confirmed,
              on_click=_promote, args=(run, name_key, replace_key, default_key))
    local_notice = st.session_state.pop(f"{NOTICE_KEY}-{run.name}", None)
    if local_notice:  # shown next to the button that caused it
        getattr(st, local_notice[0])(local_notice[1])


def _use_in_session(run: Run) -> None:
    # A callback, because it sets the sidebar's model picker, which may only change before it is drawn.
    st.session_state[MODEL_PICKER_KEY] = f"run:{run.name}"
    st.session_state[FULL_RERUN_KEY] = True


def _promote(run: Run, name_key: str, replace_key: str, default_key: str) -> None:
    notice_key = f"{NOTICE_KEY}-{run.name}"
    if not viewer_is_owner():  # checked again: the button may be from before a sign-out
        st.session_state[notice_key] = ("error", OWNER_ONLY_NOTE)
        return
    name = str(st.session_state.get(name_key) or run.name).strip()
    make_default = bool(st.session_state.get(default_key, True))
    try:
        promoted = promote_run(run.dir, name, replace=bool(st.session_state.get(replace_key)), make_active=make_default)
    except (ModelLoadError, ModelExistsError, ValueError, OSError) as error:
        st.session_state[notice_key] = ("error", f"The model was not promoted: {error}")
        return
    st.session_state[MODEL_PICKER_KEY] = promoted.name
    st.session_state[FULL_RERUN_KEY] = True
    where = "the default model for everyone" if make_default else "in models/"
    st.session_state[notice_key] = ("success", f"Model **{promoted.name}** (version {promoted.card['version']}) "
                                               f"is now {where}.")


def _delete_runs(selected: list[Run]) -> None:
    if not viewer_is_owner():
        st.session_state[NOTICE_KEY] = ("error", OWNER_ONLY_NOTE)
        return
    deleted, refused = [], []
    for run in selected:
        try:
            jobs.delete_run(run)
            deleted.append(run.title)
        except (jobs.RunActiveError, OSError) as error:
            refused.append(str(error))
    if st.session_state.get(WATCHED_RUN_KEY) in {run.name for run in selected}:
        del st.session_state[WATCHED_RUN_KEY]
    text = (f"Deleted {', '.join(deleted)}. " if deleted else "") + " ".join(refused)
    st.session_state[NOTICE_KEY] = ("warning" if refused else "success", text)
    st.session_state[FULL_RERUN_KEY] = True


def smoothing_loss_floor(smoothing: float, classes: int = 10) -> float:
    """The lowest cross-entropy a model can reach on label-smoothed targets: their own entropy."""
    import math

    sure, spread = 1 - smoothing + smoothing / classes, smoothing / classes
    return -(sure * math.log(sure) + (classes - 1) * spread * math.log(spread))


def augmentation_preview() -> None:
    """A few MNIST training digits beside what augmentation makes of them; computed only when opened."""
    panel = st.expander("What does augmentation do?", key="train_augmentation_preview", on_change="rerun")
    if not panel.open:
        return
    with panel:
        try:
            from digitlab.datasets.mnist import load_mnist

            mnist = load_mnist()
        except Exception as error:  # noqa: BLE001 - MnistUnavailableError or a broken file: say so, keep the page
            st.info(f"The preview needs the MNIST training images: {error}")
            return
        originals, variants = augmented_examples(mnist.x_train[:8])
        st.caption("Top: MNIST training digits. Below: the same digits as one epoch of an augmented run might "
                   "see them: shifted, turned, scaled and drawn thicker or thinner. Every epoch draws new ones.")
        for row in (originals, *variants):
            columns = st.columns(len(row))
            for column, image in zip(columns, row):
                column.image(pixel_image(image, 3, grid=False))


@st.cache_data(show_spinner="Augmenting a few digits...", max_entries=1)
def augmented_examples(images: np.ndarray, rounds: int = 2) -> tuple[np.ndarray, list[np.ndarray]]:
    from digitlab.training.augmentation import augment_batch

    batch = images[..., None].astype(np.float32)
    variants = [np.clip(np.asarray(augment_batch(batch))[..., 0], 0, 255).astype(np.uint8) for _ in range(rounds)]
    return images, variants


# --- formatting ------------------------------------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """'45 s', '3 min 07 s', '1 h 02 min'; '–' when unknown."""
    if seconds is None:
        return "–"
    seconds = int(round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _percent(value: float | None) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else "–"


def _describe_settings(config: TrainConfig | None) -> str:
    """A run's training config in one line."""
    if config is None:
        return "settings unknown"
    images = config.limit
    return (f"{config.epochs} epoch{'' if config.epochs == 1 else 's'} · batch {config.batch_size} · "
            f"lr {config.lr} · {'augmented' if config.augment else 'no augmentation'} · "
            f"{(f'{images:,}' if images else 'all')} images · seed {config.seed}"
            + (f" · from {Path(config.init_from).name}" if config.init_from else "")
            + (f" · drawing bank ×{config.bank_weight}" if config.bank_weight else ""))


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text else ""
