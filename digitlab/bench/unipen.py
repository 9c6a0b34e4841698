"""Hands the model never met: held-out UNIPEN institutions, styled digits of held-out writers, real letters refused.

Every drawing is a canvas rendering of real pen strokes (digitlab.datasets.pendigits.render_strokes_on_canvas)
read through the served predictor with its "not a digit" threshold, as the Draw page reads a drawing: a
refused digit counts as wrong, a letter counts as refused only when the model says "not a digit".
Institutions are those of digitlab.datasets.unipen.HELD_OUT_INSTITUTIONS, never trained on; figures on
checked ("OK") segments are the headline, and unchecked ones are reported beside them, marked so.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from digitlab.datasets.pen_styles import STYLE_NAMES, STYLES
from digitlab.datasets.pendigits import read_pendigits, render_strokes_on_canvas, split_by_writer
from digitlab.datasets.unipen import CHECKED, unipen_digits, unipen_letters
from digitlab.serving.predictor import Predictor

QUICK_PER_ROW = 60  # --quick: drawings per row, enough to smoke-test the wiring
STYLE_SEED = 25  # the styled strokes of held-out digits are drawn from this seed, the same for every model


def _readings(predictor: Predictor, strokes: list[list[np.ndarray]], seed: int) -> np.ndarray:
    """What the model answers for each drawing: its digit, or -1 for "not a digit" (and for no ink)."""
    rng = np.random.default_rng(seed)
    answers = []
    for one in strokes:
        prediction = predictor.predict_image(render_strokes_on_canvas(one, rng))
        answers.append(-1 if prediction.digit is None else prediction.digit)
    return np.asarray(answers, np.int64)


def _accuracy_row(read: np.ndarray, labels: np.ndarray) -> dict:
    wrong = Counter((int(truth), int(answer)) for truth, answer in zip(labels, read) if truth != answer)
    return {"accuracy": round(float((read == labels).mean()), 4) if len(labels) else None, "n": int(len(labels)),
            "refused": int((read == -1).sum()),
            "confusions": [{"digit": truth, "read_as": "not a digit" if answer == -1 else answer, "count": count}
                           for (truth, answer), count in wrong.most_common(6)]}


def _wrong_by_writer(digits: list, read: np.ndarray) -> dict:
    """How the misreadings spread over writers: a few writers of hundreds of digits each can carry most of them."""
    wrong = Counter(digit.writer for digit, answer in zip(digits, read) if answer != digit.digit)
    written = Counter(digit.writer for digit in digits)
    return {"writers_with_errors": len(wrong),
            "most_wrong_writers": [{"writer": Path(writer).stem, "digits": written[writer], "wrong": count}
                                   for writer, count in wrong.most_common(3)]}


def _sample(items: list, limit: int | None) -> list:
    """Every item, or `limit` spread evenly over them (so a quick run still sees every institution)."""
    if limit is None or len(items) <= limit:
        return items
    return [items[index] for index in np.linspace(0, len(items) - 1, limit).astype(int)]


def held_out_institutions(predictor: Predictor, archive: Path, quick: bool = False) -> dict:
    """Digit accuracy per held-out institution, checked segments first; unchecked ones in their own rows."""
    digits = unipen_digits(archive, held_out=True)
    rows: dict = {}
    for checked in (True, False):
        chosen = [digit for digit in digits if (digit.quality == CHECKED) == checked]
        for institution in sorted({digit.institution for digit in chosen}):
            mine = _sample([digit for digit in chosen if digit.institution == institution],
                           QUICK_PER_ROW if quick else None)
            read = _readings(predictor, [digit.strokes for digit in mine], seed=len(rows))
            rows[f"{institution}{'' if checked else ' (unchecked)'}"] = {
                **_accuracy_row(read, np.array([digit.digit for digit in mine])),
                "writers": len({digit.writer for digit in mine}), **_wrong_by_writer(mine, read)}
    checked_rows = [row for name, row in rows.items() if "unchecked" not in name]
    total = sum(row["n"] for row in checked_rows)
    overall = sum(row["accuracy"] * row["n"] for row in checked_rows) / total if total else None
    return {"checked_accuracy": None if overall is None else round(overall, 4), "checked_digits": total,
            "lowest_checked_institution": min((row["accuracy"] for row in checked_rows), default=None),
            "per_institution": rows}


def styled_held_out_digits(predictor: Predictor, archive: Path, pen_digits: Path | None, quick: bool = False) -> dict:
    """Accuracy on held-out writers' zeros, sevens and ones with a slash, a bar and a foot (datasets/pen_styles.py).

    The writers are the held-out UNIPEN institutions' (checked segments) and pendigits' held-out writers.
    """
    sources = [(digit.digit, digit.strokes) for digit in unipen_digits(archive, held_out=True, checked_only=True)]
    if pen_digits is not None:
        _, held_out = split_by_writer(read_pendigits(pen_digits))
        sources += [(digit.label, digit.strokes) for digit in held_out]
    rng = np.random.default_rng(STYLE_SEED)
    rows = {}
    for label, style in STYLES.items():
        chosen = _sample([strokes for digit, strokes in sources if digit == label], QUICK_PER_ROW if quick else None)
        styled = [style(strokes, rng) for strokes in chosen]
        read = _readings(predictor, styled, seed=STYLE_SEED + label)
        rows[STYLE_NAMES[label]] = _accuracy_row(read, np.full(len(chosen), label))
    return rows


def held_out_letters_refused(predictor: Predictor, archive: Path, quick: bool = False) -> dict:
    """How often the held-out institutions' letters that no digit resembles are refused, per letter."""
    result = {}
    for checked in (True, False):
        letters = [letter for letter in unipen_letters(archive, held_out=True)
                   if (letter.quality == CHECKED) == checked]
        letters = _sample(letters, QUICK_PER_ROW if quick else None)
        refused = _readings(predictor, [letter.strokes for letter in letters], seed=31 + checked) == -1
        labels = np.array([letter.label for letter in letters])
        result["checked" if checked else "unchecked"] = {
            "refused": round(float(refused.mean()), 4) if len(letters) else None, "n": len(letters),
            "per_letter": {label: round(float(refused[labels == label].mean()), 4) for label in sorted(set(labels))}}
    return result


def unipen_figures(predictor: Predictor, archive: Path, pen_digits: Path | None, quick: bool = False) -> dict:
    """All three UNIPEN rows for one model."""
    return {"held_out_institutions": held_out_institutions(predictor, archive, quick),
            "styled_held_out_digits": styled_held_out_digits(predictor, archive, pen_digits, quick),
            "held_out_letters": held_out_letters_refused(predictor, archive, quick)}


def style_examples_picture(archive: Path, per_style: int = 8, cell: int = 70) -> np.ndarray:
    """A grey picture for BENCHMARKS.md: a row per style, each held-out digit plain then styled, side by side."""
    from PIL import Image

    digits = unipen_digits(archive, held_out=True, checked_only=True)
    rng = np.random.default_rng(STYLE_SEED)
    rows = []
    for label, style in STYLES.items():
        chosen = _sample([digit.strokes for digit in digits if digit.digit == label], per_style)
        cells = []
        for strokes in chosen:
            for drawn in (strokes, style(strokes, rng)):
                canvas = render_strokes_on_canvas(drawn, np.random.default_rng(0), rgba=False)
                cells.append(np.asarray(Image.fromarray(canvas).resize((cell, cell), Image.Resampling.BOX)))
        rows.append(np.concatenate(cells, axis=1))
    return np.concatenate(rows, axis=0)
