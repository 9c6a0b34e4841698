"""The Train page's parts: the run form, the live view of a run, and the table of every run.

Everything shown comes from run folders (digitlab.jobs), never from this session's memory, so a reload,
a second tab or another visitor sees the same run. The live view is a fragment that refreshes itself
every second while a run is active and not at all otherwise.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import fields

import pandas as pd
import streamlit as st

from digitlab import jobs
from digitlab.jobs import RunInfo
from digitlab.models import ARCHITECTURES
from digitlab.registry import ModelLoadError, models_dir
from digitlab.settings import MNIST_TRAIN_IMAGES, Settings, SettingsError, load_settings
from digitlab.train import TrainConfig
from digitlab.ui.training_charts import overlay_figure, training_curves_figure

LIVE_REFRESH_SECONDS = 1.0
FORCE_STOP_AFTER_SECONDS = 30.0  # a run still going this long after Stop may be stuck: offer to kill it
WATCHED_RUN_KEY = "train_watched_run"  # the last run this session saw active, shown until another one runs
NOTICE_KEY = "train_notice"  # (kind, text) left by a button callback for the next script run to show
MODEL_PICKER_KEY = "model_name"  # the sidebar's model selectbox (digitlab.ui.sidebar)
FORM_KEYS = {"arch": "train_arch", "epochs": "train_epochs", "batch_size": "train_batch_size", "lr": "train_lr",
             "augment": "train_augment", "images": "train_images", "seed": "train_seed"}
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
    from digitlab.atomic import read_json

    card = read_json(models_dir() / "default.json", default={}) or {}
    config = card.get("config") if isinstance(card, dict) else None
    members = card.get("members") if isinstance(card, dict) else None
    if config is None and isinstance(members, list) and members and isinstance(members[0], dict):
        config = members[0].get("config")
    if not isinstance(config, dict):
        return DEFAULT_MODEL_RECIPE
    known = {field.name for field in fields(TrainConfig)} - {"threads", "extra", "teacher", "teacher_weight"}
    try:
        recipe = TrainConfig(**{key: value for key, value in config.items() if key in known})
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


def train_form(settings: Settings, active: RunInfo | None) -> None:
    """The run form; Start launches a training process (refused while another run holds the lock)."""
    if not settings.training_enabled:
        st.info("Training is turned off on this deployment. The runs already trained are listed below.")
        return
    for name, value in _form_values(QUICK_RECIPE, settings).items():
        st.session_state.setdefault(FORM_KEYS[name], value)

    recipes = st.container(horizontal=True)
    recipes.button("Quick run settings", on_click=_apply_recipe, args=(QUICK_RECIPE, settings),
                   help="Fills in the form: cnn-small, 2 epochs, 10,000 images, about a minute on two CPU cores.")
    recipes.button("Default model's settings", on_click=_apply_recipe, args=(default_model_recipe(), settings),
                   help="Fills in the form with the settings the default model was trained with (much longer).")

    with st.form("train_form", border=True):
        left, middle, right = st.columns(3)
        left.selectbox("Architecture", list(ARCHITECTURES), key=FORM_KEYS["arch"],
                       help="; ".join(f"{name}: {_first_line(build.__doc__)}" for name, build in ARCHITECTURES.items()))
        left.toggle("Augmentation", key=FORM_KEYS["augment"],
                    help="Random shifts, rotations and stroke widths, so the model copes with drawings.")
        middle.number_input("Epochs", min_value=1, max_value=settings.max_epochs, step=1, key=FORM_KEYS["epochs"])
        fewest, most = _images_range(settings)
        middle.number_input("Training images", min_value=fewest, max_value=most, step=1000, key=FORM_KEYS["images"],
                            help=f"How many MNIST training images to use ({MNIST_TRAIN_IMAGES:,} = all); "
                                 "10% of them are held out to validate each epoch.")
        right.number_input("Batch size", *BATCH_SIZE_RANGE, step=32, key=FORM_KEYS["batch_size"])
        right.number_input("Learning rate", *LEARNING_RATE_RANGE, step=1e-4, format="%.5f", key=FORM_KEYS["lr"],
                           help="Peak learning rate of Adam, decayed along a cosine.")
        right.number_input("Seed", 0, MAX_SEED, step=1, key=FORM_KEYS["seed"])
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
            "augment": recipe.augment, "seed": clamp(recipe.seed, 0, MAX_SEED),
            "images": clamp(recipe.limit or MNIST_TRAIN_IMAGES, *_images_range(settings))}


def _images_range(settings: Settings) -> tuple[int, int]:
    return min(MIN_TRAIN_IMAGES, settings.max_train_images), settings.max_train_images


def _start(settings: Settings) -> None:
    state = st.session_state
    images = int(state[FORM_KEYS["images"]])
    config = TrainConfig(arch=state[FORM_KEYS["arch"]], epochs=int(state[FORM_KEYS["epochs"]]),
                         batch_size=int(state[FORM_KEYS["batch_size"]]), lr=float(state[FORM_KEYS["lr"]]),
                         augment=bool(state[FORM_KEYS["augment"]]), seed=int(state[FORM_KEYS["seed"]]),
                         limit=None if images >= MNIST_TRAIN_IMAGES else images)
    try:
        run = jobs.start_run(config, settings)
    except jobs.TrainingBusyError as error:
        st.warning(str(error))
        return
    except (ValueError, OSError) as error:
        st.error(f"The run could not start: {error}")
        return
    st.session_state[WATCHED_RUN_KEY] = run.name
    st.rerun()  # redraw the page with the live view polling


# --- the live view -----------------------------------------------------------------------------------------


def live_run_panel(active: RunInfo | None, settings: Settings) -> None:
    """The active run, or else the last run this session saw active, in a fragment that polls while it runs."""
    if active is not None:
        st.session_state[WATCHED_RUN_KEY] = active.name  # so its outcome stays in view when it ends
    name = st.session_state.get(WATCHED_RUN_KEY)
    if not name or not (jobs.runs_root() / name).is_dir():
        return
    is_active = active is not None
    # run_every is fixed each full script run: one-second polling while a run is active, none when idle.
    live = st.fragment(_live_run, run_every=LIVE_REFRESH_SECONDS if is_active else None)
    live(name, is_active, settings.training_enabled)


def _live_run(run_name: str, polling: bool, can_stop: bool) -> None:
    run = jobs.refresh_run(jobs.read_run(jobs.runs_root() / run_name))
    if polling and not run.is_active:
        st.rerun()  # it has just finished: redraw the whole page (runs table included) and stop polling
    st.subheader(f"Run {run.name}")
    _run_status(run, can_stop)
    history = jobs.read_history(run.dir)
    if len(history):
        st.plotly_chart(training_curves_figure(history, run.status.get("batches_per_epoch")),
                        config={"displayModeBar": False}, key=f"curves-{run.name}")
    elif run.is_active:
        st.caption("The curves appear after the first batches.")


def _run_status(run: RunInfo, can_stop: bool = False) -> None:
    """Progress and Stop while a run is going; its metrics, and why it ended if not done, afterwards."""
    status, config = run.status, run.train_config
    st.caption(f"{config.get('arch', '?')} · {_describe_settings(config)} · {run.state}")
    if run.is_active:
        batches = status.get("batches_per_epoch")
        where = (f"Epoch {status.get('epoch', 0)} of {status.get('epochs', config.get('epochs', '?'))}"
                 + (f" · batch {status.get('batch', 0)} of {batches}" if batches else ""))
        message = status.get("message") or "Starting"
        st.progress(min(max(float(status.get("progress") or 0.0), 0.0), 1.0),
                    text=f"{where} · {message}" if message != "Training" else where)
        columns = st.columns(4)
        columns[0].metric("Elapsed", format_duration(run.duration))
        columns[1].metric("Time left", format_duration(status.get("eta")) if status.get("eta") is not None else "…")
        columns[2].metric("Best validation accuracy", _percent(status.get("best_val_accuracy")))
        if can_stop:
            with columns[3]:
                _stop_controls(run)
        return
    columns = st.columns(4)
    columns[0].metric("Test accuracy", _percent(status.get("test_accuracy")))
    columns[1].metric("Best validation accuracy", _percent(status.get("best_val_accuracy")))
    columns[2].metric("Epochs completed", f"{status.get('completed_epochs', 0)} of {status.get('epochs', '?')}")
    columns[3].metric("Duration", format_duration(run.duration))
    message = status.get("message") or ""
    if run.state == "done":
        st.success(f"Finished. Test accuracy on the 10,000 MNIST test images: {_percent(status.get('test_accuracy'))}.")
    elif run.state == "stopped":
        st.warning(message or "Stopped.")
    elif run.state == "failed":
        st.error(message or "The run failed.")
        tail = run.log_tail(20)
        if tail:
            st.code(tail, language=None)


def _stop_controls(run: RunInfo) -> None:
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


def runs_section(settings: Settings) -> None:
    """Every run in a table; select runs to overlay their curves, use one's model or delete them."""
    st.subheader("Runs")
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice:
        getattr(st, notice[0])(notice[1])
    runs = jobs.refresh_runs()
    if not runs:
        st.caption("No runs yet. Start one above; each run's files live in its own folder under "
                   f"{jobs.runs_root()}.")
        return
    event = st.dataframe(runs_table(runs), key=runs_table_key(runs), on_select="rerun", selection_mode="multi-row",
                         hide_index=True, column_config=_COLUMN_CONFIG)
    selected = [runs[index] for index in event.selection.rows if index < len(runs)]
    if not selected:
        st.caption("Select runs in the table to compare their curves, use a run's model, or delete runs.")
        return
    if len(selected) == 1:
        _run_details(selected[0])
    else:
        curves = [(run.name, jobs.read_history(run.dir), run.status.get("batches_per_epoch")) for run in selected]
        st.plotly_chart(overlay_figure(curves), config={"displayModeBar": False}, key="runs-overlay")
    if settings.training_enabled:
        _run_actions(selected)


def _run_details(run: RunInfo) -> None:
    """One selected run: its outcome (with the end of its log when it failed) and its curves."""
    if run.is_active:
        st.caption(f"Run {run.name} is {run.state}: it is shown live above.")
        return
    st.markdown(f"**{run.name}**")
    _run_status(run)
    history = jobs.read_history(run.dir)
    if len(history):
        st.plotly_chart(training_curves_figure(history, run.status.get("batches_per_epoch"), title="Its curves"),
                        config={"displayModeBar": False}, key=f"details-{run.name}")


def runs_table(runs: list[RunInfo]) -> pd.DataFrame:
    """One row per run: what a visitor compares runs by."""
    rows = []
    for run in runs:
        status, config = run.status, run.train_config
        epochs = status.get("epochs") or config.get("epochs")
        rows.append({
            "Run": run.name,
            "Status": run.state,
            "Architecture": config.get("arch") or status.get("arch"),
            "Parameters": status.get("parameters"),
            "Epochs": f"{status.get('completed_epochs', 0)} / {epochs}" if epochs else None,
            "Best val accuracy": status.get("best_val_accuracy"),
            "Test accuracy": status.get("test_accuracy"),
            "Duration": format_duration(run.duration),
            "Started": time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started_at)) if run.started_at else None,
            "Settings": _describe_settings(config),
        })
    return pd.DataFrame(rows)


_COLUMN_CONFIG = {
    "Parameters": st.column_config.NumberColumn(format="localized", help="Trainable and fixed weights of the model"),
    "Best val accuracy": st.column_config.NumberColumn(format="percent"),
    "Test accuracy": st.column_config.NumberColumn(format="percent", help="On the 10,000 MNIST test images"),
}


def runs_table_key(runs: list[RunInfo]) -> str:
    """A table key that changes when runs come or go, so a selection never slides onto another run."""
    names = "\n".join(run.name for run in runs)
    return "runs-table-" + hashlib.sha1(names.encode()).hexdigest()[:12]


def _run_actions(selected: list[RunInfo]) -> None:
    use_column, delete_column = st.columns(2)
    with use_column:
        if len(selected) == 1 and selected[0].can_promote:
            run = selected[0]
            name_key = f"promote-name-{run.name}"
            st.text_input("Model name", value=run.name, key=name_key, max_chars=80,
                          help="Letters, digits, '-' and '_'. The model is copied into models/ under this name.")
            st.button("Use this model", type="primary", on_click=_use_model, args=(run, name_key),
                      help="Copy this run's model into models/ and make it the model the Draw page uses.")
        elif len(selected) == 1:
            st.caption(f"Run {selected[0].name} has no finished model to use ({selected[0].state}).")
        else:
            st.caption("Select a single finished run to use its model.")
    with delete_column:
        deletable = [run for run in selected if not run.is_active]
        if len(deletable) < len(selected):
            st.caption("A run that is still going cannot be deleted; stop it first.")
        if deletable:
            with st.popover(f"Delete {len(deletable)} run(s)"):
                st.write("Delete " + ", ".join(run.name for run in deletable) + "? Their files are removed; "
                         "models already copied into models/ stay.")
                st.button("Delete", type="primary", key="confirm-delete", on_click=_delete_runs, args=(deletable,))


def _use_model(run: RunInfo, name_key: str) -> None:
    # A callback, because it sets the sidebar's model picker, which may only change before it is drawn.
    name = str(st.session_state.get(name_key) or run.name)
    try:
        promoted = jobs.promote_finished_run(run, name)
    except (ModelLoadError, ValueError, jobs.RunActiveError, OSError) as error:
        st.session_state[NOTICE_KEY] = ("error", f"The model was not copied: {error}")
        return
    st.session_state[MODEL_PICKER_KEY] = promoted
    st.session_state[NOTICE_KEY] = ("success", f"Model **{promoted}** is now in models/ and is the active model: "
                                               "the Draw page uses it.")


def _delete_runs(runs: list[RunInfo]) -> None:
    deleted, refused = [], []
    for run in runs:
        try:
            jobs.delete_run(run)
            deleted.append(run.name)
        except (jobs.RunActiveError, OSError) as error:
            refused.append(str(error))
    if st.session_state.get(WATCHED_RUN_KEY) in deleted:
        del st.session_state[WATCHED_RUN_KEY]
    text = (f"Deleted {', '.join(deleted)}. " if deleted else "") + " ".join(refused)
    st.session_state[NOTICE_KEY] = ("warning" if refused else "success", text)


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


def _describe_settings(config: dict) -> str:
    """A run's training config in one line."""
    if not config:
        return "settings unknown"
    images = config.get("limit")
    epochs = config.get("epochs", "?")
    return (f"{epochs} epoch{'' if epochs == 1 else 's'} · batch {config.get('batch_size', '?')} · "
            f"lr {config.get('lr', '?')} · {'augmented' if config.get('augment') else 'no augmentation'} · "
            f"{(f'{images:,}' if images else 'all')} images · seed {config.get('seed', '?')}")


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text else ""
