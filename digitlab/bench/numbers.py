"""Number benchmarks: whole numbers by the held-out writers, read from pixels and from strokes, and timed.

The Draw page's own work in Number mode comes in as show_number(image, reading): the CLI hands in the
page's figure builders from digitlab/ui/figures/, so bench never imports ui/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab.bench.canvases import canvas_png
from digitlab.bench.machine import percentiles_ms, time_calls
from digitlab.datasets.pendigits import read_pendigits
from digitlab.serving.number_segmentation import NumberReading, read_number
from digitlab.serving.predictor import Predictor


def number_reading(predictor: Predictor, pen_path: Path, show_number: Callable[[np.ndarray, NumberReading], None],
                   count: int = 500, timed: int = 100) -> dict:
    """Whole numbers by the held-out writers (digitlab/datasets/pen_numbers.py), read from pixels as
    `predict --number` reads a file and from strokes as the Draw page does; server ms per 4-digit number
    on the Draw page (with its boxes picture and bars, show_number) and for `predict --number` on a file."""
    from digitlab.datasets.pen_numbers import LENGTHS, OVERLAPPING_GAP_RANGE, build_numbers
    from digitlab.datasets.pendigits import split_by_writer
    from digitlab.serving.images import decode_image

    _, held_out = split_by_writer(read_pendigits(pen_path))

    def score(numbers, with_strokes: bool) -> dict:
        exact = found = total = 0
        for number in numbers:
            reading = read_number(predictor, number.canvas, number.strokes if with_strokes else None)
            exact += reading.number == number.text
            total += len(number.text)
            for label, (x0, y0, x1, y1) in zip(number.text, number.boxes):  # a digit is found when a box
                x, y = (x0 + x1) / 2, (y0 + y1) / 2  # over its centre reads it
                found += any(d.box[0] <= x < d.box[2] and d.box[1] <= y < d.box[3] and str(d.digit) == label
                             for d in reading.digits)
        return {"exact": round(exact / len(numbers), 4), "digit_accuracy": round(found / total, 4)}

    four = build_numbers(held_out, count, lengths=(4,), seed=1)
    mixed = build_numbers(held_out, count, lengths=LENGTHS, seed=2)
    # Beyond the targets: neighbours written into each other, boxes overlapping by up to 12% of the height.
    overlapping = build_numbers(held_out, count, lengths=(4,), seed=3, gap_range=OVERLAPPING_GAP_RANGE)

    def serve_number(sent) -> None:  # the Draw page's work for a stroke in Number mode, from the PNG it is sent
        png, strokes = sent
        image = decode_image(png)
        show_number(image, read_number(predictor, image, strokes))

    def read_file(png) -> None:  # predict --number's work for one file: decode it and read it from pixels
        read_number(predictor, decode_image(png))

    # Encoded before timing: the browser makes the PNG, the server only decodes it.
    sent = [(canvas_png(number.canvas), number.strokes) for number in four[:timed]]

    return {"writers": sorted(int(w) for w in {d.writer for d in held_out}), "numbers": count,
            "four_digits_from_pixels": score(four, False), "four_digits_from_strokes": score(four, True),
            "two_to_six_digits_from_strokes": score(mixed, True),
            "overlapping_four_digits_from_pixels": score(overlapping, False),
            "overlapping_four_digits_from_strokes": score(overlapping, True),
            "server_ms_per_four_digit_number": percentiles_ms(time_calls(serve_number, sent)),
            "predict_number_ms_per_four_digit_file": percentiles_ms(time_calls(read_file, [png for png, _ in sent]))}
