"""UNIPEN characters: components, segments, pen-down ink only, flipped and squared, split by whole institutions."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from digitlab.datasets.unipen import (HELD_OUT_INSTITUTIONS, NOT_DIGIT_LETTERS, parse_components, parse_segment,
                                      read_unipen, unipen_digits, unipen_letters)
from tests.helpers.unipen_sample import SHARED_UNIPEN, write_small_unipen

needs_unipen = pytest.mark.skipif(not SHARED_UNIPEN.is_file(), reason=f"{SHARED_UNIPEN} is not present")


def _archive(path: Path, files: dict[str, str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, text in files.items():
            data = text.encode("latin-1")
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


# A 7 written with y pointing up on a tablet with twice as many points per inch down as across: the bar at the
# top (y 200), the stem down to the bottom left; a pen-up movement with points between two characters counts as
# a component; an empty .PEN_UP does not.
PEN_DATA = """.X_POINTS_PER_INCH 100
.Y_POINTS_PER_INCH 200
.PEN_DOWN
0 200
200 200
.PEN_UP
.PEN_DOWN
200 200
40 0
.PEN_UP
150 150
160 160
.PEN_DOWN
300 0
300 200
.PEN_UP
"""


def test_components_count_point_blocks_of_both_pen_states():
    """Test that pen-down and pen-up blocks with points are numbered together and empty blocks are not."""
    blocks = parse_components(PEN_DATA.splitlines())
    assert [down for down, _ in blocks] == [True, True, False, True]
    np.testing.assert_array_equal(blocks[2][1], [[150, 150], [160, 160]])


def test_segment_line_gives_indices_quality_and_label():
    """Test that ranges and lists of components, the quality mark and the label are read."""
    assert parse_segment('.SEGMENT CHARACTER 2-4,7 OK "x"') == ([2, 3, 4, 7], "OK", "x")
    assert parse_segment('.SEGMENT CHARACTER 5 ? "3" ') == ([5], "?", "3")


def test_characters_are_pen_down_ink_flipped_squared_and_labelled(tmp_path):
    """Test that a segment draws only its pen-down components, y down, square in inches, in a 0..500 box."""
    archive = _archive(tmp_path / "u.tar.gz", {
        "include/zzz/data/w1.dat": PEN_DATA,
        "data/1a/zzz/w1.dat": '.INCLUDE zzz/data/w1.dat\n.SEGMENT CHARACTER 0-2 OK "7"\n.SEGMENT CHARACTER 3 ? "1"\n',
    })
    seven, one = read_unipen(archive)
    assert (seven.label, seven.quality, seven.institution, seven.category) == ("7", "OK", "zzz", "1a")
    assert seven.writer == one.writer == "include/zzz/data/w1.dat"
    assert len(seven.strokes) == 2, "the pen-up movement is not ink"
    bar, stem = seven.strokes
    assert bar[:, 1].max() < stem[:, 1].max(), "the bar is above the stem's foot once y points down"
    points = np.concatenate(seven.strokes)
    width, height = np.ptp(points, axis=0)
    assert width == pytest.approx(500) and height == pytest.approx(250), "200 points across are 2 inches, down 1"
    assert points.min() == pytest.approx(0)
    assert one.quality == "?" and len(one.strokes) == 1


@pytest.fixture(scope="module")
def small_unipen(tmp_path_factory) -> Path:
    return write_small_unipen(tmp_path_factory.mktemp("unipen") / "small.tar.gz")


@needs_unipen
def test_held_out_institutions_are_never_on_the_training_side(small_unipen):
    """Test that whole institutions are held out, for digits and letters, and no writer is on both sides."""
    training = unipen_digits(small_unipen, held_out=False) + unipen_letters(small_unipen, held_out=False)
    held_out = unipen_digits(small_unipen, held_out=True) + unipen_letters(small_unipen, held_out=True)
    assert training and held_out
    assert {c.institution for c in held_out} <= HELD_OUT_INSTITUTIONS
    assert not {c.institution for c in training} & HELD_OUT_INSTITUTIONS
    assert not {c.writer for c in training} & {c.writer for c in held_out}
    assert all(c.label.isdigit() and c.category == "1a" for c in unipen_digits(small_unipen, held_out=True))
    letters = unipen_letters(small_unipen, held_out=False)
    assert {c.label for c in letters} <= NOT_DIGIT_LETTERS and len({c.label for c in letters}) > 5
    checked = unipen_digits(small_unipen, held_out=True, checked_only=True)
    assert checked and all(c.quality == "OK" for c in checked)


@needs_unipen
def test_every_small_archive_character_draws_on_the_canvas(small_unipen):
    """Test that UNIPEN digits go through the pendigits canvas renderer and preprocessing as drawings."""
    from digitlab.datasets.training_mix import strokes_images

    digits = unipen_digits(small_unipen, held_out=False)[:40]
    x, y = strokes_images([d.strokes for d in digits], [d.digit for d in digits], copies=1, seed=0)
    assert len(y) == len(digits) and x.shape[1:] == (28, 28) and (x.reshape(len(x), -1).max(axis=1) == 255).all()
