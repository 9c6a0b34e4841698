"""The Train page's run form: this deployment's limits, recipes that fill the form, the run's memory, and Start."""

from __future__ import annotations

from dataclasses import fields, replace

import streamlit as st

from digitlab.config.settings import MNIST_TRAIN_IMAGES, Settings
from digitlab.datasets.pendigits import pendigits_path
from digitlab.store.atomic import read_json
from digitlab.store.registry import models_dir
from digitlab.store.run_config import MAX_BANK_WEIGHT, TrainConfig
from digitlab.store.run_folder import Run
from digitlab.training import jobs
from digitlab.training.architectures import ARCHITECTURES
from digitlab.training.memory_budget import estimate_run_memory
from digitlab.ui.access import browser_key, current_deployment, viewer_id
from digitlab.ui.bank_fine_tune import bank_drawing_count, bank_snapshot_or_message, fine_tune_panel
from digitlab.ui.run_live import watch
from digitlab.ui.train_page_state import NOTICE_KEY

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
    """This deployment's settings (digitlab.config.deployment); training is off while its configuration is broken,
    and the sidebar says why."""
    return current_deployment().settings


def default_model_recipe() -> TrainConfig:
    """The config the shipped default model was trained with (its card), else DigitLab's documented recipe.

    For an ensemble that is the recipe of its first member: each member is one ordinary run. A default whose
    last step went on from another run (a polish) cannot be repeated from this form, which starts every run
    from scratch: the recipe's one run from scratch, its student step, is filled in instead.
    """
    card = read_json(models_dir() / "default.json", default={}) or {}
    config = card.get("config") if isinstance(card, dict) else None
    members = card.get("members") if isinstance(card, dict) else None
    if config is None and isinstance(members, list) and members and isinstance(members[0], dict):
        config = members[0].get("config")
    if not isinstance(config, dict):
        return DEFAULT_MODEL_RECIPE
    if config.get("init_from"):
        config = recipe_student_step().to_json()
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


def recipe_student_step() -> TrainConfig:
    """The student step of `python -m digitlab recipe default` (digitlab.training.recipe) as far as this form goes:
    its network, epochs, rate, augmentation, pen digits and non-digits, without the UNIPEN parts and teacher."""
    from digitlab.training.recipe import STUDENT

    return replace(STUDENT, pen_digits=str(pendigits_path()) if pendigits_path() else None, unipen=None,
                   letter_copies=0, style_copies=0, teacher=None, title="")


def default_recipe_help(recipe: TrainConfig) -> str:
    """What the button fills in, as this form can hold it, and what only the recipe command does."""
    data = " and ".join(part for part, used in (("the pen digits", recipe.pen_digits), ("generated non-digits",
                                             recipe.non_digits)) if used) or "no data beyond MNIST"
    return (f"Fills in {recipe.arch}, {recipe.epochs} epochs at learning rate {recipe.lr:g}"
            f"{', augmented' if recipe.augment else ''}, on MNIST with {data}: the default model's own run where it "
            "was trained in one run, else the one run of its recipe that starts from scratch (the student). This "
            "form has no UNIPEN digits, letters or digit styles, no teacher to distil from and no polish; the whole "
            "recipe is one command, `python -m digitlab recipe default --out runs/recipe`, three runs in a row.")


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
    recipe = default_model_recipe()
    recipes.button("Default model's settings", on_click=_apply_recipe, args=(recipe, settings),
                   help=default_recipe_help(recipe))

    if active is not None:  # above the form, in view where Start was pressed; the run's panel is below the form
        st.info(f"Run **{active.title}** is training: its progress and curves are below the form. One run at a time: "
                "stop it there or wait for it to finish.")
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
                          help="With the drawing bank: how many times each of its drawings is shown per epoch "
                               f"(1-{MAX_BANK_WEIGHT}).")
        middle.number_input("Epochs", min_value=1, max_value=settings.max_epochs, step=1, key=FORM_KEYS["epochs"],
                            help=f"Passes over the training images: 1-{settings.max_epochs} on this server.")
        fewest, most = _images_range(settings)
        middle.number_input("Training images", min_value=fewest, max_value=most, step=1000, key=FORM_KEYS["images"],
                            help=f"How many MNIST training images to use, {fewest:,}-{most:,} "
                                 f"({MNIST_TRAIN_IMAGES:,} = all); 10% of them are held out to validate each epoch.")
        right.number_input("Batch size", *BATCH_SIZE_RANGE, step=32, key=FORM_KEYS["batch_size"],
                           help="Images per training step: {:,}-{:,}.".format(*BATCH_SIZE_RANGE))
        right.number_input("Learning rate", *LEARNING_RATE_RANGE, step=1e-4, format="%.5f", key=FORM_KEYS["lr"],
                           help="Peak learning rate of Adam, decayed along a cosine: {:g}-{:g}.".format(
                               *LEARNING_RATE_RANGE))
        right.number_input("Seed", 0, MAX_SEED, step=1, key=FORM_KEYS["seed"],
                           help=f"Fixes the shuffling and the starting weights: 0-{MAX_SEED:,}.")
        name_column, notes_column = st.columns([1, 2])
        name_column.text_input("Run name (optional)", key=FORM_KEYS["title"], max_chars=80,
                               placeholder="e.g. no augmentation", help="Shown in the runs table and in legends.")
        notes_column.text_input("Notes (optional)", key=FORM_KEYS["notes"], max_chars=300,
                                placeholder="What do you want to find out with this run?")
        _memory_note(settings)
        st.caption("A number outside its box's range is outlined in red and not taken; each box's ? gives its range.")
        submitted = st.form_submit_button("Start training", type="primary", disabled=active is not None)
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


def _first_line(text: str | None) -> str:
    return (text or "").strip().splitlines()[0] if text else ""


def _memory_note(settings: Settings) -> None:
    """The run's estimated peak memory against this deployment's budget, for the settings the form holds."""
    config = _form_config()
    estimate = estimate_run_memory(config, bank_drawings=bank_drawing_count() if config.bank_weight else 0)
    refusal = estimate.refusal(settings.train_memory_mb)
    if refusal:
        st.warning(refusal, icon=":material/memory:")
    else:
        st.caption(f"Estimated peak memory: {estimate.total_mb:,.0f} MB of the {settings.train_memory_mb:,} MB this "
                   f"deployment allows a run ({estimate.describe()}).")


def _form_config() -> TrainConfig:
    """The run the form describes (as last submitted, or as a recipe filled it in)."""
    state = st.session_state
    images = int(state[FORM_KEYS["images"]])
    return TrainConfig(arch=state[FORM_KEYS["arch"]], epochs=int(state[FORM_KEYS["epochs"]]),
                       batch_size=int(state[FORM_KEYS["batch_size"]]), lr=float(state[FORM_KEYS["lr"]]),
                       augment=bool(state[FORM_KEYS["augment"]]), seed=int(state[FORM_KEYS["seed"]]),
                       limit=None if images >= MNIST_TRAIN_IMAGES else images,
                       title=str(state.get(FORM_KEYS["title"]) or "").strip(),
                       pen_digits=str(pendigits_path()) if state.get(FORM_KEYS["pen"]) and pendigits_path() else None,
                       pen_copies=PEN_COPIES, non_digits=NON_DIGITS if state.get(FORM_KEYS["refuse"]) else 0,
                       notes=str(state.get(FORM_KEYS["notes"]) or "").strip(),
                       bank_weight=int(state[FORM_KEYS["bank_weight"]]) if state.get(FORM_KEYS["bank"]) else 0)


def _start(settings: Settings) -> None:
    config = _form_config()
    bank = None
    if config.bank_weight:
        bank = bank_snapshot_or_message()
        if bank is None:
            return
    try:
        run = jobs.start_run(config, settings, started_by=viewer_id(), started_in=browser_key(), bank=bank)
    except (jobs.TrainingBusyError, jobs.RunQuotaError) as error:
        st.warning(str(error))
        return
    except (ValueError, OSError) as error:
        st.error(f"The run could not start: {error}")
        return
    watch(run)


def bank_fine_tune(settings: Settings, active: Run | None) -> None:
    """The "fine-tune a model on the drawing bank" panel; the run it starts is followed live."""
    run = fine_tune_panel(settings, active)
    if run is not None:
        watch(run)
