"""status.json and job.json of a run: what the trainer says about its run, and what was launched for it."""

from __future__ import annotations

import functools
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from typing import Any

ACTIVE_STATES = ("starting", "running")
FINISHED_STATES = ("done", "stopped", "failed")
MODEL_STATES = ("done", "stopped")  # states in which the run left a model behind


@dataclass
class RunStatus:
    """status.json: what the trainer says about its run, rewritten atomically as it goes."""

    state: str = "starting"  # starting, running, done, stopped or failed
    message: str = ""  # what it is doing, or why it ended
    pid: int | None = None  # the trainer's process id
    started_at: float | None = None  # when the trainer began (epoch seconds)
    updated_at: float | None = None  # when this status was written
    finished_at: float | None = None  # when it ended
    elapsed: float | None = None  # seconds trained, final once finished
    eta: float | None = None  # estimated seconds left; None until it means something
    progress: float = 0.0  # share of all batches done, 0..1
    epoch: int = 0  # the epoch in progress, from 1
    batch: int = 0  # batches done in that epoch
    batches_per_epoch: int | None = None  # batches in one epoch
    completed_epochs: int = 0  # epochs whose model was saved
    model_sha256: str | None = None  # sha256 of model.keras as last saved
    best_val_accuracy: float | None = None  # best validation accuracy of a completed epoch
    val_accuracy: float | None = None  # validation accuracy of the last completed epoch
    train_accuracy: float | None = None  # training accuracy of the last completed epoch
    test_accuracy: float | None = None  # on the 10,000 MNIST test images, measured at the end
    train_images: int | None = None  # images per epoch
    validation_images: int | None = None  # images validated on after each epoch
    parameters: int | None = None  # weights in the model
    partial: bool = False  # stopped before its last epoch: the model is of an earlier epoch
    warning: str | None = None  # why its model should not be trusted (for example: it learned nothing)
    extra_training_data: dict | None = None  # the pen digits and non-digits added to MNIST, as the card records them
    comparison: dict | None = None  # the starting (or active) model and this one on MNIST test and held-out drawings
    litert: dict | None = None  # model.tflite, written as the run finished: the card section registered models have
    memory_estimate_mb: float | None = None  # the peak memory digitlab.training.memory_budget estimated for it
    peak_memory_mb: float | None = None  # the trainer's peak resident memory so far (the kernel's high-water mark)

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "RunStatus":
        """A status from status.json, tolerating missing and mistyped fields (it may be hand-edited)."""
        if not isinstance(data, dict):
            return cls(state="unknown")
        values = {}
        kinds = field_kinds(cls)
        for item in fields(cls):
            if item.name in data:
                value = _coerce(data[item.name], kinds[item.name])
                if value is not None or item.default is None:
                    values[item.name] = value
        return cls(**values)


@functools.cache
def field_kinds(record: type) -> dict[str, type]:
    """Each field's type with None taken out of it ("float | None" is float), from the class's annotations."""
    kinds = {}
    for name, hint in typing.get_type_hints(record).items():
        if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
            hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
        kinds[name] = typing.get_origin(hint) or hint
    return kinds


def _coerce(value: Any, kind: type) -> Any:
    """value as the field's type; None when it is not one (a hand-edited "started_at": "yesterday" included)."""
    if kind is bool:
        return value if isinstance(value, bool) else None
    if kind in (int, float):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return None  # NaN or infinity is no time, count or share
        return kind(value) if kind is float or float(value).is_integer() else None
    return value if isinstance(value, kind) else None


@dataclass
class JobRecord:
    """job.json: the process launched for a run, written by the launcher as soon as it exists."""

    pid: int | None = None  # the launched process
    command: list[str] = field(default_factory=list)  # exactly what was launched
    launched_at: float | None = None  # when (epoch seconds)
    started_by: str = ""  # who started it: a visitor's id, or "local"
    started_in: str = ""  # the browser it was started in, as a token (training.visitors); "" where none was sent
    create_time: float | None = None  # when that process was created (psutil): a later one reusing the pid is not it

    @classmethod
    def from_json(cls, data: Any) -> "JobRecord | None":
        if not isinstance(data, dict) or not data:
            return None
        pid = data.get("pid")
        return cls(pid=pid if isinstance(pid, int) else None,
                   command=[str(part) for part in data["command"]] if isinstance(data.get("command"), list) else [],
                   launched_at=data.get("launched_at") if isinstance(data.get("launched_at"), (int, float)) else None,
                   started_by=str(data.get("started_by") or ""), started_in=str(data.get("started_in") or ""),
                   create_time=data.get("create_time") if isinstance(data.get("create_time"), (int, float)) else None)
