"""Hostile uploads and forged canvases: each is refused with a clear message, quickly, and harms nothing after."""

from __future__ import annotations

import os
import re
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from digitlab.serving.images import MAX_FILE_BYTES, ImageRejectedError, decode_image, read_image_file
from digitlab.serving.preprocess import preprocess
from tests.conftest import encode
from tests.helpers.canvases import canvas_from_digit

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GREY = 0  # PNG colour type


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def handmade_png(width: int, height: int, pixel_data: bytes, extra_chunks: bytes = b"") -> bytes:
    """A greyscale PNG with any declared size: the header says what the attacker wants."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, GREY, 0, 0, 0))
    return PNG_SIGNATURE + header + extra_chunks + png_chunk(b"IDAT", pixel_data) + png_chunk(b"IEND", b"")


def all_black_png(width: int, height: int) -> bytes:
    """A real, complete PNG of zeros: a few KB that would decode to width*height*4 bytes."""
    compressor = zlib.compressobj(9)
    row = b"\0" * (width + 1)  # filter byte + pixels
    return handmade_png(width, height, b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush())


def small_jpeg() -> bytes:
    return encode(Image.new("RGB", (64, 48), "white"), "JPEG")


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small JPEG whose frame header (SOF0) is patched to declare another size."""
    data = small_jpeg()
    frame = data.index(b"\xff\xc0")
    return data[: frame + 5] + struct.pack(">HH", height, width) + data[frame + 9 :]


GOOD_PNG = encode(Image.fromarray(np.arange(64 * 48 * 4, dtype=np.uint32).astype(np.uint8).reshape(48, 64, 4)), "PNG")
TEXT = b"This is a shopping list, not a picture.\nmilk\neggs\n" * 20
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="280" height="280"><text>7</text></svg>'
PSD = b"8BPS\x00\x01" + b"\0" * 6 + struct.pack(">HIIHH", 3, 280, 280, 8, 3) + b"\0" * 64
TWO_FRAMES = [Image.new("RGB", (28, 28), "white"), Image.new("RGB", (28, 28), "black")]

# name -> (bytes, words the message must contain)
HOSTILE = {
    "zero bytes": (b"", "empty"),
    "random bytes": (np.random.default_rng(0).bytes(4096), "not a PNG or JPEG"),
    "text": (TEXT, "not a PNG or JPEG"),
    "SVG": (SVG, "not a PNG or JPEG"),
    "PSD": (PSD, "not a PNG or JPEG"),
    "PDF": (encode(Image.new("RGB", (28, 28)), "PDF"), "not a PNG or JPEG"),
    "GIF": (encode(Image.new("L", (28, 28)), "GIF"), "not a PNG or JPEG"),
    "animated GIF": (encode(TWO_FRAMES[0], "GIF", save_all=True, append_images=TWO_FRAMES[1:]), "not a PNG or JPEG"),
    "WebP": (encode(Image.new("RGB", (28, 28)), "WEBP"), "not a PNG or JPEG"),
    "BMP": (encode(Image.new("RGB", (28, 28)), "BMP"), "not a PNG or JPEG"),
    "TIFF": (encode(Image.new("RGB", (28, 28)), "TIFF"), "not a PNG or JPEG"),
    "animated PNG": (encode(TWO_FRAMES[0], "PNG", save_all=True, append_images=TWO_FRAMES[1:]), "Animated"),
    "truncated PNG": (GOOD_PNG[: len(GOOD_PNG) // 2], "damaged or truncated"),
    "truncated JPEG": (small_jpeg()[: len(small_jpeg()) // 2], "damaged or truncated"),
    "PNG signature only": (PNG_SIGNATURE, "damaged or truncated"),
    "PNG header with a bad checksum": (GOOD_PNG[:29] + b"\0\0\0\0" + GOOD_PNG[33:], "damaged or truncated"),
    "PNG with too little pixel data": (handmade_png(100, 100, zlib.compress(b"\0" * 500)), "damaged or truncated"),
    "PNG bomb 30000x30000": (handmade_png(30000, 30000, zlib.compress(b"")), "too many pixels"),
    "PNG declaring 10000x10000": (handmade_png(10000, 10000, zlib.compress(b"")), "too large (10000x10000)"),
    "complete all-black PNG 6000x6000": (all_black_png(6000, 6000), "too large (6000x6000)"),
    "JPEG bomb 60000x60000": (jpeg_declaring(60000, 60000), "too many pixels"),
    "1x200000 strip": (all_black_png(1, 200000), "1x200000: far too narrow"),
    "200000x1 strip": (all_black_png(200000, 1), "far too narrow"),
    "compressed text bomb": (handmade_png(10, 10, zlib.compress(b"\0" * 110),
                                          png_chunk(b"zTXt", b"note\0\0" + zlib.compress(b"\0" * (50 << 20)))), "damaged"),
    "larger than the size limit": (b"\xff\xd8\xff" + bytes(MAX_FILE_BYTES), "larger than"),
}


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # logged for 10000x10000; we refuse it
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_bytes_are_refused_quickly_and_harmlessly(name):
    """Test that a hostile upload gets ImageRejectedError with a clear message in under a second, and the next upload still decodes."""
    data, expected_words = HOSTILE[name]
    started = time.perf_counter()
    with pytest.raises(ImageRejectedError) as rejected:
        decode_image(data)
    assert time.perf_counter() - started < 1.0
    assert expected_words in str(rejected.value)
    assert str(rejected.value)[0].isupper() and str(rejected.value).endswith(".")  # a sentence for a person
    assert decode_image(GOOD_PNG).shape == (48, 64, 4)


def test_decompression_bomb_is_refused_before_any_pixel_is_decoded(monkeypatch):
    """Test that an oversized image is refused from its header: the decoder never runs."""
    class PixelsDecoded(BaseException):  # not an Exception, so decode_image cannot turn it into a rejection
        pass

    def decoder_must_not_run(self):
        raise PixelsDecoded()

    monkeypatch.setattr(ImageFile.ImageFile, "load", decoder_must_not_run)
    for name in ("complete all-black PNG 6000x6000", "1x200000 strip", "animated PNG"):
        with pytest.raises(ImageRejectedError):
            decode_image(HOSTILE[name][0])


@pytest.mark.parametrize("name", ["text", "PDF", "SVG", "PSD", "GIF"])
def test_files_renamed_as_images_are_refused(tmp_path, name):
    """Test that a text, PDF, SVG, PSD or GIF file named digit.png or digit.jpg is refused by content."""
    for filename in ("digit.png", "digit.jpg"):
        path = tmp_path / filename
        path.write_bytes(HOSTILE[name][0])
        with pytest.raises(ImageRejectedError, match="not a PNG or JPEG"):
            read_image_file(path)


def test_unreadable_paths_are_refused_with_a_reason(tmp_path):
    """Test that a folder, a missing file and a pipe (which could block forever) are refused at once."""
    os.mkfifo(tmp_path / "pipe.png")
    for path, words in ((tmp_path, "folder"), (tmp_path / "missing.png", "does not exist"),
                        (tmp_path / "pipe.png", "not a regular file")):
        started = time.perf_counter()
        with pytest.raises(ImageRejectedError, match=words):
            read_image_file(path)
        assert time.perf_counter() - started < 1.0


def test_decode_image_refuses_non_bytes():
    """Test that passing a file name instead of the file's bytes is a programming error, said plainly."""
    with pytest.raises(TypeError, match="bytes"):
        decode_image("digit.png")


def solid_canvas(red: int, green: int, blue: int, alpha: int) -> np.ndarray:
    return np.full((280, 280, 4), (red, green, blue, alpha), np.uint8)


@pytest.mark.parametrize("name, canvas", [
    ("empty (transparent black)", solid_canvas(0, 0, 0, 0)),
    ("fully transparent white", solid_canvas(255, 255, 255, 0)),
    ("fully inked with white", solid_canvas(255, 255, 255, 255)),
    ("fully inked with black", solid_canvas(0, 0, 0, 255)),
    ("painted over with half-transparent ink", solid_canvas(255, 255, 255, 128)),
])
def test_canvas_without_contrast_is_no_digit(predictor, name, canvas):
    """Test that an empty, transparent or edge-to-edge inked canvas is 'no digit' with a reason, not a guess."""
    prediction = predictor.predict_image(canvas)
    assert prediction.digit is None and prediction.probabilities is None
    assert "blank" in prediction.message


@pytest.mark.parametrize("forged, words", [
    (np.zeros((280, 280, 7), np.uint8), "shape (280, 280, 7)"),
    (np.zeros((0, 0, 4), np.uint8), "empty array"),
    (np.zeros((280, 0, 4), np.uint8), "empty array"),
    (np.zeros(280 * 280 * 4, np.uint8), "shape (313600,)"),
    (np.zeros((2, 280, 280, 4), np.uint8), "shape (2, 280, 280, 4)"),
    (np.full((280, 280, 4), np.nan), "NaN"),
    (np.full((280, 280), np.inf, np.float32), "infinite"),
    (np.full((280, 280, 4), None, object), "of numbers"),
    (np.full((28, 28), "7"), "of numbers"),
    (None, "shape ()"),
])
def test_forged_canvas_arrays_raise_a_clear_value_error(predictor, forged, words):
    """Test that a canvas array of the wrong shape or dtype raises ValueError saying what is wrong."""
    with pytest.raises(ValueError, match=re.escape(words)) as raised:
        predictor.predict_image(forged)
    assert type(raised.value) is ValueError  # not an IndexError or a TypeError from deep inside
    with pytest.raises(ValueError, match=re.escape(words)):
        preprocess(forged)


def test_real_drawing_reads_the_same_after_hostile_input(predictor, mnist):
    """Test that blank and forged canvases leave the shared predictor reading real digits exactly as before."""
    canvases = [canvas_from_digit(image) for image in mnist.x_test[:20]]
    before = [predictor.predict_image(canvas).probabilities for canvas in canvases]
    for forged in (np.zeros((0, 0, 4), np.uint8), np.full((280, 280, 4), np.nan), solid_canvas(0, 0, 0, 0)):
        try:
            predictor.predict_image(forged)
        except ValueError:
            pass
    after = [predictor.predict_image(canvas).probabilities for canvas in canvases]
    assert np.allclose(before, after, atol=1e-6)
    assert np.mean(np.argmax(after, axis=1) == mnist.y_test[:20]) >= 0.8
