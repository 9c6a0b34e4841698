"""How people name models: a run by the name given to it, and the one line every list shows for a model.

A run's model is registered as "run:<folder>", and the folder's name (start time and architecture)
is unique. People know the run by the name they gave it on the Train page or with `train --title`
("quick-1"), so `--model`, the sidebar and `models` take and show that name as well. Two runs given
the same name are told apart by their start time; asked for by that shared name, the model store
names the runs it could mean rather than picking one (digitlab/store/registry.py's resolve_model).
"""

from __future__ import annotations

import re
from typing import Protocol

from digitlab.store.shares import percent

RUN_PREFIX = "run:"
RUN_STAMP = re.compile(r"^\d{8}-\d{6}")  # the start time that begins a run folder's name


class NamedModel(Protocol):
    """What naming needs of a registry entry (digitlab.store.registry.ModelEntry)."""

    name: str
    card: dict


def given_name(entry: NamedModel) -> str | None:
    """The name a person gave a run ("quick-1"); None for a model in models/ and for a run given none."""
    if not entry.name.startswith(RUN_PREFIX):
        return None
    title = str(entry.card.get("title") or "").strip()
    return title if title and title != run_folder(entry) else None


def run_folder(entry: NamedModel) -> str:
    """A run entry's folder name (the part after "run:")."""
    return entry.name[len(RUN_PREFIX):]


def model_label(entry: NamedModel) -> str:
    """The one line lists show: 'quick-1 (run 20261206-061649, cnn-small, 96.02%)', 'default (digitnet, 99.61%)'.

    A run always shows when it started, so runs with the same settings, or the same given name, differ.
    """
    card = entry.card
    architecture = card.get("architecture")
    accuracy = (card.get("metrics") or {}).get("mnist_test_accuracy")
    details = [architecture] if architecture else []
    if entry.name.startswith(RUN_PREFIX):
        folder = run_folder(entry)
        stamp = RUN_STAMP.match(folder)
        # The folder is "<start>-<architecture>" unless two runs started in the same second: then all of it.
        started = f"run {stamp.group(0) if stamp and folder == f'{stamp.group(0)}-{architecture}' else folder}"
        name = given_name(entry)
        head, details = (name, [started, *details]) if name else (started, details)
    else:
        head = entry.name
        if (card.get("version") or 1) > 1:
            details.append(f"version {card['version']}")
    if accuracy is not None:
        details.append(percent(accuracy))
    if card.get("partial"):
        details.append("partial")
    return f"{head} ({', '.join(details)})" if details else head


def runs_given(name: str, entries: list) -> list:
    """The run entries a person gave this name ("quick-1" or "run:quick-1")."""
    name = name.strip()
    if name.startswith(RUN_PREFIX):
        name = name[len(RUN_PREFIX):].strip()
    return [entry for entry in entries if name and given_name(entry) == name]


def model_argument(entry: NamedModel, entries: list) -> str:
    """The shortest text `--model` takes for this entry: its given name when that names it alone, else its name."""
    name = given_name(entry)
    if name and runs_given(name, entries) == [entry] and not any(other.name == name for other in entries):
        return name
    return entry.name


def ambiguity_message(name: str, matches: list) -> str:
    """Why a name given to several runs picks none of them, and what to write instead."""
    name = name.strip().removeprefix(RUN_PREFIX).strip()
    # Each run by the name that picks it alone, then its label without the shared name: when it started, and how.
    listed = "; ".join(f"{entry.name} {model_label(entry).removeprefix(name).strip()}" for entry in matches)
    return f"'{name}' is the name of {len(matches)} runs: {listed}. Give the one you mean by its run: name."
