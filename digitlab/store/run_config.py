"""config.json of a run: what a training run is asked to do, and the command line that asks for it.

Written once by whoever creates the run (the Train page through jobs, the CLI), read by the trainer.
The architectures' names are listed here, beside the other choices a config makes; the networks
themselves are built in digitlab.training.architectures, which keys its builders by these names.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_ARCHITECTURE = "digitnet"
ARCHITECTURE_NAMES = ("mlp", "cnn-small", "cnn-deep", DEFAULT_ARCHITECTURE)
MAX_BANK_WEIGHT = 20  # more copies than this only make the run slower than training longer would
# In a run's name and notes, which every visitor's page shows: brackets make Markdown links and pictures (and
# Streamlit's :color[...] markup), angle brackets HTML in plotly's legends; control characters break lines.
FORMATTING_CHARACTERS = re.compile(r"[\[\]<>\x00-\x1f\x7f]")
KIND_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text", dict: "an object"}
MAX_SEED = 2**32 - 1  # the largest seed TensorFlow and numpy take
MAX_THREADS = 256  # TensorFlow aborts the process on a count below 1; more than this is a typo
WIDTH_RANGE = (4, 256)  # digitnet's first filters: fewer learn little, more do not fit a CPU's minutes


@dataclass
class TrainConfig:
    """Everything a training run needs; written once to config.json and trained from as written."""

    arch: str = DEFAULT_ARCHITECTURE  # architecture name from digitlab.training.architectures
    width: int | None = None  # digitnet's first filters (later blocks 2x, 4x); None: the shipped network's 32
    epochs: int = 3  # passes over the training images
    batch_size: int = 128  # images per gradient step
    lr: float = 1e-3  # peak learning rate (Adam), decayed to zero along a cosine
    augment: bool = True  # random affine and stroke-width changes while training
    seed: int = 0  # seeds shuffling, augmentation and initial weights
    limit: int | None = None  # train on only this many images (validation is taken from them too)
    validation_fraction: float = 0.1  # share of the training images held out to validate each epoch
    threads: int | None = None  # CPU threads TensorFlow may use; None lets it decide
    label_smoothing: float = 0.05  # softens targets so confidences stay honest on odd drawings
    teacher: str | None = None  # a registered model (name or path) whose probabilities the student also learns
    teacher_weight: float = 0.7  # share of the target taken from the teacher; the rest is the true label
    pen_digits: str | None = None  # pendigits-orig.tra: its training writers' drawings are added to MNIST
    pen_copies: int = 3  # times each pen digit is drawn (each with its own size, place and brush)
    non_digits: int = 0  # generated non-digit drawings to add; any adds an 11th output, "not a digit"
    unipen: str | None = None  # unipen-dev.tar.gz: its training institutions' digits are added to MNIST
    unipen_copies: int = 1  # times each UNIPEN digit is drawn
    letter_copies: int = 0  # times each chosen UNIPEN letter is drawn as "not a digit" (needs unipen); 0: none
    style_copies: int = 0  # slashed-zero, barred-seven and footed-one copies of each pen 0, 7 and 1; 0: none
    init_from: str | None = None  # a registered model (name or path) whose weights the run starts from
    init_member: int | None = None  # which member (1-based) of an ensemble init_from to start from
    bank_weight: int = 0  # times each drawing of the bank snapshot (bank.npz) is repeated in training; 0: no bank
    title: str = ""  # the name a person gave the run, shown in tables and legends
    notes: str = ""  # what the person wanted to find out with it
    extra: dict = field(default_factory=dict)  # free-form notes carried into the run's config

    def validate(self) -> None:
        """Raise ValueError with a message a user can act on when a field cannot be trained with."""
        if self.arch not in ARCHITECTURE_NAMES:
            raise ValueError(f"Unknown architecture '{self.arch}'. Choose one of: {', '.join(ARCHITECTURE_NAMES)}.")
        if self.width is not None and self.arch != DEFAULT_ARCHITECTURE:
            raise ValueError(f"width applies to {DEFAULT_ARCHITECTURE} only, not to {self.arch}.")
        if self.width is not None and not (WIDTH_RANGE[0] <= self.width <= WIDTH_RANGE[1]):
            raise ValueError(f"width must be between {WIDTH_RANGE[0]} and {WIDTH_RANGE[1]}.")
        if self.epochs < 1:
            raise ValueError("epochs must be at least 1.")
        if self.batch_size < 1:
            raise ValueError("batch size must be at least 1.")
        if not (0 < self.lr < 1):
            raise ValueError("learning rate must be between 0 and 1.")
        if self.threads is not None and not (1 <= self.threads <= MAX_THREADS):
            raise ValueError(f"threads must be from 1 to {MAX_THREADS}.")
        if not (0 <= self.seed <= MAX_SEED):
            raise ValueError(f"seed must be from 0 to {MAX_SEED:,} (TensorFlow's seeds are 32-bit).")
        if self.limit is not None and self.limit < 20:
            raise ValueError("limit must be at least 20 images.")
        if not (0 < self.validation_fraction < 0.5):
            raise ValueError("validation fraction must be between 0 and 0.5.")
        if not (0 <= self.label_smoothing < 1):
            raise ValueError("label smoothing must be at least 0 and below 1.")
        if not (0 <= self.teacher_weight <= 1):
            raise ValueError("teacher weight must be between 0 and 1.")
        if self.pen_digits is not None and not Path(self.pen_digits).is_file():
            raise ValueError(f"pen digits file {self.pen_digits} not found.")
        if self.pen_copies < 1 or self.non_digits < 0:
            raise ValueError("pen copies must be at least 1 and non-digits at least 0.")
        if self.unipen is not None and not Path(self.unipen).is_file():
            raise ValueError(f"UNIPEN archive {self.unipen} not found.")
        if self.unipen_copies < 1 or self.letter_copies < 0 or self.style_copies < 0:
            raise ValueError("UNIPEN copies must be at least 1, letter and style copies at least 0.")
        if self.letter_copies and self.unipen is None:
            raise ValueError("letter copies need the UNIPEN archive (--unipen), which holds the letters.")
        if self.style_copies and self.pen_digits is None and self.unipen is None:
            raise ValueError("style copies need pen digits to style (--pen-digits or --unipen).")
        if not (0 <= self.bank_weight <= MAX_BANK_WEIGHT):
            raise ValueError(f"bank weight must be between 0 and {MAX_BANK_WEIGHT}.")
        if len(self.title) > 80:
            raise ValueError("a run's name may have at most 80 characters.")
        for what, text in (("name", self.title), ("notes", self.notes)):
            if FORMATTING_CHARACTERS.search(text):
                raise ValueError(f"a run's {what} may not contain [ ] < > or control characters: everyone's Train "
                                 "page shows them, where they would make links, pictures or markup.")
        if len(self.notes) > 300:
            raise ValueError("a run's notes may have at most 300 characters.")

    def to_json(self) -> dict:
        return asdict(self)

    @property
    def learns_not_a_digit(self) -> bool:
        """Whether the run trains an 11th output, "not a digit" (generated non-digits or real letters)."""
        return bool(self.non_digits or self.letter_copies)

    @classmethod
    def from_json(cls, data: Any) -> "TrainConfig":
        """The config a config.json holds; ValueError when it is not one."""
        if not isinstance(data, dict):
            raise ValueError("the run's config is not a JSON object")
        from digitlab.store.run_records import field_kinds

        kinds = field_kinds(cls)
        values = {key: value for key, value in data.items() if key in kinds}
        for key, value in values.items():
            # A hand-edited "epochs": "3" or "lr": null would fail later, in every list of runs and models
            if value is None and cls.__dataclass_fields__[key].default is None:
                continue
            kind = kinds[key]
            fits = (isinstance(value, (int, float)) and not isinstance(value, bool) if kind is float
                    else isinstance(value, kind) and (kind is bool or not isinstance(value, bool)))
            if not fits:
                raise ValueError(f"the run's config gives {key} as {value!r}, which is not {KIND_WORDS[kind]}")
        try:
            config = cls(**values)
        except TypeError as error:
            raise ValueError(f"the run's config is incomplete: {error}") from None
        config.validate()
        return config


def train_command(config: TrainConfig) -> str:
    """The command line that trains this config from scratch (recorded on model cards)."""
    args = ["python -m digitlab train", "--arch", config.arch, "--epochs", str(config.epochs),
            "--batch-size", str(config.batch_size), "--lr", str(config.lr),
            "--augment" if config.augment else "--no-augment", "--seed", str(config.seed)]
    if config.width is not None:
        args += ["--width", str(config.width)]
    if config.limit is not None:
        args += ["--limit", str(config.limit)]
    if config.teacher is not None:
        args += ["--teacher", str(config.teacher), "--teacher-weight", str(config.teacher_weight)]
    if config.pen_digits is not None:
        args += ["--pen-digits", str(config.pen_digits), "--pen-copies", str(config.pen_copies)]
    if config.unipen is not None:
        args += ["--unipen", str(config.unipen), "--unipen-copies", str(config.unipen_copies)]
    if config.letter_copies:
        args += ["--letter-copies", str(config.letter_copies)]
    if config.style_copies:
        args += ["--style-copies", str(config.style_copies)]
    if config.non_digits:
        args += ["--non-digits", str(config.non_digits)]
    if config.init_from is not None:
        args += ["--init-from", str(config.init_from)]
    if config.init_member is not None:
        args += ["--init-member", str(config.init_member)]
    if config.bank_weight:
        args += ["--bank-weight", str(config.bank_weight)]
    return " ".join(args)
