"""The drawing bank as training data: which writers a run learns from, and what it changed.

A run that trains on the bank gets a snapshot of it (digitlab.bank.snapshot: bank.npz in the run
folder, split by writer).

Before such a model is promoted, the person deciding sees it beside the model it would replace (the
one it started from, or the active model) on MNIST test and on the held-out writers' drawings.
"""

from __future__ import annotations

import numpy as np

from digitlab.store.run_config import ARCHITECTURE_NAMES, DEFAULT_ARCHITECTURE
from digitlab.store.run_config import TrainConfig

DEFAULT_REPLAY_IMAGES = 10_000  # MNIST images a bank fine-tune mixes in so the model keeps what it knew
DEFAULT_FINE_TUNE_EPOCHS = 2
DEFAULT_FINE_TUNE_LR = 3e-4  # a tenth of a fresh run's: the starting weights are already good
DEFAULT_BANK_WEIGHT = 3


def starting_architecture(card: dict, member: int | None = None) -> str:
    """The architecture a run fine-tuning this model card's network (or ensemble member) trains."""
    candidates = [card.get("architecture"), (card.get("config") or {}).get("arch")]
    members = card.get("members")
    if isinstance(members, list) and members:
        chosen = members[min(max((member or 1) - 1, 0), len(members) - 1)]
        if isinstance(chosen, dict):
            candidates.insert(0, chosen.get("architecture") or (chosen.get("config") or {}).get("arch"))
    return next((name for name in candidates if name in ARCHITECTURE_NAMES), DEFAULT_ARCHITECTURE)


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


def compare_before_after(config: TrainConfig, after, after_mnist: np.ndarray, mnist, bank,
                         batch_size: int = 256) -> dict:
    """This run's model beside the one it would replace, on MNIST test and the bank's held-out writers.

    "Before" is the model the run started from, or the active model for a run trained from scratch.
    batch_size: images per prediction step (the trainer's memory grows with it, the answers do not).
    """
    from digitlab.store.registry import default_entry, load_entry, resolve_model
    from digitlab.training.starting_weights import load_starting_model

    if config.init_from is not None:
        before = load_starting_model(config.init_from, config.init_member)
        before_name = resolve_model(config.init_from).name + (f" (member {config.init_member})"
                                                                if config.init_member else "")
    else:
        entry = default_entry()
        before, before_name = load_entry(entry), f"{entry.name} (the active model)"
    mnist_images = mnist.x_test[..., None].astype(np.float32)
    sizes = {"mnist_test": len(mnist.y_test)}
    before_scores = {"mnist_test": accuracy(before.predict(mnist_images, batch_size=batch_size, verbose=0),
                                            mnist.y_test)}
    after_scores = {"mnist_test": accuracy(after_mnist, mnist.y_test)}
    held_out_writers: list[str] = []
    if bank is not None and len(bank.held_out_y):
        images = bank.held_out_x[..., None].astype(np.float32)
        sizes["held_out_drawings"] = len(bank.held_out_y)
        before_scores["held_out_drawings"] = accuracy(before.predict(images, batch_size=batch_size, verbose=0),
                                                      bank.held_out_y)
        after_scores["held_out_drawings"] = accuracy(after.predict(images, batch_size=batch_size, verbose=0),
                                                     bank.held_out_y)
        held_out_writers = sorted(set(bank.held_out_writers.tolist()))
    return comparison(before_name, before_scores, after_scores, sizes, held_out_writers)
