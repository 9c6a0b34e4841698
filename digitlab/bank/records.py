"""What goes into and comes out of the drawing bank: a stored drawing, a new one, a filter, a dataset, limits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np


@dataclass(frozen=True)
class Drawing:
    """One stored drawing."""

    id: int
    created_at: datetime  # UTC
    label: int | None
    reading: int | None
    probabilities: list[float] | None
    model_sha256: str | None
    source: str
    writer: str | None
    session: str | None
    strokes: str | None
    png: bytes
    mnist: np.ndarray  # (28, 28) uint8
    class_id: int | None = None  # the class it was drawn in
    nickname: str | None = None  # its student's nickname in that class

    @property
    def correct(self) -> bool | None:
        """Whether the model read it right when it was saved; None without a label or a reading."""
        if self.label is None or self.reading is None:
            return None
        return self.label == self.reading

    def to_json(self) -> dict:
        """The row as plain JSON, without the images and strokes."""
        return {"id": self.id, "label": self.label, "reading": self.reading, "writer": self.writer,
                "source": self.source, "created_at": self.created_at.isoformat(), "model_sha256": self.model_sha256,
                "probabilities": self.probabilities}


@dataclass(frozen=True)
class NewDrawing:
    """A drawing checked and ready to store (see drawing_checks.prepare_drawing)."""

    png: bytes
    mnist: np.ndarray
    label: int | None
    source: str
    writer: str | None = None
    session: str | None = None
    strokes: str | None = None
    reading: int | None = None
    probabilities: list[float] | None = None
    model_sha256: str | None = None
    created_at: datetime | None = None
    class_id: int | None = None  # the class it is drawn in: the bank refuses it once that class is closed
    nickname: str | None = None  # checked by drawing_checks.check_nickname

    @property
    def content_sha256(self) -> str:
        """sha256 of the PNG kept: with the label and writer, what makes two rows the same drawing."""
        return content_sha256(self.png)

    @property
    def identity(self) -> tuple[str, int | None, str | None, int | None]:
        """(content hash, label, writer, class): an import skips a drawing whose identity the bank already holds."""
        return self.content_sha256, self.label, self.writer, self.class_id


def content_sha256(png: bytes) -> str:
    """A drawing's content hash: the sha256 of its stored PNG, which export writes and import reads byte for byte."""
    return hashlib.sha256(png).hexdigest()


@dataclass(frozen=True)
class DrawingFilter:
    """Which drawings to list; None means any."""

    label: int | None = None
    reading: int | None = None
    correct: bool | None = None  # True: read right, False: read wrong (both need a label and a reading)
    writer: str | None = None
    source: str | None = None
    session: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    class_id: int | None = None
    # A visitor's session: a class's drawings are private to its teacher and to the session that drew each
    viewer_session: str | None = None


@dataclass(frozen=True)
class DrawingDataset:
    """The labelled drawings as arrays, ready for evaluation or training."""

    x: np.ndarray  # (n, 28, 28) uint8, ink bright on black like MNIST
    y: np.ndarray  # (n,) int64 labels
    writers: np.ndarray  # (n,) writer tags (str, "" where none was given)
    ids: np.ndarray  # (n,) drawing ids, so a result can be traced back to its drawing
    sessions: np.ndarray | None = None  # (n,) the browser session that saved each ("" where none)

    @property
    def people(self) -> np.ndarray:
        """Who drew each drawing as far as the bank knows (see person)."""
        sessions = self.sessions if self.sessions is not None else np.full(len(self), "", dtype=object)
        return np.array([person(writer, session) for writer, session in zip(self.writers, sessions)], dtype=object)

    def __len__(self) -> int:
        return int(self.y.shape[0])


def person(writer: str | None, session: str | None) -> str:
    """Who drew a drawing as far as the bank knows: the writer tag, else the browser session that saved it."""
    return writer or (f"session {session}" if session else "untagged")


@dataclass(frozen=True)
class VisitorLimits:
    """What an anonymous visitor may save (the owner is not limited)."""

    saves_per_minute: int  # saves per client per minute (Settings.bank_saves_per_minute): see save_limits
    max_drawings: int  # a bank this full refuses visitors' saves (Settings.bank_max_drawings)
