"""The learned number reader: what it is given, how its answer becomes digits, and a short real training."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitlab.config.paths import REPO_ROOT
from digitlab.serving.sequence_reading import BLANK, READER_HEIGHT, READER_WIDTH, decode_readings, reader_input
from tests.conftest import SHARED_PENDIGITS

SHARED_UNIPEN = SHARED_PENDIGITS.with_name("unipen-dev.tar.gz")

needs_pen_digits = pytest.mark.skipif(not SHARED_PENDIGITS.is_file(), reason="needs pendigits-orig.tra")


def scores_for(columns: list[int]) -> np.ndarray:
    """One row of scores whose best class in each column is the one given."""
    scores = np.zeros((1, len(columns), 11), np.float32)
    scores[0, np.arange(len(columns)), columns] = 5.0
    return scores


def test_a_run_of_one_digit_is_one_digit_and_a_blank_between_two_keeps_both():
    one, four = 2, 5  # digit d is class d + 1
    assert decode_readings(scores_for([BLANK, one, one, one, BLANK, one, four, four, BLANK])) == ["114"]
    assert decode_readings(scores_for([BLANK] * 6)) == [""]


def test_the_strip_holds_the_ink_at_full_height_and_keeps_its_proportions():
    ink = np.zeros((230, 800), np.uint8)
    ink[50:150, 100:300] = 255  # ink twice as wide as high
    strip = reader_input(ink)
    assert strip.shape == (READER_HEIGHT, READER_WIDTH) and strip.dtype == np.float32
    inked_rows = np.nonzero(strip.max(axis=1) > 0.5)[0]
    inked_columns = np.nonzero(strip.max(axis=0) > 0.5)[0]
    height, width = np.ptp(inked_rows) + 1, np.ptp(inked_columns) + 1
    assert height >= 0.7 * READER_HEIGHT  # only the padding is left above and below
    assert abs(width / height - 2.0) < 0.15
    assert inked_columns.min() < 8  # laid at the left of the strip
    assert not reader_input(np.zeros((230, 800), np.uint8)).any()


def test_a_very_long_number_is_squeezed_into_the_strip():
    ink = np.zeros((100, 3000), np.uint8)
    ink[20:80, 10:2990] = 255
    strip = reader_input(ink)
    assert strip[:, -4:].max() > 0.5  # reaches the strip's end (its padding aside) instead of being cut off
    assert strip[:, :READER_WIDTH // 2].max() > 0.5


@needs_pen_digits
def test_training_numbers_come_from_the_writers_given_with_their_true_digits():
    from digitlab.datasets.number_lines import MAX_DIGITS, number_lines
    from digitlab.datasets.pendigits import read_pendigits, split_by_writer

    training, held_out = split_by_writer(read_pendigits(SHARED_PENDIGITS))
    lines = number_lines(held_out, 40, seed=1)
    assert lines.strips.shape == (40, READER_HEIGHT, READER_WIDTH)
    for text, label in zip(lines.texts, lines.labels):
        assert 1 <= len(text) <= MAX_DIGITS
        assert [digit - 1 for digit in label[: len(text)]] == [int(c) for c in text]
        assert not label[len(text):].any()
    assert all(strip.max() > 0.5 for strip in lines.strips)  # every number has ink


def test_without_letters_the_lines_that_are_no_number_are_doodle_rows():
    """Without UNIPEN there are no letters for words: the lines that are no number are all doodle rows, each
    with ink and no digit (this once raised, so a reader could not be trained without UNIPEN)."""
    from digitlab.datasets.number_lines import not_number_lines

    lines = not_number_lines([], 6, seed=3, held_out=True)
    assert lines.texts == [""] * 6 and not lines.labels.any() and not lines.is_number.any()
    assert all(strip.max() > 0.5 for strip in lines.strips)


def test_mnist_numbers_hold_the_digits_their_labels_say(mnist):
    """MNIST test digits laid side by side: each line's label is its digits, and each digit's ink is in the
    strip in order (the strip's inked columns fall into as many runs as digits where the gaps are wide)."""
    from digitlab.datasets.number_lines import MAX_DIGITS, mnist_number_lines

    lines = mnist_number_lines(mnist.x_test, mnist.y_test, 30, seed=2, lengths=(3,), gap_range=(0.4, 0.6))
    assert lines.strips.shape == (30, READER_HEIGHT, READER_WIDTH)
    for strip, text, label in zip(lines.strips, lines.texts, lines.labels):
        assert len(text) == 3 and [digit - 1 for digit in label[:3]] == [int(c) for c in text]
        assert not label[3:MAX_DIGITS].any()
        inked = strip.max(axis=0) > 0.3
        starts = np.flatnonzero(inked[1:] & ~inked[:-1])
        assert len(starts) + int(inked[0]) >= 3  # three separate digits (a digit may break in two)


@needs_pen_digits
def test_a_short_training_writes_a_reader_that_reads_and_registers_it_with_a_card_from_code(tmp_path):
    """One epoch on a few hundred numbers with --register: the reader is registered with its flatbuffer, its
    card names the command that ran, its data's sha256 and its "not a number" level, and the reader it serves
    answers digits and the odds of "not a number". Trained further from the registered one (--from), the
    new card says which reader and command it started from."""
    from digitlab.serving.number_reading import load_number_reader
    from digitlab.store.atomic import file_sha256
    from digitlab.store.number_readers import served_reader_entry

    out, models = tmp_path / "reader", tmp_path / "models"
    command = ["number-reader", "--out", str(out), "--numbers", "256", "--not-numbers", "64", "--mnist-numbers", "0",
               "--epochs", "1", "--measured", "20"]
    environment = {**os.environ, "DIGITLAB_MODELS": str(models)}
    done = subprocess.run([sys.executable, "-m", "digitlab", *command, "--pen-digits", str(SHARED_PENDIGITS),
                           "--register"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900, env=environment)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads((out / "figures.json").read_text())
    assert figures["training_numbers"] == 256 and len(figures["epochs"]) == 1
    assert figures["training_writers"]["pen"] == 22 and figures["held_out_writers"]["pen"] == 8
    kinds = ["pen_four_digits_tight", "pen_four_digits_wide", "pen_one_to_eight_digits_tight"]
    if SHARED_UNIPEN.is_file():
        kinds.append("unipen_four_digits_tight")
        assert figures["training_writers"]["unipen"] > 100 and figures["held_out_writers"]["unipen"] > 50
    for kind in kinds:
        assert 0.0 <= figures["epochs"][0][kind] <= 1.0

    entry = served_reader_entry(models)
    assert entry is not None and entry.usable
    card = entry.card
    assert card["command"] == "python -m digitlab " + " ".join(command) + " --seed 0"
    assert card["data_sha256"]["pendigits-orig.tra"] == file_sha256(SHARED_PENDIGITS)
    assert card["metrics"]["held_out_exact"] == {kind: figures["epochs"][0][kind] for kind in kinds}
    assert card["litert"]["sha256"] and card["kind"] == "number_reader"
    assert figures["training_not_numbers"] == 64
    level = card["not_a_number"]["level"]
    assert 0.0 < level <= 1.0 and card["not_a_number"] == figures["not_a_number"]
    assert set(card["not_a_number"]["held_out"]) == {f"{kind}_refused" for kind in kinds} | {"not_numbers_refused"}
    reader, why_not = load_number_reader(models)
    assert reader is not None, why_not
    assert reader.refusal_level == level

    from digitlab.datasets.number_lines import number_lines
    from digitlab.datasets.pendigits import read_pendigits, split_by_writer

    _, held_out = split_by_writer(read_pendigits(SHARED_PENDIGITS))
    lines = number_lines(held_out, 4, seed=5)
    said = reader.read(lines.strips)
    readings = decode_readings(said.probabilities)
    assert len(readings) == 4 and all(set(reading) <= set("0123456789") for reading in readings)
    assert said.not_a_number.shape == (4,) and ((0.0 <= said.not_a_number) & (said.not_a_number <= 1.0)).all()
    # A second run into the same folder is refused, and nothing of the first is lost; registering it again
    # without --replace is refused too.
    again = subprocess.run([sys.executable, "-m", "digitlab", "number-reader", "--out", str(out), "--numbers", "64",
                            "--epochs", "1", "--pen-digits", str(SHARED_PENDIGITS)],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert (out / "number_reader.keras").is_file()
    twice = subprocess.run([sys.executable, "-m", "digitlab", "number-reader", "--out", str(out), "--register-only"],
                           cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert twice.returncode == 2 and "--replace" in twice.stderr
    assert served_reader_entry(models).card["version"] == 1

    registered = models / "number-readers" / "default.keras"
    from digitlab.datasets.mnist import MnistUnavailableError, load_mnist

    try:
        mnist = load_mnist(allow_download=False)
    except MnistUnavailableError:
        mnist = None  # trained further without MNIST numbers, which the command then must not ask for
    further = subprocess.run([sys.executable, "-m", "digitlab", "number-reader", "--out", str(tmp_path / "further"),
                              "--numbers", "64", "--not-numbers", "32", "--mnist-numbers", str(32 if mnist else 0),
                              "--epochs", "1", "--measured", "10",
                              "--pen-digits", str(SHARED_PENDIGITS), "--from", str(registered), "--register",
                              "--replace"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600, env=environment)
    assert further.returncode == 0, further.stderr[-3000:]
    second = served_reader_entry(models).card
    assert second["version"] == 2 and second["command"].endswith(f"--from {registered}")
    assert second["started_from"]["command"] == card["command"] and second["started_from"]["sha256"] == card["sha256"]
    further_figures = json.loads((tmp_path / "further" / "figures.json").read_text())
    assert further_figures["training_mnist_numbers"] == (32 if mnist else 0)
    if mnist:  # MNIST's training digits' numbers learnt from, its test digits' measured, its file's sha256 on the card
        assert 0.0 <= further_figures["epochs"][0]["mnist_four_digits_tight"] <= 1.0
        assert second["data_sha256"][Path(mnist.source).name] == file_sha256(mnist.source)


def test_registering_a_folder_without_a_trained_reader_says_what_is_missing(tmp_path):
    done = subprocess.run([sys.executable, "-m", "digitlab", "number-reader", "--out", str(tmp_path),
                           "--register-only"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DIGITLAB_MODELS": str(tmp_path / "models")})
    assert done.returncode == 2
    assert "holds no finished number reader" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "models").exists()
