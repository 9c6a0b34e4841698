"""bank.npz: the drawing bank as a run trains on it, split by writer, and how the split is made.

A run that trains on the bank gets a snapshot of it in its run folder: most writers' drawings to learn
from, and a few writers held out whole. A model that has seen some of a writer's drawings reads that
writer's other drawings better than it would read a stranger, so only held-out writers say how the
model will do for the next class. The split ranks writers by a hash of their tag, so the same bank
always gives the same split, and each run keeps its own split in its snapshot, so its before/after
figures stay true however the bank grows later. The trainer reads the snapshot, never the database.

A visitor's snapshot holds only the drawings that visitor may see elsewhere (DrawingFilter.viewer_session):
a class's drawings are its teacher's and each student's own, so another visitor's run neither learns from
them nor names their writers among the held-out ones on a run everybody sees.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from digitlab.store.atomic import write_atomic

if TYPE_CHECKING:
    from digitlab.bank.records import DrawingDataset
    from digitlab.bank.repository import DrawingBank

BANK_FILE = "bank.npz"
HELD_OUT_SHARE = 0.25  # of the bank's writers, never trained on; what before/after is measured on


@dataclass
class BankDrawings:
    """bank.npz: the bank's labelled drawings as the model sees them (28x28), split by writer.

    The trainer learns from the train_ part and never sees the held_out_ part, whose writers the
    before/after comparison is measured on. `source` describes the bank (never a password).
    """

    train_x: np.ndarray
    train_y: np.ndarray
    train_writers: np.ndarray
    held_out_x: np.ndarray
    held_out_y: np.ndarray
    held_out_writers: np.ndarray
    source: str = ""

    def write_into(self, run_dir: Path) -> None:
        """Put this snapshot into a run folder (bank.npz), as create_run asks of it."""
        write_bank_drawings(run_dir, self)

    def describe(self) -> dict:
        """What the model card and the Train page say about the bank part of a run."""
        return {"source": self.source, "train_drawings": int(len(self.train_y)),
                "train_writers": sorted(set(self.train_writers.tolist())),
                "held_out_drawings": int(len(self.held_out_y)),
                "held_out_writers": sorted(set(self.held_out_writers.tolist()))}


def write_bank_drawings(run_dir: Path, bank: BankDrawings) -> None:
    """Write the snapshot into a run folder as bank.npz, atomically."""
    def write(temp: Path) -> None:
        with open(temp, "wb") as file:
            np.savez_compressed(
                file, train_x=bank.train_x.astype(np.uint8), train_y=bank.train_y.astype(np.int64),
                train_writers=bank.train_writers.astype(str), held_out_x=bank.held_out_x.astype(np.uint8),
                held_out_y=bank.held_out_y.astype(np.int64), held_out_writers=bank.held_out_writers.astype(str),
                source=np.array(bank.source))

    write_atomic(Path(run_dir) / BANK_FILE, write)


def read_bank_drawings(run_dir: Path) -> BankDrawings:
    """The run's bank snapshot; ValueError when it is missing or not one."""
    path = Path(run_dir) / BANK_FILE
    try:
        with np.load(path, allow_pickle=False) as data:
            bank = BankDrawings(**{name: data[name] for name in
                                   ("train_x", "train_y", "train_writers", "held_out_x", "held_out_y",
                                    "held_out_writers")}, source=str(data["source"]))
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"{path.name} (the run's drawing bank) cannot be read: {error}") from None
    for part in ("train", "held_out"):
        images, labels = getattr(bank, f"{part}_x"), getattr(bank, f"{part}_y")
        if images.shape[1:] != (28, 28) or len(images) != len(labels) or (labels.size and (labels.min() < 0 or labels.max() > 9)):
            raise ValueError(f"{path.name} (the run's drawing bank) holds malformed {part} drawings.")
    return bank


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


def snapshot_bank(bank: "DrawingBank", share: float = HELD_OUT_SHARE, class_id: int | None = None,
                  viewer_session: str | None = None) -> BankDrawings:
    """The bank's labelled drawings (or one class's), now, split for a run (see snapshot_dataset); with
    viewer_session, only those that visitor may see (see DrawingFilter)."""
    from digitlab.config.database import describe_url

    # Never the session tag itself: the source is on the run's card for all to read, and the tag lets its
    # visitor delete their drawings.
    source = describe_url(bank.url) + ("" if class_id is None else f", class {class_id}") \
        + ("" if viewer_session is None else ", the drawings a visitor may see")
    return snapshot_dataset(bank.as_dataset(class_id=class_id, viewer_session=viewer_session), source, share)
