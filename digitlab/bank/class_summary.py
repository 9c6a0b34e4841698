"""What a class's drawings say: counts per digit and per student, corrections, the confusion matrix, the hardest.

Computed from the readings stored with each drawing (the model that read it when it was drawn), so the
teacher sees what happened in the lesson, not what today's model would say. Reads no images.

A student is the browser session that drew (a student who gives no name is still one student), or
for imported drawings, their writer; they are shown by nickname where they gave one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digitlab.bank.records import Drawing, DrawingFilter

DIGITS = 10
HARDEST_DRAWINGS = 24


@dataclass(frozen=True)
class StudentCount:
    """One student's drawings in the class."""

    name: str  # the nickname, else the writer tag
    drawn: int
    read_right: int  # labelled drawings the model read as their label
    corrected: int  # labelled drawings whose label the student corrected (the model had read another digit)


@dataclass(frozen=True)
class DigitDifficulty:
    """How the model did on one digit of the class's."""

    digit: int
    drawn: int  # labelled drawings of this digit that the model read
    read_right: int
    mean_sureness: float | None  # mean probability the model gave the true digit (None: no probabilities)

    @property
    def right_share(self) -> float:
        return self.read_right / self.drawn if self.drawn else 0.0


@dataclass(frozen=True)
class ClassSummary:
    """A class's drawings (or one student's), counted."""

    drawn: int  # every drawing, labelled or not
    per_digit: np.ndarray  # (10,) labelled drawings of each digit
    students: list[StudentCount]  # most drawings first
    corrected: int  # drawings the model read wrong and a student corrected
    confusion: np.ndarray  # (10, 10): rows the students' labels, columns the model's readings
    hardest_digits: list[DigitDifficulty]  # hardest first: least often read right, then least surely
    hardest_ids: list[int]  # the drawings the model got wrong or read least surely, worst first

    @property
    def read(self) -> int:
        """Labelled drawings that have a reading: what the confusion matrix counts."""
        return int(self.confusion.sum())

    @property
    def read_right(self) -> int:
        return int(np.trace(self.confusion))


def summarise_class(bank, class_id: int, session: str | None = None,
                    hardest: int = HARDEST_DRAWINGS) -> ClassSummary:
    """The class's summary; with session, of that one student's drawings alone (the student's own view)."""
    drawings = bank.readings(DrawingFilter(class_id=class_id, session=session))
    return summarise(drawings, hardest)


def summarise(drawings: list[Drawing], hardest: int = HARDEST_DRAWINGS) -> ClassSummary:
    """The summary of these drawings (see ClassSummary)."""
    per_digit = np.zeros(DIGITS, np.int64)
    confusion = np.zeros((DIGITS, DIGITS), np.int64)
    names: dict[str, str] = {}
    counts: dict[str, list[int]] = {}
    sureness: dict[int, list[float]] = {digit: [] for digit in range(DIGITS)}
    ranked: list[tuple[bool, float, int]] = []
    for drawing in drawings:
        key = drawing.session or drawing.writer or "untagged"
        names[key] = drawing.nickname or names.get(key) or drawing.writer or key
        tally = counts.setdefault(key, [0, 0, 0])
        tally[0] += 1
        if drawing.label is None:
            continue
        per_digit[drawing.label] += 1
        if drawing.reading is None:
            continue
        confusion[drawing.label, drawing.reading] += 1
        right = drawing.label == drawing.reading
        tally[1] += int(right)
        tally[2] += int(not right)
        sure = _probability_of(drawing, drawing.label)
        if sure is not None:
            sureness[drawing.label].append(sure)
        ranked.append((right, 1.0 if sure is None else sure, drawing.id))
    students = sorted((StudentCount(names[key], *tally) for key, tally in counts.items()),
                      key=lambda student: (-student.drawn, student.name))
    digits = [DigitDifficulty(digit, int(confusion[digit].sum()), int(confusion[digit, digit]),
                              float(np.mean(sureness[digit])) if sureness[digit] else None)
              for digit in range(DIGITS) if confusion[digit].sum()]
    digits.sort(key=lambda item: (item.right_share, 1.0 if item.mean_sureness is None else item.mean_sureness,
                                  item.digit))
    ranked.sort()  # wrong before right, then least sure first
    return ClassSummary(drawn=len(drawings), per_digit=per_digit, students=students,
                        corrected=int(confusion.sum() - np.trace(confusion)), confusion=confusion,
                        hardest_digits=digits, hardest_ids=[drawing_id for *_, drawing_id in ranked[:hardest]])


def _probability_of(drawing: Drawing, digit: int) -> float | None:
    probabilities = drawing.probabilities
    if not probabilities or len(probabilities) <= digit:
        return None
    return float(probabilities[digit])
