"""Reading whole numbers: segmentation of real MNIST digits and drawn strokes laid out on a wide canvas."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from digitlab.serving.ink_parts import Stroke
from digitlab.serving.number_segmentation import DigitReading, NumberReading, read_number
from digitlab.serving.predictor import Prediction
from digitlab.datasets.pendigits import as_canvas_rgba, draw_strokes

WIDTH, HEIGHT = 980, 280
DIGIT_SIDE = 200  # canvas pixels for an MNIST digit's 28x28 box: its ink is about 140 px tall
SURE = 0.9  # test digits the model reads at least this surely on their own


@pytest.fixture(scope="module")
def sure_digits(mnist, predictor) -> dict[int, np.ndarray]:
    """For each label: the first MNIST test image the model reads surely and correctly, ink cropped."""
    found = {}
    for image, label in zip(mnist.x_test, mnist.y_test):
        label = int(label)
        if len(found) == 10:
            break
        if label in found:
            continue
        crop = _crop_to_ink(image)
        canvas = _compose([crop], [0])
        prediction = predictor.predict_image(canvas)
        if prediction.digit == label and prediction.confidence >= SURE:
            found[label] = crop
    if len(found) < 10:
        pytest.fail(f"the test model reads no MNIST digit surely for {sorted(set(range(10)) - set(found))}")
    return found


def _crop_to_ink(image: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(image.max(axis=1) > 0), np.flatnonzero(image.max(axis=0) > 0)
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _compose(crops: list[np.ndarray], gaps: list[int], x: int = 30) -> np.ndarray:
    """MNIST digits enlarged to a shared height and laid left to right on the wide canvas.

    gaps[i] is the space in canvas pixels before digit i (negative: it overlaps the one before).
    """
    alpha = np.zeros((HEIGHT, WIDTH), np.uint8)
    scale = DIGIT_SIDE / 28
    for crop, gap in zip(crops, gaps):
        x += gap
        height, width = round(crop.shape[0] * scale), round(crop.shape[1] * scale)
        ink = np.asarray(Image.fromarray(crop).resize((width, height), Image.Resampling.BILINEAR))
        top = (HEIGHT - height) // 2
        region = alpha[top : top + height, x : x + width]
        np.maximum(region, ink[:, : region.shape[1]], out=region)
        x += width
    return as_canvas_rgba(alpha)


def _labels(reading) -> str:
    return "".join(str(d.digit) for d in reading.digits)


def test_separate_digits_are_read_left_to_right_with_boxes(predictor, sure_digits):
    """Test that four apart digits come back as the number, each with a box over its own ink only."""
    canvas = _compose([sure_digits[d] for d in (2, 0, 2, 6)], [0, 40, 40, 40])

    reading = read_number(predictor, canvas)

    assert reading.number == "2026"
    boxes = [d.box for d in reading.digits]
    assert all(left[2] <= right[0] for left, right in zip(boxes, boxes[1:]))  # in order, not overlapping
    for x0, y0, x1, y1 in boxes:
        assert canvas[y0:y1, x0:x1, 3].max() > 0 and x1 - x0 < 200 and y1 - y0 < 200
    assert not reading.others


def test_wide_gaps_are_still_one_number(predictor, sure_digits):
    """Test that digits with gaps wider than a digit are still read as one number."""
    canvas = _compose([sure_digits[d] for d in (4, 7, 1)], [0, 260, 220])

    assert read_number(predictor, canvas).number == "471"


def test_touching_pair_is_cut_apart(predictor, sure_digits):
    """Test that two digits whose ink runs together (one blob of ink) are cut and read as two digits."""
    crops = [sure_digits[3], sure_digits[0]]
    overlap = 0
    while True:  # push the 0 left until the two inks form one connected blob
        canvas = _compose(crops, [0, -overlap])
        _, count = ndimage.label(canvas[:, :, 3] > 90, structure=np.ones((3, 3)))
        if count == 1:
            break
        overlap += 2
    assert overlap < 40, "the digits should only just touch"

    reading = read_number(predictor, canvas)

    assert reading.number == "30"


def test_lone_digit_is_a_one_digit_number(predictor, sure_digits):
    """Test that a single digit on the wide canvas reads as a one-digit number with nothing flagged."""
    reading = read_number(predictor, _compose([sure_digits[8]], [400]))

    assert reading.number == "8"
    assert reading.least_certain == ()


def test_empty_canvas_has_no_number(predictor):
    """Test that an empty canvas gives no number, no digits and a reason."""
    reading = read_number(predictor, np.zeros((HEIGHT, WIDTH, 4), np.uint8))

    assert reading.number is None and reading.digits == []
    assert "blank" in reading.message
    assert reading.to_json()["number"] is None


def test_dash_between_digits_is_reported_not_read(predictor, sure_digits):
    """Test that a dash between two digits is reported as not a digit and left out of the number."""
    canvas = _compose([sure_digits[1], sure_digits[9]], [0, 140])
    right_of_one = int(np.flatnonzero(canvas[:, :, 3].max(axis=0))[0]) + 60
    canvas[135:147, right_of_one + 35 : right_of_one + 95, 3] = 255  # a dash in the gap

    reading = read_number(predictor, canvas)

    assert reading.number == "19"
    [mark] = reading.others
    assert right_of_one + 30 <= mark.box[0] and mark.box[2] <= right_of_one + 100
    assert "not_digits" in reading.to_json()


def _strokes_canvas(strokes: list[list[tuple[float, float]]], brush: float = 16) -> tuple[np.ndarray, list[Stroke]]:
    arrays = [np.array(stroke, float) for stroke in strokes]
    return as_canvas_rgba(draw_strokes(arrays, (WIDTH, HEIGHT), brush)), [Stroke(a, brush) for a in arrays]


# Digits of two or three strokes, about 160 px tall, as a person draws them on the canvas.
FOUR = [[(110, 60), (70, 160), (170, 160)], [(140, 90), (140, 220)]]  # an open 4: an L and a stem
FIVE = [[(330, 78), (310, 130), (350, 120), (380, 160), (360, 210), (300, 205)], [(345, 55), (405, 55)]]  # hat apart
SEVEN = [[(470, 60), (570, 60), (500, 220)], [(490, 140), (560, 140)]]  # with a crossbar
ONE_IN_THREE = [[(690, 80), (720, 60)], [(720, 60), (720, 220)], [(690, 220), (750, 220)]]  # lead-in, stem, base


@pytest.mark.parametrize("with_strokes", [True, False], ids=["strokes", "pixels"])
def test_parts_of_a_digit_stay_together(predictor, with_strokes):
    """Test that a 4, 5, 7 and 1 drawn with two or three strokes each come back as four digits whose
    boxes hold all of their own strokes."""
    strokes = [FOUR, FIVE, SEVEN, ONE_IN_THREE]
    canvas, pen = _strokes_canvas([s for digit in strokes for s in digit])

    reading = read_number(predictor, canvas, pen if with_strokes else None)

    assert len(reading.digits) == 4, [d.box for d in reading.digits]
    for digit, box in zip(strokes, (d.box for d in reading.digits)):
        points = np.array([p for stroke in digit for p in stroke])
        assert box[0] <= points[:, 0].min() and points[:, 0].max() <= box[2]
    assert not reading.others


def test_crossing_strokes_of_neighbours_are_kept_apart(predictor):
    """Test that strokes tell overlapping digits apart: a 1 whose foot runs under the next digit's
    ink still gives two digits, each box starting at its own strokes."""
    one = [[(100, 60), (100, 220), (190, 220)]]
    seven = [[(150, 60), (240, 60), (180, 215)]]
    canvas, pen = _strokes_canvas(one + seven)

    reading = read_number(predictor, canvas, pen)

    assert len(reading.digits) == 2
    assert reading.digits[0].box[0] < 100 < reading.digits[1].box[0]


def test_touching_slanted_strokes_are_cut_along_the_slant_not_across_a_stroke():
    """Test that the cut offered through one piece of ink made of two slanted strokes joined by a bridge
    runs between them, leaving each stroke whole on its own side (no straight column could)."""
    from digitlab.serving.seams import cheapest_seams

    rows, columns = np.indices((120, 90))
    first = np.abs(columns - (10 + 0.35 * rows)) < 6
    second = np.abs(columns - (34 + 0.35 * rows)) < 6
    bridge = (np.abs(rows - 60) < 3) & (columns > 10 + 0.35 * rows) & (columns < 34 + 0.35 * rows)
    mask = first | second | bridge
    straight_columns_crossing_both = [c for c in range(90) if first[:, c].any() and second[:, c].any()]
    assert straight_columns_crossing_both, "the strokes should overlap column-wise, so no straight cut exists"

    seams = cheapest_seams(mask, margin=12)

    assert seams, "a cut should be offered"
    left_of_seam = columns < seams[0][:, None]
    away_from_bridge = np.abs(rows - 60) > 4  # where the bridge joins them, the cut crosses ink
    assert left_of_seam[first & away_from_bridge].all()  # the first stroke lies wholly left of the cut
    assert not left_of_seam[second & away_from_bridge].any()  # and the second wholly right of it


def test_json_shape(predictor, sure_digits):
    """Test that a reading's JSON has the number, and per digit its digit, box and ten probabilities."""
    reading = read_number(predictor, _compose([sure_digits[5], sure_digits[3]], [0, 50]))
    result = reading.to_json()

    assert result["number"] == "53"
    assert [d["digit"] for d in result["digits"]] == [5, 3]
    for digit in result["digits"]:
        assert len(digit["box"]) == 4 and all(isinstance(v, int) for v in digit["box"])
        assert len(digit["probabilities"]) == 10 and abs(sum(digit["probabilities"]) - 1) < 1e-3


def test_noise_and_stroke_floods_get_a_message_quickly(predictor):
    """Test that a page of specks and a flood of tiny strokes are refused with a message, not read for seconds."""
    import time

    rng = np.random.default_rng(0)
    specks = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    for row in (0, 1):  # a grid of separate 2x2 dots
        for column in (0, 1):
            specks[row::6, column::6, 3] = 255
    strokes = [Stroke(rng.uniform(0, [WIDTH, HEIGHT], size=(2, 2)), 3.0) for _ in range(5000)]
    scribbles = as_canvas_rgba(draw_strokes([s.points for s in strokes[:400]], (WIDTH, HEIGHT), 3.0))

    started = time.perf_counter()
    from_specks = read_number(predictor, specks)
    from_strokes = read_number(predictor, scribbles, strokes)
    elapsed = time.perf_counter() - started

    assert from_specks.number is None and "too many" in from_specks.message
    assert from_strokes.number is None or len(from_strokes.digits) <= 60
    assert elapsed < 10


def test_strokes_that_miss_the_ink_fall_back_to_pixels(predictor, sure_digits):
    """Test that strokes lying nowhere near the drawing's ink (a canvas message out of step with its
    image) do not hide the digits: the pixels are read instead."""
    canvas = _compose([sure_digits[6], sure_digits[1]], [0, 50])
    stray = [Stroke(np.array([[900.0, 10.0], [960.0, 12.0]]), 10.0)]

    assert read_number(predictor, canvas, stray).number == read_number(predictor, canvas).number == "61"


def _read_as(*confidences: float) -> NumberReading:
    """A number whose digits (1, 2, 3, ...) the model read with these probabilities, the rest on digit 0."""
    digits = []
    for index, confidence in enumerate(confidences):
        probabilities = np.zeros(10)
        probabilities[index + 1], probabilities[0] = confidence, 1 - confidence
        digits.append(DigitReading((index * 30, 0, index * 30 + 20, 28),
                                   Prediction(index + 1, probabilities, np.zeros((28, 28), np.uint8))))
    return NumberReading(digits)


def test_the_least_certain_digits_are_every_digit_at_the_lowest_percent_shown():
    """Test that of digits shown at the same whole percent none is picked over the other ("Least certain: the
    second digit" beside a third at the same 87%), and that none is least certain where all show the same."""
    assert _read_as(0.995, 0.70, 0.99).least_certain == (1,)
    assert _read_as(0.995, 0.8741, 0.8738, 0.99).least_certain == (1, 2)  # both shown as 87%
    assert _read_as(0.999, 0.996).least_certain == ()  # both shown as 100%
