"""The mixed training set: MNIST plus training writers' pen digits and non-digits, as the Draw page sees them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitlab.datasets.nondigits import NOT_A_DIGIT
from digitlab.datasets.pendigits import HELD_OUT_WRITERS, read_pendigits, split_by_writer
from tests.conftest import SHARED_PENDIGITS

needs_pendigits = pytest.mark.skipif(not SHARED_PENDIGITS.is_file(), reason=f"{SHARED_PENDIGITS} is not present")


@pytest.fixture(scope="module")
def small_pendigits(tmp_path_factory) -> Path:
    """The first ~150 digits of pendigits-orig.tra, with several writers, as a file of the same format."""
    lines = SHARED_PENDIGITS.read_text().splitlines()
    segments = [index for index, line in enumerate(lines) if line.startswith(".SEGMENT")]
    # Take segments spread over the file so both training and held-out writers appear.
    keep = set()
    for start in segments[:: max(1, len(segments) // 150)]:
        end = next((s for s in segments if s > start), len(lines))
        keep.update(range(start, end))
    header = lines[: segments[0]]
    path = tmp_path_factory.mktemp("pen") / "small.tra"
    path.write_text("\n".join(header + [lines[i] for i in sorted(keep)]) + "\n")
    return path


@needs_pendigits
def test_writer_split_puts_no_writer_on_both_sides():
    """Test that the held-out writers' digits and the training writers' digits share no writer."""
    digits = read_pendigits(SHARED_PENDIGITS)
    training, held_out = split_by_writer(digits)
    training_writers, held_out_writers = {d.writer for d in training}, {d.writer for d in held_out}
    assert not training_writers & held_out_writers
    assert held_out_writers == set(HELD_OUT_WRITERS)
    assert len(training) + len(held_out) == len(digits)
    assert len(training_writers) >= 20


@needs_pendigits
def test_extra_training_images_use_only_training_writers(small_pendigits):
    """Test that pen digits come only from training writers, drawn `copies` times, plus labelled non-digits."""
    from digitlab.datasets.training_mix import PEN_DATA_SOURCE, extra_training_images

    training, held_out = split_by_writer(read_pendigits(small_pendigits))
    assert training and held_out  # the small file has both kinds of writer
    x, y, described = extra_training_images(small_pendigits, pen_copies=2, non_digits=30, seed=0)
    assert x.shape[1:] == (28, 28) and x.dtype == np.uint8 and len(x) == len(y)
    assert described["pen_digits"]["writers"] == sorted({d.writer for d in training})
    assert not set(described["pen_digits"]["writers"]) & HELD_OUT_WRITERS
    assert described["pen_digits"]["source"] == PEN_DATA_SOURCE and "CC BY 4.0" in PEN_DATA_SOURCE
    assert (y == NOT_A_DIGIT).sum() == 30
    pen_labels = y[y != NOT_A_DIGIT]
    assert len(pen_labels) == 2 * len(training)
    assert sorted(np.bincount(pen_labels, minlength=10) // 2) == sorted(np.bincount([d.label for d in training],
                                                                                  minlength=10))


@needs_pendigits
def test_pen_digits_are_preprocessed_like_the_draw_page(small_pendigits):
    """Test that each pen image is exactly what `preprocess` makes of that digit's canvas drawing."""
    from digitlab.datasets.pendigits import render_on_canvas
    from digitlab.serving.preprocess import preprocess
    from digitlab.datasets.training_mix import pen_digit_images, training_writers_digits

    digits = training_writers_digits(small_pendigits)[:5]
    x, y = pen_digit_images(digits, copies=1, seed=7)
    rng = np.random.default_rng(7)
    expected = np.stack([preprocess(render_on_canvas(d, rng)).mnist for d in digits])
    np.testing.assert_array_equal(x, expected)
    assert list(y) == [d.label for d in digits]
    assert all(image.max() == 255 for image in x)


@needs_pendigits
def test_training_run_with_pen_digits_and_non_digits_learns_eleven_outputs(tmp_path, small_pendigits, mnist):
    """Test that a run given pen digits and non-digits trains an 11-output model and records its data."""
    import keras

    from digitlab.store.run_config import TrainConfig
    from digitlab.training.trainer import run_training

    config = TrainConfig(arch="mlp", epochs=1, limit=300, augment=False, pen_digits=str(small_pendigits),
                         pen_copies=1, non_digits=40)
    status = run_training(config, tmp_path / "run")
    assert status.state == "done", status
    model = keras.models.load_model(tmp_path / "run" / "model.keras", compile=False)
    assert model.output_shape[-1] == 11
    assert status.extra_training_data["non_digits"]["images"] == 40
    assert not set(status.extra_training_data["pen_digits"]["writers"]) & HELD_OUT_WRITERS
    from digitlab.store.model_cards import run_card

    card = run_card(tmp_path / "run")
    assert "--pen-digits" in card["command"] and "--non-digits" in card["command"], "the card's command retrains it"
    assert card["extra_data"] == status.extra_training_data
