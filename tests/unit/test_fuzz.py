"""Fuzzing the two doors visitors can push on: uploaded bytes and canvas pixels.

Time-boxed: a few hundred examples each, derandomized so a run is repeatable; raise FUZZ_EXAMPLES
locally for a longer search.
"""

from __future__ import annotations

import os
import time

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

from digitlab.serving.images import MAX_DECODED_SIDE, ImageRejectedError, decode_image
from digitlab.serving.preprocess import MNIST_SIZE, preprocess
from tests.conftest import encode

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 200,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def seed_files() -> list[bytes]:
    """Small valid files in every mode uploads come in: the starting points for mutation."""
    rng = np.random.default_rng(0)
    grey = Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    return [
        encode(grey, "PNG"),
        encode(grey.convert("RGBA"), "PNG"),
        encode(grey.convert("P"), "PNG", transparency=3),
        encode(grey.convert("LA"), "PNG"),
        encode(Image.fromarray(np.asarray(grey).astype(np.uint16) * 257), "PNG"),
        encode(grey.convert("RGB"), "PNG", save_all=True, append_images=[grey.convert("RGB")]),  # animated
        encode(grey.convert("RGB"), "JPEG", exif=exif),
        encode(grey, "JPEG", progressive=True),
        encode(grey.convert("CMYK"), "JPEG"),
    ]


SEEDS = seed_files()


@st.composite
def mutated_images(draw) -> bytes:
    """A valid PNG or JPEG with bytes overwritten, inserted or cut: the damage real and forged files carry."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["overwrite", "insert", "truncate", "duplicate"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if action == "overwrite":
            data[position : position + 4] = draw(st.binary(min_size=1, max_size=4))
        elif action == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=64))
        elif action == "truncate":
            del data[max(position, 1) :]
        else:
            end = min(len(data), position + draw(st.integers(1, 256)))
            data[position:position] = data[position:end]
    return bytes(data)


def assert_decodes_or_is_rejected(data: bytes) -> None:
    started = time.perf_counter()
    try:
        image = decode_image(data)
    except ImageRejectedError as error:
        assert str(error)  # a message for the user
        return
    finally:
        assert time.perf_counter() - started < 1.0
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 4
    assert 1 <= min(image.shape[:2]) and max(image.shape[:2]) <= MAX_DECODED_SIDE


@FUZZ
@given(st.binary(max_size=2048))
def test_arbitrary_bytes_decode_or_are_rejected(data):
    """Test that decode_image on any bytes returns an RGBA image or raises ImageRejectedError, nothing else."""
    assert_decodes_or_is_rejected(data)


@FUZZ
@given(mutated_images())
def test_damaged_png_and_jpeg_decode_or_are_rejected(data):
    """Test that decode_image on damaged PNG/JPEG files returns an RGBA image or raises ImageRejectedError, nothing else."""
    assert_decodes_or_is_rejected(data)


side = st.integers(1, 64)
canvas_shapes = st.one_of(st.tuples(side, side), st.tuples(side, side, st.sampled_from([3, 4])))


@st.composite
def canvas_arrays(draw) -> np.ndarray:
    """Grey, RGB or RGBA uint8 images: noise, flat fills and blocky strokes, on any background."""
    shape = draw(canvas_shapes)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["noise", "ink or paper", "strokes", "flat"]))
    if kind == "noise":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    if kind == "ink or paper":
        return (rng.random(shape) < rng.random()).astype(np.uint8) * 255
    if kind == "flat":
        return np.full(shape, rng.integers(0, 256), np.uint8)
    image = np.full(shape, 255 if rng.random() < 0.5 else 0, np.uint8)
    for _ in range(rng.integers(1, 5)):
        top, left = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        image[top : top + rng.integers(1, 20), left : left + rng.integers(1, 20)] = rng.integers(0, 256)
    return image


@FUZZ
@given(st.one_of(canvas_arrays(), hnp.arrays(np.uint8, canvas_shapes, elements=st.integers(0, 255))))
def test_preprocess_any_uint8_image_gives_no_digit_or_an_mnist_image(array):
    """Test that preprocess on any grey/RGB/RGBA uint8 array says 'no digit' with a reason or returns a 28x28 uint8."""
    result = preprocess(array)
    if result.mnist is None:
        assert result.reason
    else:
        assert result.mnist.shape == (MNIST_SIZE, MNIST_SIZE) and result.mnist.dtype == np.uint8
        assert result.mnist.max() == 255  # the digit is scaled to full ink, as MNIST's are
