"""How the bank's records meet its table: a drawing as a row and back, a filter as SQL conditions, and the bin.

Every read goes through live(): a drawing in the bin (deleted on the Drawings page, restorable for a
while) is not in the bank for anything that lists, exports, evaluates or trains.
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
from sqlalchemy import or_

from digitlab.bank.records import Drawing, DrawingFilter, NewDrawing
from digitlab.bank.schema import MNIST_SHAPE, drawings_table


def live() -> list:
    """The condition every read shares: a drawing in the bin is not in the bank."""
    return [drawings_table.c.deleted_at.is_(None)]


def own(drawing_id: int, session: str | None) -> list:
    """The live drawing with that id, and (with session) only if that browser session saved it."""
    conditions = [drawings_table.c.id == int(drawing_id), *live()]
    if session is not None:
        conditions.append(drawings_table.c.session == session)
    return conditions


def conditions(where: DrawingFilter) -> list:
    """The SQL conditions for the live drawings that where describes."""
    table = drawings_table
    found = live()
    for column, value in ((table.c.label, where.label), (table.c.reading, where.reading),
                          (table.c.writer, where.writer), (table.c.source, where.source),
                          (table.c.session, where.session), (table.c.class_id, where.class_id)):
        if value is not None:
            found.append(column == value)
    if where.correct is not None:
        found += [table.c.label.is_not(None), table.c.reading.is_not(None)]
        found.append(table.c.label == table.c.reading if where.correct else table.c.label != table.c.reading)
    if where.viewer_session is not None:
        found.append(or_(table.c.class_id.is_(None), table.c.session == where.viewer_session))
    if where.since is not None:
        found.append(table.c.created_at >= utc(where.since))
    if where.until is not None:
        found.append(table.c.created_at < utc(where.until))
    return found


def row_of(drawing: NewDrawing) -> dict:
    """The row to insert for a checked drawing, its content hash included."""
    return {"created_at": utc(drawing.created_at or now()), "label": drawing.label, "reading": drawing.reading,
            "probabilities": drawing.probabilities, "model_sha256": drawing.model_sha256, "source": drawing.source,
            "writer": drawing.writer, "session": drawing.session, "strokes": drawing.strokes, "png": drawing.png,
            "mnist": np.ascontiguousarray(drawing.mnist, np.uint8).tobytes(), "content_sha256": drawing.content_sha256,
            "class_id": drawing.class_id, "nickname": drawing.nickname}


def drawing_of(row, images: bool = True) -> Drawing:
    """A stored row as the Drawing the rest of DigitLab reads; images=False: read without png, mnist and strokes."""
    return Drawing(id=row.id, created_at=utc(row.created_at), label=row.label, reading=row.reading,
                   probabilities=row.probabilities, model_sha256=row.model_sha256, source=row.source,
                   writer=row.writer, session=row.session, strokes=row.strokes if images else None,
                   png=bytes(row.png) if images else b"",
                   mnist=np.frombuffer(row.mnist, np.uint8).reshape(MNIST_SHAPE).copy() if images
                   else np.zeros(MNIST_SHAPE, np.uint8), class_id=row.class_id, nickname=row.nickname)


def now() -> datetime:
    return datetime.now(timezone.utc)


def utc(moment: datetime) -> datetime:
    # SQLite gives back naive datetimes; everything stored is UTC.
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
