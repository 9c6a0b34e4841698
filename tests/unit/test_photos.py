"""Photos of handwriting in uneven light: held-out pen writers' digits written in pen or pencil, photographed
(digitlab/datasets/photo_synthesis.py) and read as an upload or `predict` reads a file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_PENDIGITS

SHIPPED_DEFAULT = Path(__file__).resolve().parents[2] / "models" / "default.keras"
APART = (0.15, 0.6)  # digits written apart, as the newcomer did: a shadow, not touching digits, is tested


@pytest.fixture(scope="module")
def held_out():
    if not SHARED_PENDIGITS.exists():
        pytest.skip(f"pen trajectories not found at {SHARED_PENDIGITS}")
    from digitlab.datasets.pen_numbers import digits_by_writer
    from digitlab.datasets.pendigits import read_pendigits, split_by_writer

    return digits_by_writer(split_by_writer(read_pendigits(SHARED_PENDIGITS))[1])


@pytest.fixture(scope="module")
def shipped_predictor():
    """The shipped default model, served from its flatbuffer as `predict` serves it."""
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import entry_for_path

    return load_serving_predictor(entry_for_path(SHIPPED_DEFAULT))


def _first(own, label: int):
    return next(digit for digit in own if digit.label == label)


def test_a_pencil_number_darker_towards_the_right_reads_without_an_extra_digit(held_out, shipped_predictor):
    """Test that a pencil "4096" photographed with a soft shadow over its right side, by three held-out
    writers, reads "4096": the shadow's edge is never boxed as a digit (it was read "40961")."""
    from digitlab.datasets.photo_synthesis import Lighting, photograph_number
    from digitlab.serving.images import decode_image
    from digitlab.serving.number_segmentation import read_number

    for writer in sorted(held_out)[:3]:
        rng = np.random.default_rng(writer)
        digits = [_first(held_out[writer], label) for label in (4, 0, 9, 6)]
        photo = photograph_number(digits, rng, Lighting.shadowed(rng, side="right"), pencil=True, gap_range=APART)
        reading = read_number(shipped_predictor, decode_image(photo.jpeg))
        assert reading.number == "4096", (writer, reading.number)
        rightmost_ink = max(box[2] for box in photo.boxes)
        for digit in reading.digits:
            assert digit.box[0] < rightmost_ink, (writer, digit.box, photo.boxes)
            assert any(min(digit.box[2], box[2]) > max(digit.box[0], box[0]) for box in photo.boxes)


def test_single_digits_in_a_shadow_read_in_either_polarity(held_out, shipped_predictor):
    """Test that held-out writers' digits photographed with a shadow across one side read as their digit,
    written dark on light paper and light on a dark ground alike."""
    from digitlab.datasets.photo_synthesis import Lighting, photograph_digit
    from digitlab.serving.images import decode_image

    for inverted in (False, True):
        read = []
        for writer in sorted(held_out)[:4]:
            for label in (2, 5, 8):
                rng = np.random.default_rng([writer, label])
                photo = photograph_digit(_first(held_out[writer], label), rng, Lighting.shadowed(rng),
                                         pencil=False, inverted=inverted)
                read.append(shipped_predictor.predict_image(decode_image(photo.jpeg)).digit == label)
        assert sum(read) >= len(read) - 1, (inverted, read)


def test_the_benchmark_photographs_the_same_digits_in_both_lights(held_out):
    """Test that the photo benchmark's even-light and shadow rows hold the same digits, written with the same
    pen on the same paper in the same pose, so the rows differ by the light alone."""
    from digitlab.bench.photos import _photograph_each

    digits = [own[0] for own in held_out.values()][:4]
    even, shadowed = _photograph_each(digits, 0, shadow=False), _photograph_each(digits, 0, shadow=True)
    for plain, shaded in zip(even, shadowed):
        assert (plain.text, plain.boxes, plain.pencil, plain.paper_edge) == \
            (shaded.text, shaded.boxes, shaded.pencil, shaded.paper_edge)
        assert plain.lighting.shadow_side is None and shaded.lighting.shadow_side is not None


def test_predict_reads_a_photographed_number_file(held_out, tmp_path):
    """Test that `predict --number` on a JPEG of a number photographed with a shadow reads it from the file,
    through the same local reading of the paper as an upload."""
    import json
    import subprocess
    import sys

    from digitlab.datasets.photo_synthesis import Lighting, photograph_number

    writer = sorted(held_out)[1]
    rng = np.random.default_rng(writer)
    digits = [_first(held_out[writer], label) for label in (4, 0, 9, 6)]
    photo = photograph_number(digits, rng, Lighting.shadowed(rng, side="right"), pencil=True, gap_range=APART)
    path = tmp_path / "number.jpg"
    path.write_bytes(photo.jpeg)
    result = subprocess.run([sys.executable, "-m", "digitlab", "predict", "--number", "--json", "--model",
                             str(SHIPPED_DEFAULT), str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1])["number"] == "4096"
