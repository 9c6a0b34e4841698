"""Read a whole number: the learned reader says what the number is; boxes and bars say where each digit is.

The learned reader (digitlab/serving/sequence_reading.py) reads the number's ink as a whole, so digits
that touch, cross or share a stroke are read as a person reads them; the number is always its reading.
The segmenter (digitlab/serving/number_segmentation.py), which cuts the ink into digits and reads each
with the digit model, still runs, because where it reads the very same digits its boxes follow the ink
(a 5's hat, strokes that cross) and its bars are the digit model's, the same as a single drawing's. Where
the two disagree, the reader is trusted: the boxes are cut from the ink between the columns where the
reader read each digit, and each digit's bars are the reader's probabilities there. A box therefore never
changes the number read.

Ink that is no number (a scribble, a word) is told by the reader itself, where it learned to say so
(digitlab/training/number_reader.py): it gives the odds that the ink is no number. From READER_SURE_AT
they refuse alone; from the lower level on the reader's card (chosen when it was trained) they refuse
where the digit model, which learned "not a digit" from letters and doodles, also doubts the reader's
boxes or the segmenter's. The reader's odds alone, at its card's level, refused 2% of the training
institutions' UNIPEN numbers, whose odd digits it finds strange; the digit model reads those digits
without doubt.

A reader that never learned "not a number" reads anything as digits; then the digit model judges alone,
and the image is "not a number" only where it doubts both the reader's boxes and the segmenter's own:
boxes cut through touching digits hold pieces of their neighbours, and a number must not be lost for that.

Without a registered reader (or where its flatbuffer cannot run), the segmenter reads alone, as before.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from digitlab.serving.ink import INK_THRESHOLD, ink_of_image
from digitlab.serving.ink_parts import Stroke
from digitlab.serving.litert import LiteRuntimeUnavailable
from digitlab.serving.number_segmentation import DigitReading, NumberReading, read_ink_number
from digitlab.serving.predictor import Prediction
from digitlab.serving.preprocess import preprocess
from digitlab.serving.sequence_reading import INK_LEVEL, Placement, ReadDigit, SequenceReader, place_ink, read_digits
from digitlab.store.flatbuffers import FlatbufferRefused, read_flatbuffer
from digitlab.store.number_readers import served_reader_entry

logger = logging.getLogger(__name__)

NOT_A_NUMBER_MESSAGE = "This does not look like a number."
# The reader's odds that refuse without the digit model's doubt. Chosen on the training side (500 numbers
# by the training pendigits writers, 500 by UNIPEN's training institutions' writers, 500 words and 500
# doodle rows, seeds apart from the reader's training): the lowest of 0.5, 0.6, ..., 0.9, 0.95 that
# refused at most 0.5% of each kind of number there (0.9: 0.4% of UNIPEN numbers, 0% of pen numbers,
# 96.4% of words, all doodle rows; 0.8 refused 1.0% of UNIPEN numbers).
READER_SURE_AT = 0.9
# The digit model doubts boxes where it gives any of them at least NOT_A_DIGIT_AT as "not a digit", or gives
# the digits read in them a mean probability below AGREEMENT_AT. Chosen on 300 numbers of each of
# three kinds, 300 words and 300 doodle rows by the training writers and seeds, as the pair that refused
# most words and doodles while refusing at most 1% of each kind of number (BENCHMARKS.md, "Not a number").
NOT_A_DIGIT_AT = 0.5
AGREEMENT_AT = 0.6
STROKE_SHARE = 0.08  # the reader's usual pen width, as a share of the number's height (canvas brushes 8-22 px)
THIN_SHARE = 0.6  # ink thinner than this share of that is thickened for the reader
BOX_MARGIN = 24  # image pixels kept around the ink's box for the reader: room for thin ink to be thickened
CROP_BORDER = 4  # empty pixels around a digit's crop, as the segmenter's crops have
CUT_MARGIN = 0.2  # a cut between two digits lies in the middle 60% between the columns they were read at


def load_number_reader(models: Path | None = None) -> tuple[SequenceReader | None, str]:
    """(the registered number reader, "") or (None, why not): then numbers are read by the segmenter alone.
    models: the models folder (default: the store's)."""
    entry = served_reader_entry(models)
    if entry is None:
        return None, "no number reader is registered"
    if not entry.usable:
        return None, f"the number reader cannot be used: {entry.problem}"
    level = (entry.card.get("not_a_number") or {}).get("level")
    if not isinstance(level, (int, float)) or not 0.0 < level <= 1.0:
        level = None  # a card without a usable level: the digit model judges "not a number"
    try:
        return SequenceReader(read_flatbuffer(entry.path, entry.card), level), ""
    except (FlatbufferRefused, LiteRuntimeUnavailable) as error:
        logger.warning("Number reader '%s' not served: %s", entry.name, error)
        return None, f"the number reader's flatbuffer is not used: {error}"


def read_number(predictor, image, strokes: list[Stroke] | None = None,
                reader: SequenceReader | None = None) -> NumberReading:
    """Every digit of a number in an image (canvas RGBA, photo, array), using pen strokes where given:
    read by the learned reader where there is one, else by the segmenter alone."""
    ink = ink_of_image(image)
    segmented = read_ink_number(predictor, ink, strokes)
    if reader is None or not segmented.digits:
        return segmented  # blank, too many pieces, nothing tall enough: the segmenter's message says why
    strip, placement = reader_strip(ink)
    said = reader.read(strip[None])
    read = read_digits(said.probabilities[0])
    odds = None if said.not_a_number is None or reader.refusal_level is None else float(said.not_a_number[0])
    if not read or (odds is not None and odds >= max(READER_SURE_AT, reader.refusal_level)):
        return NumberReading([], segmented.others, NOT_A_NUMBER_MESSAGE)
    if [reading.digit for reading in segmented.digits] == [digit.digit for digit in read]:
        digits = segmented.digits  # the same digits: the segmenter's boxes follow the ink, its bars are the model's
        others = segmented.others
    else:
        digits = aligned_digits(ink, read, placement)
        others = []
    if odds is not None and odds < reader.refusal_level:
        return NumberReading(digits, others)
    # Where the boxes are the segmenter's, its digits are the model's best guesses: one look judges both.
    doubts = doubted(predictor, digits, reader_read=True)
    if odds is None:  # the digit model judges alone: the reader's boxes and the segmenter's must be doubted
        refused = doubts and (digits is segmented.digits or doubted(predictor, segmented.digits, reader_read=False))
    else:  # the reader finds the ink strange: a doubt about either boxes confirms it
        refused = doubts or (digits is not segmented.digits and doubted(predictor, segmented.digits, reader_read=False))
    if refused:
        return NumberReading([], others, NOT_A_NUMBER_MESSAGE)
    return NumberReading(digits, others)


def doubted(predictor, digits: list[DigitReading], reader_read: bool) -> bool:
    """Whether the digit model doubts that these boxes hold digits: it gives one of them at least
    NOT_A_DIGIT_AT as "not a digit", or on average less than AGREEMENT_AT to the digits read in them
    (the reader's digits where reader_read, else its own best guesses)."""
    probabilities, not_a_digit = predictor.predict_with_refusal(np.stack([d.prediction.mnist for d in digits]))
    read = [d.digit for d in digits] if reader_read else probabilities.argmax(axis=1)
    agreement = float(np.mean([row[digit] for row, digit in zip(probabilities, read)]))
    return bool(not_a_digit.max() >= NOT_A_DIGIT_AT or agreement < AGREEMENT_AT)


def reader_strip(ink: np.ndarray) -> tuple[np.ndarray, Placement | None]:
    """The reader's strip of an image's ink, and where it lies in the image. Worked out on the ink's own
    box (with room for thickening around it): a number canvas is mostly empty, and this runs every stroke."""
    inked = ink > INK_LEVEL / 255
    rows, columns = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    if len(rows) == 0:
        return place_ink(np.zeros((1, 1), np.uint8))
    top, left = max(0, rows[0] - BOX_MARGIN), max(0, columns[0] - BOX_MARGIN)
    box = ink[top : rows[-1] + 1 + BOX_MARGIN, left : columns[-1] + 1 + BOX_MARGIN]
    strip, placement = place_ink(reader_ink(box))
    return strip, placement and Placement(placement.left + left, placement.scale)


def reader_ink(ink: np.ndarray) -> np.ndarray:
    """The ink as the reader learned it, uint8. It learned from canvas strokes, whose pen is about a tenth
    of the digits' height wide; a pen or pencil photographed on paper draws a far thinner line, which the
    reader misreads, so thin ink is thickened until it is about as wide. Canvas drawings at the usual
    brush widths are left as they are."""
    # Imported here: scipy takes about 0.5 s to import, and the Draw page imports this module for Number
    # mode, which a first visit to a fresh server need not wait for.
    from scipy import ndimage

    mask = ink > INK_THRESHOLD
    if not mask.any():
        return np.zeros(ink.shape, np.uint8)
    rows = np.flatnonzero(mask.any(axis=1))
    height = rows[-1] - rows[0] + 1
    edge = mask & ~ndimage.binary_erosion(mask)
    width = mask.sum() / max(edge.sum() / 2, 1.0)  # a stroke's area over its length, both sides counted
    wanted = STROKE_SHARE * height
    if width < THIN_SHARE * wanted:
        ink = ndimage.maximum_filter(ink, size=int(round(wanted - width)) + 1)
    return np.round(np.clip(ink, 0.0, 1.0) * 255).astype(np.uint8)


def aligned_digits(ink: np.ndarray, read: list[ReadDigit], placement: Placement) -> list[DigitReading]:
    """A box and bars for each digit the reader read: the ink between cuts at the emptiest column between
    the columns where neighbouring digits were read; the reader's probabilities there."""
    columns = ink.shape[1]
    column_ink = (ink > INK_THRESHOLD).sum(axis=0)
    centres = [placement.image_x(digit.peak_step) for digit in read]
    cuts = [0]
    for left, right in zip(centres, centres[1:]):
        low = int(np.clip(round(left + CUT_MARGIN * (right - left)), 0, columns - 1))
        high = int(np.clip(round(right - CUT_MARGIN * (right - left)), low + 1, columns))
        middle = (left + right) / 2
        window = column_ink[low:high]
        emptiest = np.flatnonzero(window == window.min()) + low
        cuts.append(int(emptiest[np.argmin(np.abs(emptiest - middle))]))
    cuts.append(columns)
    digits = []
    for digit, x0, x1 in zip(read, cuts, cuts[1:]):
        own = ink[:, x0:x1]  # this digit's columns: the ink between its cuts
        rows, found = np.nonzero(own > INK_THRESHOLD)
        box = ((int(found.min()) + x0, int(rows.min()), int(found.max()) + x0 + 1, int(rows.max()) + 1)
               if len(rows) else (x0, 0, max(x0 + 1, x1), ink.shape[0]))
        crop = np.pad(np.round(ink[box[1] : box[3], box[0] : box[2]] * 255).astype(np.uint8), CROP_BORDER)
        mnist = preprocess(crop).mnist
        if mnist is None:  # no ink between the cuts: an empty picture keeps the digit's place in the row
            mnist = np.zeros((28, 28), np.uint8)
        digits.append(DigitReading(box, Prediction(digit.digit, digit.probabilities, mnist)))
    return digits
