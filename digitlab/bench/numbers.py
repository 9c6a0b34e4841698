"""Number benchmarks: whole numbers by the held-out writers, read from pixels and from strokes, and timed.

Every figure is measured on the path `predict --number` and Number mode serve (digitlab/serving/
number_reading.py: the registered learned reader, with the segmenter's boxes where they agree), and
beside it on the segmenter alone, today's path where no reader is registered, on the very same numbers.
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
from digitlab.serving.number_reading import read_number
from digitlab.serving.number_segmentation import NumberReading
from digitlab.serving.predictor import Predictor
from digitlab.serving.sequence_reading import SequenceReader


def number_reading(predictor: Predictor, pen_path: Path, show_number: Callable[[np.ndarray, NumberReading], None],
                   count: int = 500, timed: int = 100, reader: SequenceReader | None = None,
                   unipen: Path | None = None, mnist=None) -> dict:
    """Whole numbers by the held-out writers (digitlab/datasets/pen_numbers.py), read from pixels as
    `predict --number` reads a file and from strokes as the Draw page does; server ms per 4-digit number
    on the Draw page (with its boxes picture and bars, show_number) and for `predict --number` on a file.
    The served path's figures at the top level; the segmenter alone's under "segmenter_alone". With mnist
    (digitlab.datasets.mnist.Mnist), also 4-digit numbers of MNIST's test digits (writers no reader learnt
    from), from pixels."""
    from digitlab.datasets.number_lines import TIGHT_GAPS
    from digitlab.datasets.pen_numbers import LENGTHS, OVERLAPPING_GAP_RANGE, build_numbers
    from digitlab.datasets.pendigits import split_by_writer
    from digitlab.serving.images import decode_image

    _, held_out = split_by_writer(read_pendigits(pen_path))
    kinds = {  # name: (numbers, read from strokes too)
        "four_digits": (build_numbers(held_out, count, lengths=(4,), seed=1), True),
        # The way people write a year or a price: gaps from -0.1 to 0.35 digit heights, a third touching.
        "four_digits_tight": (build_numbers(held_out, count, lengths=(4,), seed=4, gap_range=TIGHT_GAPS), True),
        "one_to_eight_digits_tight": (build_numbers(held_out, count, lengths=tuple(range(1, 9)), seed=5,
                                                    gap_range=TIGHT_GAPS), True),
        "two_to_six_digits": (build_numbers(held_out, count, lengths=LENGTHS, seed=2), True),
        # Beyond the targets: neighbours written into each other, boxes overlapping by up to 12% of the height.
        "overlapping_four_digits": (build_numbers(held_out, count, lengths=(4,), seed=3,
                                                  gap_range=OVERLAPPING_GAP_RANGE), True),
    }

    def figures(use_reader: SequenceReader | None) -> dict:
        result = {}
        for name, (numbers, with_strokes) in kinds.items():
            result[f"{name}_from_pixels"] = score(predictor, numbers, False, use_reader)
            if with_strokes:
                result[f"{name}_from_strokes"] = score(predictor, numbers, True, use_reader)
        return result

    # Encoded before timing: the browser makes the PNG, the server only decodes it.
    sent = [(canvas_png(number.canvas), number.strokes) for number in kinds["four_digits_tight"][0][:timed]]

    def timings(use_reader: SequenceReader | None) -> dict:
        def serve_number(item) -> None:  # the Draw page's work for a stroke in Number mode, from the PNG sent
            png, strokes = item
            image = decode_image(png)
            show_number(image, read_number(predictor, image, strokes, use_reader))

        def read_file(png) -> None:  # predict --number's work for one file: decode it and read it from pixels
            read_number(predictor, decode_image(png), reader=use_reader)

        return {"server_ms_per_four_digit_number": percentiles_ms(time_calls(serve_number, sent)),
                "predict_number_ms_per_four_digit_file": percentiles_ms(time_calls(read_file, [p for p, _ in sent]))}

    served = {"path": "learned reader" if reader is not None else "segmenter alone (no number reader registered)",
              **figures(reader)}
    alone = figures(None) if reader is not None else None
    # Timed alternately, reader path then segmenter, twice over: a slow spell of the machine shows in both.
    for _ in range(2):
        served.update(timings(reader))
        if alone is not None:
            alone.update(timings(None))
    result = {"writers": sorted(int(w) for w in {d.writer for d in held_out}), "numbers": count, **served}
    if alone is not None:
        result["segmenter_alone"] = alone
    if unipen is not None:
        from digitlab.datasets.unipen import as_pen_digits, unipen_digits

        # Writers from institutions never trained on, the checked digits only.
        unipen_held_out = as_pen_digits(unipen_digits(unipen, held_out=True, checked_only=True))
        unipen_tight = build_numbers(unipen_held_out, count, (4,), seed=57, gap_range=TIGHT_GAPS)
        result["unipen_four_digits_tight_from_strokes"] = score(predictor, unipen_tight, True, reader)
        if alone is not None:
            alone["unipen_four_digits_tight_from_strokes"] = score(predictor, unipen_tight, True, None)
        result["not_a_number"] = not_a_number_rates(predictor, reader, unipen, held_out, unipen_held_out, count)
    if mnist is not None:
        from digitlab.datasets.number_lines import mnist_numbers

        written = list(mnist_numbers(mnist.x_test, mnist.y_test, count, seed=59, lengths=(4,), gap_range=TIGHT_GAPS))

        def mnist_figures(use_reader: SequenceReader | None) -> dict:
            read = [read_number(predictor, picture, reader=use_reader).number for picture, _ in written]
            return {"exact": round(float(np.mean([number == text for number, (_, text) in zip(read, written)])), 4),
                    "refused": round(float(np.mean([number is None for number in read])), 4)}

        result["mnist_test_four_digits_tight_from_pixels"] = mnist_figures(reader)
        if alone is not None:
            alone["mnist_test_four_digits_tight_from_pixels"] = mnist_figures(None)
    return result


def score(predictor: Predictor, numbers, with_strokes: bool, reader: SequenceReader | None) -> dict:
    """Numbers read exactly, and digits found: a digit is found when a box over its centre reads it."""
    exact = found = total = 0
    for number in numbers:
        reading = read_number(predictor, number.canvas, number.strokes if with_strokes else None, reader)
        exact += reading.number == number.text
        total += len(number.text)
        for label, (x0, y0, x1, y1) in zip(number.text, number.boxes):
            x, y = (x0 + x1) / 2, (y0 + y1) / 2
            found += any(d.box[0] <= x < d.box[2] and d.box[1] <= y < d.box[3] and str(d.digit) == label
                         for d in reading.digits)
    return {"exact": round(exact / len(numbers), 4), "digit_accuracy": round(found / total, 4)}


def not_a_number_rates(predictor: Predictor, reader: SequenceReader | None, unipen: Path, held_out_pen: list,
                       unipen_held_out: list, count: int) -> dict:
    """How often held-out writing that is no number reads as "not a number" (words by the held-out UNIPEN
    institutions' writers, rows of held-out doodles), and how often held-out numbers do (pen writers', and
    UNIPEN held-out institutions' checked digits), from strokes as the Draw page reads them."""
    from digitlab.datasets.not_numbers import doodle_rows, written_words
    from digitlab.datasets.number_lines import TIGHT_GAPS
    from digitlab.datasets.pen_numbers import LENGTHS, build_numbers
    from digitlab.datasets.unipen import is_held_out, read_unipen

    def refused(items) -> float:
        return round(float(np.mean([read_number(predictor, item.canvas, item.strokes, reader).number is None
                                    for item in items])), 4)

    letters = [character for character in read_unipen(unipen) if is_held_out(character)]
    return {"words_refused": refused(written_words(letters, count, seed=6)),
            "doodle_rows_refused": refused(doodle_rows(count, seed=5, held_out=True)),
            "pen_numbers_refused": refused(build_numbers(held_out_pen, count, LENGTHS, seed=55, gap_range=TIGHT_GAPS)),
            "unipen_numbers_refused": refused(build_numbers(unipen_held_out, count, LENGTHS, seed=56,
                                                            gap_range=TIGHT_GAPS)),
            "n": count}
