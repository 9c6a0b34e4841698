"""UNIPEN isolated characters (unipen-dev.tar.gz): digits, and letters no digit resembles, by institution.

The archive is read where it lies, in memory (about 1 s; nothing is unpacked beside the project).
Each `data/<category>/<institution>/.../*.dat` file segments one writer's pen data: its `.INCLUDE`
lines name the pen data (relative to `include/`), and each `.SEGMENT CHARACTER <components> <quality>
"<label>"` line names a character by the 0-based indices of that data's point blocks (`.PEN_DOWN` and
`.PEN_UP` blocks that hold points, counted together). Only pen-down blocks are ink.

Coordinates come in each device's own units with y pointing up, and one institution's tablet has
different resolutions across and down; every character is therefore flipped, made square in inches
and scaled to its own box, as tall or wide as pendigits' 0..500 tablet, so it is drawn on the canvas
exactly like a pendigits digit (digitlab.datasets.pendigits.render_strokes_on_canvas).

pendigits-orig.tra is UNIPEN text too, but with the strokes inline after each segment; its reader stays
in digitlab.datasets.pendigits, which the drawing bank's import also uses.
"""

from __future__ import annotations

import functools
import os
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from digitlab.config.paths import SHARED_DATA
from digitlab.datasets.pendigits import TABLET_SIZE, PenDigit

UNIPEN_ENV_VAR = "DIGITLAB_UNIPEN"  # where unipen-dev.tar.gz is, when not in ../shared/data
DEFAULT_UNIPEN = SHARED_DATA / "unipen-dev.tar.gz"
UNIPEN_SOURCE = ("UNIPEN train_r01_v07 (International Unipen Foundation; Guyon et al., ICPR 1994), "
                 "categories 1a, 1b, 1c, CC BY 4.0")
DIGITS, UPPER_CASE, LOWER_CASE = "1a", "1b", "1c"
CHECKED = "OK"  # the collector checked the segment; "?" means nobody did

# Whole institutions never trained on and never used to choose a model: a new deployment meets new
# people and new devices, so holding out writers within an institution would flatter the model.
# syn and imp are the only institutions whose segments were checked ("OK"), so holding them out
# lets every held-out figure be measured on checked characters; syn is also the biggest (4,554 of
# 11,896 digits). val (Spanish writers on a third kind of tablet) is held out as well so that a
# figure on unchecked segments of another population and device stands beside them.
HELD_OUT_INSTITUTIONS = frozenset({"syn", "imp", "val"})

# Letters trained and measured as "not a digit": written forms that no digit resembles. Left out of
# both sides are the letters people also write for a digit or that a digit can be read as: O o D Q
# (0), l I i j J T t (1, 7), Z z (2), S s (5), b G (6), g q y (9), B (8), A (4), and the rest of the
# alphabet whose handwriting overlaps a digit in some hands (C c e a d h n p r u v L P U V Y).
NOT_DIGIT_LETTERS = frozenset("EFHKMNRWXfkmwx")
FIRST_WRITER_NUMBER = 1000  # as_pen_digits' first writer: pendigits' writer numbers are all below it
MIN_LETTER_ASPECT = 0.2  # an unchecked letter segment thinner than this is a lone stroke (a 1 or a dash), not a letter


@dataclass(frozen=True)
class UnipenCharacter:
    label: str  # "0".."9" or a letter
    strokes: list[np.ndarray]  # pen-down strokes, (n, 2) float, screen orientation (y down), 0..500 box
    quality: str  # "OK" (checked) or "?" (unchecked)
    institution: str  # aga, apa, apb, app, ced, imp, pri, syn, val
    writer: str  # the included pen-data file: one writer, shared by their digits and letters
    category: str  # 1a digits, 1b upper case, 1c lower case

    @property
    def digit(self) -> int:
        return int(self.label)


def unipen_path() -> Path | None:
    """The UNIPEN archive, or None where it is not on this machine."""
    path = Path(os.environ.get(UNIPEN_ENV_VAR) or DEFAULT_UNIPEN)
    return path if path.is_file() else None


def parse_components(lines: Iterable[str]) -> list[tuple[bool, np.ndarray]]:
    """The point blocks of UNIPEN pen data, in order: (pen down?, (n, 2) raw x y). Empty blocks are not counted."""
    blocks: list[tuple[bool, np.ndarray]] = []
    pen_down: bool | None = None
    points: list[tuple[float, float]] = []

    def finish() -> None:
        if pen_down is not None and points:
            blocks.append((pen_down, np.asarray(points, np.float64)))

    for line in lines:
        if line.startswith("."):
            finish()
            directive = line.split(maxsplit=1)[0]
            pen_down = True if directive == ".PEN_DOWN" else False if directive == ".PEN_UP" else None
            points = []
        elif pen_down is not None:
            fields = line.split()
            if len(fields) >= 2:
                points.append((float(fields[0]), float(fields[1])))
    finish()
    return blocks


def parse_segment(line: str) -> tuple[list[int], str, str]:
    """(component indices, quality, label) of a `.SEGMENT CHARACTER 3-4,7 OK "x"` line."""
    head, label = line.split('"', 1)[0].split(), line.split('"')[1]
    indices: list[int] = []
    for part in head[2].split(","):
        first, _, last = part.partition("-")
        indices.extend(range(int(first), int(last or first) + 1))
    return indices, head[3] if len(head) > 3 else "?", label


def normalise_strokes(strokes: list[np.ndarray], y_per_x: float = 1.0) -> list[np.ndarray]:
    """Flip y to point down, make units square (y_per_x: y points per x point) and fit the 0..500 box."""
    flipped = [np.stack([stroke[:, 0], -stroke[:, 1] / y_per_x], axis=1) for stroke in strokes]
    points = np.concatenate(flipped)
    low = points.min(axis=0)
    span = max(float((points.max(axis=0) - low).max()), 1e-9)
    return [((stroke - low) * (TABLET_SIZE / span)).astype(np.float32) for stroke in flipped]


def _directive_value(lines: list[str], name: str) -> float | None:
    for line in lines:
        if line.startswith(name):
            try:
                return float(line.split()[1])
            except (IndexError, ValueError):
                return None
    return None


@functools.lru_cache(maxsize=2)
def read_unipen(path: str | Path) -> tuple[UnipenCharacter, ...]:
    """Every character segment of the archive whose pen-down ink is more than a point, in archive order."""
    texts: dict[str, list[str]] = {}
    with tarfile.open(path) as archive:
        for member in archive:
            if member.isfile() and member.name.lstrip("./").split("/", 1)[0] in ("data", "include"):
                texts[member.name.lstrip("./")] = archive.extractfile(member).read().decode("latin-1").splitlines()
    components: dict[str, list[tuple[bool, np.ndarray]]] = {}
    characters: list[UnipenCharacter] = []
    for name in sorted(texts):
        parts = PurePosixPath(name).parts
        if parts[0] != "data" or not name.endswith(".dat"):
            continue
        lines = texts[name]
        includes = ["include/" + line.split()[1] for line in lines
                    if line.startswith(".INCLUDE") and len(line.split()) > 1]
        pen_files = [include for include in includes if include.endswith(".dat") and include in texts]
        if not pen_files:
            continue
        for include in pen_files:
            if include not in components:
                components[include] = parse_components(texts[include])
        blocks = [block for include in pen_files for block in components[include]]
        documentation = [line for include in includes if include in texts for line in texts[include]]
        x_ppi = _directive_value(documentation, ".X_POINTS_PER_INCH")
        y_ppi = _directive_value(documentation, ".Y_POINTS_PER_INCH")
        y_per_x = y_ppi / x_ppi if x_ppi and y_ppi else 1.0
        for line in lines:
            if not line.startswith(".SEGMENT CHARACTER") or '"' not in line:
                continue
            try:
                indices, quality, label = parse_segment(line)
            except (ValueError, IndexError):
                continue
            strokes = [blocks[i][1] for i in indices if i < len(blocks) and blocks[i][0]]
            if not strokes or sum(len(stroke) for stroke in strokes) < 2:
                continue
            characters.append(UnipenCharacter(label, normalise_strokes(strokes, y_per_x), quality, parts[2],
                                              pen_files[0], parts[1]))
    return tuple(characters)


def is_held_out(character: UnipenCharacter) -> bool:
    return character.institution in HELD_OUT_INSTITUTIONS


def unipen_digits(path: str | Path, held_out: bool, checked_only: bool = False) -> list[UnipenCharacter]:
    """The digits of the held-out institutions (held_out=True) or of the training ones."""
    return [character for character in read_unipen(path)
            if character.category == DIGITS and len(character.label) == 1 and character.label.isdigit()
            and is_held_out(character) == held_out and (character.quality == CHECKED or not checked_only)]


def as_pen_digits(characters: list[UnipenCharacter]) -> list[PenDigit]:
    """UNIPEN digits as pen digits, each writer a number of its own (from FIRST_WRITER_NUMBER on, in the
    order of their pen-data files), so anything built from pendigits' writers takes them as well."""
    numbers = {writer: FIRST_WRITER_NUMBER + index
               for index, writer in enumerate(sorted({character.writer for character in characters}))}
    return [PenDigit(character.digit, numbers[character.writer], character.strokes) for character in characters]


def unipen_letters(path: str | Path, held_out: bool, checked_only: bool = False) -> list[UnipenCharacter]:
    """The chosen not-a-digit letters of the held-out institutions or of the training ones.

    An unchecked segment as thin as a line is left out: it is usually one stroke of a letter cut off
    by mis-segmentation, which looks like a 1 or a dash and must not be taught as "not a digit".
    """
    return [character for character in read_unipen(path)
            if character.category in (UPPER_CASE, LOWER_CASE) and character.label in NOT_DIGIT_LETTERS
            and is_held_out(character) == held_out and (character.quality == CHECKED or not checked_only)
            and (character.quality == CHECKED or _aspect(character) >= MIN_LETTER_ASPECT)]


def _aspect(character: UnipenCharacter) -> float:
    extent = np.ptp(np.concatenate(character.strokes), axis=0)
    return float(extent.min() / max(extent.max(), 1e-9))
