"""Deployment settings: what a visitor may do with training on this instance of the app.

Each setting is read from an environment variable and, failing that, from a mapping the UI layer passes
in (Streamlit's st.secrets, so a hosted deployment can set them in its secrets file). Public deployments
set DIGITLAB_TRAINING_ENABLED=false: training is the only thing a visitor can do that costs minutes of CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

TRAINING_ENABLED_VAR = "DIGITLAB_TRAINING_ENABLED"
MAX_EPOCHS_VAR = "DIGITLAB_MAX_EPOCHS"
MAX_TRAIN_IMAGES_VAR = "DIGITLAB_MAX_TRAIN_IMAGES"
TRAIN_THREADS_VAR = "DIGITLAB_TRAIN_THREADS"
MAX_RUNS_PER_HOUR_VAR = "DIGITLAB_MAX_RUNS_PER_HOUR"
BANK_SAVES_PER_MINUTE_VAR = "DIGITLAB_BANK_SAVES_PER_MINUTE"
BANK_MAX_DRAWINGS_VAR = "DIGITLAB_BANK_MAX_DRAWINGS"
TRAIN_MEMORY_MB_VAR = "DIGITLAB_TRAIN_MEMORY_MB"

MNIST_TRAIN_IMAGES = 60_000
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the variable and what it accepts."""


@dataclass(frozen=True)
class Settings:
    training_enabled: bool = True  # False hides the training form (and run actions) from every visitor
    max_epochs: int = 50  # the most epochs a run started from the UI may ask for
    max_train_images: int = MNIST_TRAIN_IMAGES  # the most training images a run from the UI may use
    train_threads: int = 1  # CPU threads a training process may use, so drawing stays responsive
    max_runs_per_hour: int = 6  # runs one visitor may start in an hour (the owner and a local user: no limit)
    bank_saves_per_minute: int = 10  # drawings a visitor may save to the drawing bank per minute
    bank_max_drawings: int = 50_000  # visitors' saves stop when the bank holds this many (about 100 MB)
    # The most memory a training process may be estimated to need (digitlab.training.memory_budget). Cloud gives
    # the app and its trainer about 2.7 GB together: the server holds about 0.1 GB serving with LiteRT and 0.9 GB
    # once "Why?" has loaded TensorFlow, which leaves a run 1.5 GB and the visitors' sessions some room.
    train_memory_mb: int = 1500

    def refusal(self, epochs: int, train_images: int | None) -> str | None:
        """Why a run with these epochs and images is not allowed here, or None when it is."""
        if not self.training_enabled:
            return "Training is turned off on this deployment."
        if epochs > self.max_epochs:
            return f"This deployment allows at most {self.max_epochs} epochs per run."
        images = MNIST_TRAIN_IMAGES if train_images is None else train_images
        if images > self.max_train_images:
            return f"This deployment allows at most {self.max_train_images:,} training images per run."
        return None


def load_settings(secrets: Mapping | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from environment variables, then from secrets, then the defaults; SettingsError if one is bad."""
    defaults = Settings()

    def raw(name: str):
        return setting_value(name, secrets, environ)

    return Settings(
        training_enabled=_as_bool(TRAINING_ENABLED_VAR, raw(TRAINING_ENABLED_VAR), defaults.training_enabled),
        max_epochs=_as_positive_int(MAX_EPOCHS_VAR, raw(MAX_EPOCHS_VAR), defaults.max_epochs),
        max_train_images=min(MNIST_TRAIN_IMAGES, _as_positive_int(MAX_TRAIN_IMAGES_VAR, raw(MAX_TRAIN_IMAGES_VAR),
                                                                  defaults.max_train_images)),
        train_threads=_as_positive_int(TRAIN_THREADS_VAR, raw(TRAIN_THREADS_VAR), defaults.train_threads),
        max_runs_per_hour=_as_positive_int(MAX_RUNS_PER_HOUR_VAR, raw(MAX_RUNS_PER_HOUR_VAR), defaults.max_runs_per_hour),
        bank_saves_per_minute=_as_positive_int(BANK_SAVES_PER_MINUTE_VAR, raw(BANK_SAVES_PER_MINUTE_VAR),
                                               defaults.bank_saves_per_minute),
        bank_max_drawings=_as_positive_int(BANK_MAX_DRAWINGS_VAR, raw(BANK_MAX_DRAWINGS_VAR), defaults.bank_max_drawings),
        train_memory_mb=_as_positive_int(TRAIN_MEMORY_MB_VAR, raw(TRAIN_MEMORY_MB_VAR), defaults.train_memory_mb),
    )


def setting_value(name: str, secrets: Mapping | None = None, environ: Mapping[str, str] | None = None):
    """A setting's raw value: the environment variable if set, else the top-level secrets key, else None."""
    environ = os.environ if environ is None else environ
    if environ.get(name) not in (None, ""):
        return environ[name]
    return (secrets or {}).get(name)


def _as_bool(name: str, value, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(f"{name} is '{value}'; use true or false.")


def _as_positive_int(name: str, value, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(str(value).strip().replace("_", ""))
    except ValueError:
        raise SettingsError(f"{name} is '{value}'; use a whole number of 1 or more.") from None
    if number < 1:
        raise SettingsError(f"{name} is {number}; use a whole number of 1 or more.")
    return number
