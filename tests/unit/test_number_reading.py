"""Reading whole numbers with the registered learned reader: touching digits, boxes, "not a number", fallback."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from digitlab.serving.number_reading import NOT_A_NUMBER_MESSAGE, load_number_reader, read_number
from digitlab.serving.number_segmentation import DigitReading, NumberReading
from digitlab.serving.number_segmentation import read_number as segment_number
from digitlab.serving.predictor import Prediction
from digitlab.serving.sequence_reading import Placement, decode_readings, place_ink, read_digits
from digitlab.store.number_readers import number_readers_dir
from tests.conftest import SHARED_PENDIGITS

SHARED_UNIPEN = SHARED_PENDIGITS.with_name("unipen-dev.tar.gz")

needs_pen_digits = pytest.mark.skipif(not SHARED_PENDIGITS.is_file(), reason="needs pendigits-orig.tra")
TOUCHING = (-0.1, 0.05)  # gaps in digit heights: neighbours touching or written into each other


@pytest.fixture(scope="module")
def reader():
    reader, why_not = load_number_reader()
    assert reader is not None, f"the shipped number reader is not served: {why_not}"
    return reader


@pytest.fixture(scope="module")
def predictor():
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import default_entry

    return load_serving_predictor(default_entry())


@pytest.fixture(scope="module")
def held_out_digits():
    if not SHARED_PENDIGITS.is_file():
        pytest.skip("needs pendigits-orig.tra")
    from digitlab.datasets.pendigits import read_pendigits, split_by_writer

    return split_by_writer(read_pendigits(SHARED_PENDIGITS))[1]


def test_where_each_digit_was_read_agrees_with_the_digits_read():
    rng = np.random.default_rng(0)
    for _ in range(200):
        probabilities = rng.dirichlet(np.full(11, 0.3), size=64)
        read = read_digits(probabilities)
        assert "".join(str(digit.digit) for digit in read) == decode_readings(probabilities[None])[0]
        for digit in read:
            assert digit.first_step <= digit.peak_step <= digit.last_step
            assert probabilities[digit.peak_step].argmax() == digit.digit + 1
            assert digit.probabilities.argmax() == digit.digit and abs(digit.probabilities.sum() - 1) < 1e-6


def test_strip_columns_map_back_to_the_image_columns_they_came_from():
    ink = np.zeros((230, 800), np.uint8)
    ink[40:200, 300:320] = 255  # a bar 160 px high at x 300..320
    ink[40:200, 600:620] = 255  # and one at x 600..620
    strip, placement = place_ink(ink)
    inked_steps = np.nonzero(strip.max(axis=0) > 0.5)[0] / 4 - 0.5  # strip columns as the reader's steps
    left_bar, right_bar = inked_steps[inked_steps < inked_steps.mean()], inked_steps[inked_steps > inked_steps.mean()]
    assert 295 <= placement.image_x(left_bar.mean()) <= 325
    assert 595 <= placement.image_x(right_bar.mean()) <= 625
    assert place_ink(np.zeros((10, 10), np.uint8)) == (pytest.approx(np.zeros((32, 256))), None)
    assert isinstance(placement, Placement)


@needs_pen_digits
def test_touching_digits_are_read_from_pixels_and_from_strokes(predictor, reader, held_out_digits):
    """Held-out writers' 4-digit numbers, neighbours touching or crossing: the reader reads nearly all of them,
    from pixels more of them than cutting the ink into digits does. (From strokes the segmenter has the pen's
    own pieces and reads nearly as many: on 40 numbers either may be a number ahead.)"""
    from digitlab.datasets.pen_numbers import build_numbers

    numbers = build_numbers(held_out_digits, 40, lengths=(4,), seed=11, gap_range=TOUCHING)
    for with_strokes in (False, True):
        read = [read_number(predictor, n.canvas, n.strokes if with_strokes else None, reader).number for n in numbers]
        cut = [segment_number(predictor, n.canvas, n.strokes if with_strokes else None).number for n in numbers]
        right = sum(r == n.text for r, n in zip(read, numbers))
        assert right >= 36, (with_strokes, [(r, n.text) for r, n in zip(read, numbers) if r != n.text])
        if not with_strokes:
            assert right > sum(c == n.text for c, n in zip(cut, numbers))


@needs_pen_digits
def test_a_misplaced_box_never_changes_the_number_read(predictor, reader, held_out_digits, monkeypatch):
    """Where the segmenter's boxes are misplaced and read other digits, the number is the reader's, and each
    digit gets a box of its own over its ink, cut between the places the reader read the digits."""
    from digitlab.datasets.pen_numbers import build_numbers
    from digitlab.serving import number_reading

    numbers = build_numbers(held_out_digits, 40, lengths=(4,), seed=12, gap_range=TOUCHING)
    expected = [read_number(predictor, n.canvas, n.strokes, reader).number for n in numbers]
    assert sum(before == n.text for before, n in zip(expected, numbers)) >= 36
    segment = number_reading.read_ink_number

    def misplaced(predictor, ink, strokes=None):  # every box 60 px to the right, reading the next digit up
        cut = segment(predictor, ink, strokes)
        return NumberReading([DigitReading((x0 + 60, y0, x1 + 60, y1), Prediction((d.digit + 1) % 10, np.roll(
            d.prediction.probabilities, 1), d.prediction.mnist)) for d in cut.digits for x0, y0, x1, y1 in [d.box]])

    monkeypatch.setattr(number_reading, "read_ink_number", misplaced)
    inside = total = 0
    for number, before in zip(numbers, expected):
        reading = read_number(predictor, number.canvas, number.strokes, reader)
        assert reading.number == before
        if reading.number == number.text:
            for digit, (x0, y0, x1, y1) in zip(reading.digits, number.boxes):
                inside += digit.box[0] <= (x0 + x1) / 2 < digit.box[2] and digit.box[1] <= (y0 + y1) / 2 < digit.box[3]
                total += 1
            boxes = [digit.box for digit in reading.digits]
            assert all(left[0] < right[0] for left, right in zip(boxes, boxes[1:]))  # left to right, one per digit
    assert total >= 140 and inside >= 0.95 * total


@needs_pen_digits
def test_where_the_segmenter_reads_the_same_digits_its_boxes_and_bars_are_kept(predictor, reader, held_out_digits):
    from digitlab.datasets.pen_numbers import build_numbers

    for number in build_numbers(held_out_digits, 10, lengths=(3,), seed=13, gap_range=(0.3, 0.6)):
        cut = segment_number(predictor, number.canvas, number.strokes)
        read = read_number(predictor, number.canvas, number.strokes, reader)
        if cut.number == read.number:
            assert [d.box for d in read.digits] == [d.box for d in cut.digits]
            assert all(np.array_equal(a.prediction.probabilities, b.prediction.probabilities)
                       for a, b in zip(read.digits, cut.digits))


@needs_pen_digits
def test_words_and_doodles_are_not_a_number_and_numbers_are(predictor, reader, held_out_digits):
    from digitlab.datasets.not_numbers import doodle_rows
    from digitlab.datasets.pen_numbers import build_numbers

    assert reader.refusal_level is not None  # the shipped reader says "not a number" itself
    doodles = [read_number(predictor, row.canvas, row.strokes, reader) for row in doodle_rows(20, seed=3, held_out=True)]
    refused = [reading for reading in doodles if reading.number is None]
    assert len(refused) >= 18
    assert all(reading.message == NOT_A_NUMBER_MESSAGE and reading.to_json()["number"] is None for reading in refused)
    numbers = build_numbers(held_out_digits, 30, seed=14)
    assert all(read_number(predictor, n.canvas, n.strokes, reader).number is not None for n in numbers)


@needs_pen_digits
def test_the_readers_doubt_below_its_sure_level_needs_the_digit_models_to_refuse(predictor, reader, held_out_digits,
                                                                               monkeypatch):
    """With the card's level as low as it goes, every number is somewhat doubted by the reader; still none is
    refused, because the digit model reads their digits without doubt, while doodles stay refused."""
    from digitlab.datasets.not_numbers import doodle_rows
    from digitlab.datasets.pen_numbers import build_numbers

    monkeypatch.setattr(reader, "refusal_level", 1e-6)
    numbers = build_numbers(held_out_digits, 30, seed=15)
    assert all(read_number(predictor, n.canvas, n.strokes, reader).number is not None for n in numbers)
    doodles = [read_number(predictor, row.canvas, row.strokes, reader) for row in doodle_rows(20, seed=4, held_out=True)]
    assert sum(reading.number is None for reading in doodles) >= 18


@pytest.mark.skipif(not SHARED_UNIPEN.is_file(), reason="needs unipen-dev.tar.gz")
def test_words_by_held_out_writers_are_not_a_number(predictor, reader):
    from digitlab.datasets.not_numbers import written_words
    from digitlab.datasets.unipen import is_held_out, read_unipen

    letters = [character for character in read_unipen(SHARED_UNIPEN) if is_held_out(character)]
    words = list(written_words(letters, 30, seed=21))
    refused = [read_number(predictor, word.canvas, word.strokes, reader).number is None for word in words]
    assert sum(refused) >= 26


@needs_pen_digits
def test_a_reader_whose_card_has_no_refusal_level_leaves_not_a_number_to_the_digit_model(tmp_path, predictor):
    from digitlab.datasets.not_numbers import doodle_rows

    models = tmp_path / "models"
    shutil.copytree(number_readers_dir(), models / number_readers_dir().name)
    card_path = models / number_readers_dir().name / "default.json"
    card = json.loads(card_path.read_text())
    card.pop("not_a_number", None)
    card_path.write_text(json.dumps(card))
    reader, why_not = load_number_reader(models)
    assert reader is not None, why_not
    assert reader.refusal_level is None
    doodles = [read_number(predictor, row.canvas, row.strokes, reader) for row in doodle_rows(20, seed=3, held_out=True)]
    assert sum(reading.number is None for reading in doodles) >= 16  # the digit model's doubts still refuse them


def test_without_a_registered_reader_numbers_are_cut_into_digits(tmp_path, predictor):
    empty_models = tmp_path / "models"
    empty_models.mkdir()
    reader, why_not = load_number_reader(empty_models)
    assert reader is None and "no number reader is registered" in why_not
    canvas = np.zeros((230, 800, 4), np.uint8)
    canvas[60:180, 100:116] = 255  # a 1
    canvas[60:180, 300:316] = 255  # and another, well apart
    assert read_number(predictor, canvas).number == segment_number(predictor, canvas).number == "11"


def test_an_altered_reader_flatbuffer_is_refused_with_the_reason(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(number_readers_dir(), models / number_readers_dir().name)
    card = json.loads((models / number_readers_dir().name / "default.json").read_text())
    flatbuffer = models / number_readers_dir().name / card["litert"]["file"]
    flatbuffer.write_bytes(flatbuffer.read_bytes()[:-10] + b"0123456789")
    reader, why_not = load_number_reader(models)
    assert reader is None and "does not match its recorded sha256" in why_not


@needs_pen_digits
def test_predict_number_reads_touching_digits_with_the_registered_reader(tmp_path, held_out_digits):
    """`predict --number --json` on PNG files of touching digits: read by the reader (no note on stderr); with
    no reader registered it still answers, by cutting the ink, and says so on stderr."""
    import os
    import subprocess
    import sys

    from PIL import Image

    from digitlab.config.paths import REPO_ROOT
    from digitlab.datasets.pen_numbers import build_numbers

    numbers = build_numbers(held_out_digits, 6, lengths=(4,), seed=15, gap_range=TOUCHING)
    files = []
    for index, number in enumerate(numbers):  # dark ink on white paper, as a scan
        path = tmp_path / f"number-{index}.png"
        Image.fromarray(255 - number.canvas[:, :, 3]).save(path)
        files.append(str(path))
    done = subprocess.run([sys.executable, "-m", "digitlab", "predict", "--number", "--json", *files], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "note:" not in done.stderr
    read = [json.loads(line)["number"] for line in done.stdout.splitlines()]
    assert sum(r == n.text for r, n in zip(read, numbers)) >= 5, (read, [n.text for n in numbers])

    only_digit_model = tmp_path / "models"
    only_digit_model.mkdir()
    for shipped in number_readers_dir().parent.glob("default.*"):
        shutil.copy2(shipped, only_digit_model / shipped.name)
    without = subprocess.run([sys.executable, "-m", "digitlab", "predict", "--number", "--json", files[0]],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "DIGITLAB_MODELS": str(only_digit_model)})
    assert without.returncode == 0 and "no number reader is registered" in without.stderr
    assert "number" in json.loads(without.stdout)
