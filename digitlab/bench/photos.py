"""Photo benchmarks: the held-out writers' digits and numbers written on paper and photographed.

The photos (digitlab/datasets/photo_synthesis.py) are read as an upload or `predict` reads a file: the
JPEG decoded, then the digit or the number read from its pixels. The same digits are photographed in
even light and with a soft shadow across one side, so the two rows differ by the light alone. A shadow
or the table past the paper's edge must never be read as a digit: numbers read with more digits than
were written, and digits boxed where nothing was written, are counted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from digitlab.datasets.pendigits import read_pendigits, split_by_writer
from digitlab.datasets.photo_synthesis import Lighting, Photo, photograph_digit, photograph_number
from digitlab.serving.images import decode_image
from digitlab.serving.number_reading import read_number
from digitlab.serving.predictor import Predictor
from digitlab.serving.sequence_reading import SequenceReader

NUMBER_LENGTH = 4


def photo_reading(predictor: Predictor, pen_path: Path, singles: int = 600, numbers: int = 300,
                  seed: int = 0, reader: SequenceReader | None = None) -> dict:
    """Single digits in even light and with a shadow, and 4-digit numbers photographed in uneven light
    (read as `predict --number` reads them: by the registered number reader where there is one)."""
    from digitlab.datasets.pen_numbers import digits_by_writer

    _, held_out = split_by_writer(read_pendigits(pen_path))
    chosen = [held_out[int(i)] for i in np.linspace(0, len(held_out) - 1, min(singles, len(held_out)))]
    even = _photograph_each(chosen, seed, shadow=False)
    shadowed = _photograph_each(chosen, seed, shadow=True)
    by_writer = digits_by_writer(held_out)
    writers = sorted(by_writer)
    rng = np.random.default_rng(seed + 2)
    number_photos = []
    for index in range(numbers):
        own = by_writer[writers[index % len(writers)]]
        digits = [own[int(i)] for i in rng.choice(len(own), NUMBER_LENGTH)]
        number_photos.append(photograph_number(digits, rng, Lighting.shadowed(rng)))
    return {"writers": writers,
            "single_digits_even_light": single_digit_accuracy(predictor, even),
            "single_digits_with_shadow": single_digit_accuracy(predictor, shadowed),
            "four_digit_numbers_uneven_light": number_accuracy(predictor, number_photos, reader)}


def _photograph_each(digits, seed: int, shadow: bool) -> list[Photo]:
    """Each digit photographed; with one seed, the same paper, pen, pose and camera in both lights."""
    photos = []
    for index, digit in enumerate(digits):
        light_rng, rng = np.random.default_rng([seed, index, 1]), np.random.default_rng([seed, index, 2])
        lighting = Lighting.shadowed(light_rng) if shadow else Lighting.even(light_rng)
        photos.append(photograph_digit(digit, rng, lighting))
    return photos


def single_digit_accuracy(predictor: Predictor, photos: list[Photo]) -> dict:
    """Share of photos read as their digit; a refusal or "no digit" counts as wrong."""
    answers = [predictor.predict_image(decode_image(photo.jpeg)).digit for photo in photos]
    correct = np.array([str(answer) == photo.text for answer, photo in zip(answers, photos)])
    pencil = np.array([photo.pencil for photo in photos])
    return {"accuracy": round(float(correct.mean()), 4), "n": len(photos),
            "no_digit_or_refused": int(sum(answer is None for answer in answers)),
            "pen_accuracy": round(float(correct[~pencil].mean()), 4) if (~pencil).any() else None,
            "pencil_accuracy": round(float(correct[pencil].mean()), 4) if pencil.any() else None}


def number_accuracy(predictor: Predictor, photos: list[Photo], reader: SequenceReader | None = None) -> dict:
    """Share of numbers read exactly; and how often a shadow or paper edge was taken for a digit:
    numbers read with more digits than written, and digits boxed where nothing was written."""
    exact = extra = stray = 0
    for photo in photos:
        reading = read_number(predictor, decode_image(photo.jpeg), reader=reader)
        exact += reading.number == photo.text
        extra += len(reading.number or "") > len(photo.text)
        stray += sum(not any(_overlap(digit.box, box) for box in photo.boxes) for digit in reading.digits)
    return {"exact": round(exact / len(photos), 4), "n": len(photos),
            "read_with_an_extra_digit": extra, "digits_boxed_off_the_writing": stray}


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
