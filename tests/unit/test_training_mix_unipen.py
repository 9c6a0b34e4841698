"""UNIPEN digits, real letters as "not a digit" and styled digits in the training mix, and the flags asking for them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from digitlab.datasets.nondigits import NOT_A_DIGIT
from digitlab.datasets.unipen import HELD_OUT_INSTITUTIONS, unipen_digits, unipen_letters
from digitlab.store.run_config import TrainConfig, train_command
from tests.conftest import SHARED_PENDIGITS
from tests.helpers.unipen_sample import SHARED_UNIPEN, write_small_unipen

pytestmark = pytest.mark.skipif(not (SHARED_PENDIGITS.is_file() and SHARED_UNIPEN.is_file()),
                                reason="needs pendigits-orig.tra and unipen-dev.tar.gz")


@pytest.fixture(scope="module")
def small_unipen(tmp_path_factory) -> Path:
    return write_small_unipen(tmp_path_factory.mktemp("unipen") / "small.tar.gz")


def test_unipen_digits_letters_and_styles_join_the_mix_from_training_institutions_only(small_unipen):
    """Test that training institutions' digits and letters (as not-a-digit) and styled 0/7/1 copies are added,
    described with their institutions and sha256, and that the same seed gives the very same images."""
    from digitlab.datasets.training_mix import extra_training_images

    x, y, described = extra_training_images(None, 1, 0, seed=4, unipen=small_unipen, unipen_copies=2,
                                            letter_copies=1, style_copies=3)
    digits = unipen_digits(small_unipen, held_out=False)
    letters = unipen_letters(small_unipen, held_out=False)
    assert described["unipen_digits"]["images"] == 2 * len(digits)
    assert described["unipen_letters"]["images"] == len(letters) == int((y == NOT_A_DIGIT).sum())
    for part in ("unipen_digits", "unipen_letters"):
        assert not set(described[part]["institutions"]) & HELD_OUT_INSTITUTIONS
        assert described[part]["held_out_institutions"] == sorted(HELD_OUT_INSTITUTIONS)
    styled = described["pen_styles"]["per_digit"]
    for digit in ("0", "1", "7"):
        assert styled[digit] == 3 * sum(d.digit == int(digit) for d in digits)
    assert len(x) == len(y) == sum(part["images"] for part in described.values())
    again = extra_training_images(None, 1, 0, seed=4, unipen=small_unipen, unipen_copies=2, letter_copies=1,
                                  style_copies=3)
    np.testing.assert_array_equal(x, again[0])
    assert {name: part["images_sha256"] for name, part in described.items()} == \
           {name: part["images_sha256"] for name, part in again[2].items()}
    other = extra_training_images(None, 1, 0, seed=5, unipen=small_unipen, unipen_copies=2, letter_copies=1,
                                  style_copies=3)[2]
    assert other["pen_styles"]["images_sha256"] != described["pen_styles"]["images_sha256"]


def test_letters_and_styles_without_their_sources_are_refused_with_a_message(small_unipen):
    """Test that letter copies without the archive, and styles with no pen digits to style, are refused."""
    with pytest.raises(ValueError, match="--unipen"):
        TrainConfig(letter_copies=1).validate()
    with pytest.raises(ValueError, match="style copies need pen digits"):
        TrainConfig(style_copies=1).validate()
    with pytest.raises(ValueError, match="not found"):
        TrainConfig(unipen="/nowhere/unipen.tar.gz").validate()
    TrainConfig(unipen=str(small_unipen), letter_copies=1, style_copies=1).validate()


def test_the_recorded_command_asks_for_the_same_data(small_unipen):
    """Test that a config's command line, parsed by `train`, asks for the same UNIPEN, letter and style data."""
    from digitlab.cli.parser import build_parser

    config = TrainConfig(unipen=str(small_unipen), unipen_copies=2, letter_copies=3, style_copies=4,
                         pen_digits=str(SHARED_PENDIGITS))
    args = build_parser().parse_args(train_command(config).split()[3:])
    assert (args.unipen, args.unipen_copies, args.letter_copies, args.style_copies) == (str(small_unipen), 2, 3, 4)


def test_a_run_with_real_letters_learns_not_a_digit_and_its_card_records_them(tmp_path, small_unipen, mnist):
    """Test that letters alone (no generated non-digits) give the model its 11th output, and the card says so."""
    import keras

    from digitlab.store.model_cards import run_card
    from digitlab.training.trainer import run_training

    config = TrainConfig(arch="mlp", epochs=1, limit=300, augment=False, unipen=str(small_unipen), letter_copies=1,
                         style_copies=1)
    status = run_training(config, tmp_path / "run")
    assert status.state == "done", status
    assert keras.models.load_model(tmp_path / "run" / "model.keras", compile=False).output_shape[-1] == 11
    card = run_card(tmp_path / "run")
    assert "--unipen" in card["command"] and "--letter-copies 1" in card["command"]
    assert set(card["extra_data"]) == {"unipen_digits", "unipen_letters", "pen_styles"}
