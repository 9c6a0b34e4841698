"""The drawing bank as training data: which writers a run learns from, and what it changed.

A run that trains on the bank gets a snapshot of it (runs.BankDrawings, bank.npz in the run folder):
most writers' drawings to learn from, and a few writers held out whole. A model that has seen some of
a writer's drawings reads that writer's other drawings better than it would read a stranger, so only
held-out writers say how the model will do for the next class. The split ranks writers by a hash of
their tag, so the same bank always gives the same split, and each run keeps its own split in its
snapshot, so its before/after figures stay true however the bank grows later.

Before such a model is promoted, the person deciding sees it beside the model it would replace (the
one it started from, or the active model) on MNIST test and on the held-out writers' drawings.
"""

from __future__ import annotations

import hashlib
import math
from typing import TYPE_CHECKING, Iterable

import numpy as np

from digitlab.store.run_folder import BankDrawings

if TYPE_CHECKING:
    from digitlab.bank.repository import DrawingBank, DrawingDataset

HELD_OUT_SHARE = 0.25  # of the bank's writers, never trained on; what before/after is measured on
DEFAULT_REPLAY_IMAGES = 10_000  # MNIST images a bank fine-tune mixes in so the model keeps what it knew
DEFAULT_FINE_TUNE_EPOCHS = 2
DEFAULT_FINE_TUNE_LR = 3e-4  # a tenth of a fresh run's: the starting weights are already good
DEFAULT_BANK_WEIGHT = 3


def held_out_people(people: Iterable[str], share: float = HELD_OUT_SHARE) -> set[str]:
    """The writers held out of training: a `share` of them (at least one once there are two), by tag hash."""
    unique = sorted(set(people))
    if len(unique) < 2 or share <= 0:
        return set()
    count = min(len(unique) - 1, max(1, math.ceil(share * len(unique))))
    ranked = sorted(unique, key=lambda person: hashlib.sha256(person.encode("utf-8")).hexdigest())
    return set(ranked[:count])


def snapshot_dataset(dataset: "DrawingDataset", source: str, share: float = HELD_OUT_SHARE) -> BankDrawings:
    """The dataset split by writer into the drawings a run learns from and those it is measured on."""
    people = dataset.people.astype(str)
    held_out = np.isin(people, sorted(held_out_people(people, share)))
    return BankDrawings(train_x=dataset.x[~held_out], train_y=dataset.y[~held_out], train_writers=people[~held_out],
                        held_out_x=dataset.x[held_out], held_out_y=dataset.y[held_out],
                        held_out_writers=people[held_out], source=source)


def snapshot_bank(bank: "DrawingBank", share: float = HELD_OUT_SHARE) -> BankDrawings:
    """The bank's labelled drawings, now, split for a run (see snapshot_dataset)."""
    from digitlab.bank.repository import describe_url

    return snapshot_dataset(bank.as_dataset(), describe_url(bank.url), share)


def starting_architecture(card: dict, member: int | None = None) -> str:
    """The architecture a run fine-tuning this model card's network (or ensemble member) trains."""
    from digitlab.training.architectures import ARCHITECTURES, DEFAULT_ARCHITECTURE

    candidates = [card.get("architecture"), (card.get("config") or {}).get("arch")]
    members = card.get("members")
    if isinstance(members, list) and members:
        chosen = members[min(max((member or 1) - 1, 0), len(members) - 1)]
        if isinstance(chosen, dict):
            candidates.insert(0, chosen.get("architecture") or (chosen.get("config") or {}).get("arch"))
    return next((name for name in candidates if name in ARCHITECTURES), DEFAULT_ARCHITECTURE)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float | None:
    """Share whose likeliest digit is the label (as a run's test accuracy counts); None for no drawings.

    Only the ten digit outputs count, so a model with a "not a digit" output and one without are
    compared on the same question.
    """
    if not len(labels):
        return None
    return float((np.asarray(probabilities)[:, :10].argmax(axis=1) == labels).mean())


def comparison(before_name: str, before: dict[str, float | None], after: dict[str, float | None],
               sizes: dict[str, int], held_out_writers: list[str]) -> dict:
    """The record RunStatus.comparison holds: per dataset, the model before and this run's after."""
    return {"before_model": before_name, "held_out_writers": held_out_writers,
            "datasets": {name: {"before": before.get(name), "after": after.get(name), "images": sizes[name]}
                         for name in sizes}}


def comparison_rows(record: dict | None) -> list[dict]:
    """The comparison as table rows a page or the CLI shows: dataset, before, after, change."""
    if not record:
        return []
    titles = {"mnist_test": "MNIST test", "held_out_drawings": "Held-out writers' drawings"}
    rows = []
    datasets = record.get("datasets") or {}
    for name in sorted(datasets, key=lambda name: list(titles).index(name) if name in titles else len(titles)):
        values = datasets[name]
        before, after = values.get("before"), values.get("after")
        change = None if before is None or after is None else after - before
        rows.append({"dataset": titles.get(name, name), "images": values.get("images"), "before": before,
                     "after": after, "change": change})
    return rows
