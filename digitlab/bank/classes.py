"""Classes: a teacher's class in the drawing bank, its join code, and whether it still takes drawings.

A join code is 10 characters from Crockford's 32-letter alphabet (no I, L, O or U, so nothing is misread
from a board): 50 bits from `secrets`, far beyond guessing at the throttled rate joining allows.

The bank keeps only the code's sha256, never the code: whoever reads the database (a backup, a
read-only account) cannot join a class or post drawings into it. The code is shown once, to the owner
who made it; a teacher who lost it asks for a new one (new_code), which stops the old link. A plain
sha256 is enough here, unlike a password's slow hash: the code is random with 50 bits, not a word a
person chose, and a lookup by its hash is a single indexed query.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Connection

from digitlab.bank.drawing_checks import DrawingRejectedError
from digitlab.bank.engine import BankTransaction
from digitlab.bank.rows import now, utc
from digitlab.bank.records import NewDrawing
from digitlab.bank.schema import MAX_CLASS_NAME_LENGTH, classes_table, drawings_table

CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base 32
CODE_LENGTH = 10  # 10 letters of 32: 50 bits
CODE_BITS = 50
# What people mistype for Crockford's letters; and the dashes and spaces a code is read out with
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1", "-": None, " ": None})
_CLASS_NAME = re.compile(rf"[\w .,:()'&+-]{{1,{MAX_CLASS_NAME_LENGTH}}}")
CLOSED_REFUSAL = "This class is closed: it takes no more drawings. Ask your teacher for a new link."


@dataclass(frozen=True)
class SchoolClass:
    """One class: its id (what its drawings carry), its name, and when it was closed (None: open)."""

    id: int
    name: str
    created_at: datetime
    closed_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


def new_join_code() -> str:
    """A fresh join code: CODE_LENGTH letters of CODE_ALPHABET from the system's random source."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(text: str | None) -> str | None:
    """A code as typed or linked, as stored: upper case, O read as 0 and I or L as 1, dashes and spaces gone.

    None when it cannot be a code at all (wrong length or letters), so nothing is looked up.
    """
    if not isinstance(text, str):
        return None
    code = text.strip().upper().translate(_READ_AS)
    if len(code) != CODE_LENGTH or any(letter not in CODE_ALPHABET for letter in code):
        return None
    return code


def display_code(code: str) -> str:
    """A code as people read it out: two groups of five (ABCDE-FGHJK)."""
    return f"{code[:5]}-{code[5:]}"


def code_hash(code: str) -> str:
    return hashlib.sha256(code.encode("ascii")).hexdigest()


def check_class_name(name: str) -> str:
    """The name, trimmed; DrawingRejectedError when it is empty, too long, or holds odd characters."""
    if not isinstance(name, str) or not _CLASS_NAME.fullmatch(name.strip()):
        raise DrawingRejectedError(f"A class name is 1-{MAX_CLASS_NAME_LENGTH} letters, digits, spaces and "
                                   ". , : ( ) ' & + - characters.")
    return name.strip()


class ClassBook:
    """The classes of one drawing bank: create, find by code, close, list. Every call is one transaction."""

    def __init__(self, bank):
        self.bank = bank  # a repository.DrawingBank (not imported: the repository imports this module)

    def create(self, name: str) -> tuple[SchoolClass, str]:
        """A new open class and its join code (the only time the code is known: the bank keeps its hash)."""
        name = check_class_name(name)
        code = new_join_code()
        with self._writing() as connection:
            _refuse_open_namesake(connection, name)
            created = now()
            class_id = connection.execute(insert(classes_table).values(
                name=name, code_sha256=code_hash(code), created_at=created)).inserted_primary_key[0]
        return SchoolClass(int(class_id), name, created), code

    def new_code(self, class_id: int) -> str | None:
        """Give the class a fresh join code (the old one stops working); None when there is no such class."""
        code = new_join_code()
        with self._writing() as connection:
            changed = connection.execute(update(classes_table).where(classes_table.c.id == int(class_id))
                                         .values(code_sha256=code_hash(code))).rowcount
        return code if changed else None

    def find_by_code(self, text: str | None) -> SchoolClass | None:
        """The class whose join code this is (open or closed); None for a code no class has."""
        code = normalise_code(text)
        if code is None:
            return None
        with self._reading() as connection:
            row = connection.execute(select(classes_table)
                                     .where(classes_table.c.code_sha256 == code_hash(code))).first()
        return None if row is None else _class_of(row)

    def get(self, class_id: int) -> SchoolClass | None:
        with self._reading() as connection:
            row = connection.execute(select(classes_table).where(classes_table.c.id == int(class_id))).first()
        return None if row is None else _class_of(row)

    def all(self) -> list[SchoolClass]:
        """Every class, newest first."""
        with self._reading() as connection:
            rows = connection.execute(select(classes_table).order_by(classes_table.c.id.desc())).all()
        return [_class_of(row) for row in rows]

    def close(self, class_id: int) -> bool:
        """Close a class: from now on the bank refuses its drawings and nobody joins it. Whether it was open."""
        with self._writing() as connection:
            return connection.execute(update(classes_table).where(
                classes_table.c.id == int(class_id), classes_table.c.closed_at.is_(None))
                .values(closed_at=now())).rowcount > 0

    def reopen(self, class_id: int) -> bool:
        """Open a closed class again. Whether it was closed. DrawingRejectedError if a class of its name is open."""
        with self._writing() as connection:
            name = connection.execute(select(classes_table.c.name).where(classes_table.c.id == int(class_id))).scalar()
            if name is not None:
                _refuse_open_namesake(connection, name)
            return connection.execute(update(classes_table).where(
                classes_table.c.id == int(class_id), classes_table.c.closed_at.is_not(None))
                .values(closed_at=None)).rowcount > 0

    def _writing(self) -> BankTransaction:
        return BankTransaction(self.bank.engine, self.bank.url, write=True)

    def _reading(self) -> BankTransaction:
        return BankTransaction(self.bank.engine, self.bank.url, write=False)


def _refuse_open_namesake(connection: Connection, name: str) -> None:
    # Two open classes of one name would look the same in the teacher's picker and in a student's bar.
    if connection.execute(select(classes_table.c.id).where(
            classes_table.c.name == name, classes_table.c.closed_at.is_(None))).first() is not None:
        raise DrawingRejectedError(f"A class named {name} is open already: close it first, or give this one "
                                   "another name.")


def refuse_closed_classes(connection: Connection, drawings: Iterable[NewDrawing]) -> None:
    """Inside a save's transaction: DrawingRejectedError unless every class the drawings name exists and is open.

    Checked in the same transaction as the insert (which holds the write lock on SQLite, and on
    PostgreSQL locks the class rows), so a class closed a moment earlier takes nothing.
    """
    class_ids = {int(drawing.class_id) for drawing in drawings if drawing.class_id is not None}
    if not class_ids:
        return
    statement = select(classes_table.c.id).where(classes_table.c.id.in_(sorted(class_ids)),
                                                 classes_table.c.closed_at.is_(None))
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update(read=True)  # a close waits for this save, or this save sees it
    open_ids = set(connection.execute(statement).scalars())
    if open_ids != class_ids:
        raise DrawingRejectedError(CLOSED_REFUSAL)


def outside_closed_classes():
    """The condition on drawings that are in no class or in an open one: what may still be relabelled."""
    open_classes = select(classes_table.c.id).where(classes_table.c.closed_at.is_(None))
    return or_(drawings_table.c.class_id.is_(None), drawings_table.c.class_id.in_(open_classes))


def _class_of(row) -> SchoolClass:
    return SchoolClass(id=int(row.id), name=row.name, created_at=utc(row.created_at),
                       closed_at=None if row.closed_at is None else utc(row.closed_at))
