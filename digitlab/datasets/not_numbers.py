"""Writing on the number canvas that is not a number: words and rows of doodles, to measure "not a number".

Words are one UNIPEN writer's letters (any letters: a real word has o's and l's too) laid out as that
writer would write a number (digitlab/datasets/pen_numbers.py: one pen, one height, gaps from touching to
a third of a letter height). Doodle rows are two to four non-digit drawings (digitlab/datasets/nondigits.py:
scribbles, stars, arrows, little houses) side by side. Both come as canvases with their strokes, as the
Draw page sends them. Held-out institutions' letters and held-out seeds' doodles measure; the training
side's choose.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np

from digitlab.datasets.nondigits import FAMILIES, draw_non_digit
from digitlab.datasets.pen_numbers import PenNumber, build_number
from digitlab.datasets.pendigits import PenDigit
from digitlab.datasets.unipen import DIGITS, UnipenCharacter

WORD_LENGTHS = (2, 3, 4, 5, 6)
DOODLES_PER_ROW = (2, 3, 4)
GAPS = (0.0, 0.35)  # in letter heights, as a number written at an ordinary spacing
HELD_OUT_SEED_OFFSET = 2_000_003  # held-out doodle rows come from seeds no chosen rule looked at


def written_words(characters: list[UnipenCharacter], count: int, seed: int) -> Iterator[PenNumber]:
    """count words, writers taken in turn, each word that writer's letters in a random order."""
    rng = np.random.default_rng(seed)
    by_writer: dict[str, list[UnipenCharacter]] = defaultdict(list)
    for character in characters:
        if character.category != DIGITS:
            by_writer[character.writer].append(character)
    writers = sorted(writer for writer, letters in by_writer.items() if len(letters) >= max(WORD_LENGTHS))
    if not writers:
        raise ValueError("no writer wrote enough letters to make words from")
    for index in range(count):
        own = by_writer[writers[index % len(writers)]]
        chosen = rng.choice(len(own), size=int(rng.choice(WORD_LENGTHS)), replace=False)
        yield build_number([PenDigit(0, index, own[i].strokes) for i in chosen], rng, gap_range=GAPS)


def doodle_rows(count: int, seed: int, held_out: bool) -> Iterator[PenNumber]:
    """count rows of non-digit drawings side by side."""
    rng = np.random.default_rng(seed + (HELD_OUT_SEED_OFFSET if held_out else 0))
    families = sorted(FAMILIES)
    for index in range(count):
        chosen = rng.choice(families, size=int(rng.choice(DOODLES_PER_ROW)))
        yield build_number([PenDigit(0, index, draw_non_digit(str(family), rng).strokes) for family in chosen], rng,
                           gap_range=GAPS)
