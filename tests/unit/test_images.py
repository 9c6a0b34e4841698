"""Decoding real PNG and JPEG variants: a digit reads the same whatever legitimate encoding it arrives in."""

from __future__ import annotations

import time
import tomllib

import numpy as np
import pytest
from PIL import Image

from digitlab.serving.images import MAX_DECODED_SIDE, MAX_FILE_BYTES, MAX_PIXELS, decode_image, read_image_file
from tests.conftest import REPO_ROOT, encode

EXIF_ORIENTATION = 0x0112
ROTATED_90_CLOCKWISE = 6  # the EXIF orientation a phone writes when held sideways


def paper_photo(digit: np.ndarray, size: int = 168) -> np.ndarray:
    """A grey 'photo' of an MNIST digit: dark ink on white paper, as a phone or scanner gives it."""
    enlarged = Image.fromarray(digit).resize((size * 5 // 7,) * 2, Image.Resampling.BILINEAR)
    paper = Image.new("L", (size, size), 0)
    paper.paste(enlarged, ((size - enlarged.width) // 2,) * 2)
    return 255 - np.asarray(paper)


@pytest.fixture(scope="module")
def digits(mnist, predictor) -> list[tuple[int, np.ndarray]]:
    """One MNIST test digit per class that the small model reads correctly as a plain grey PNG."""
    chosen = {}
    for image, label in zip(mnist.x_test[:500], mnist.y_test[:500]):
        label = int(label)
        if label not in chosen and predictor.predict_image(decode_image(encode(Image.fromarray(paper_photo(image)), "PNG"))).digit == label:
            chosen[label] = image
    assert len(chosen) == 10
    return sorted(chosen.items())


def variants(photo: np.ndarray) -> dict[str, bytes]:
    """The same digit in the encodings real uploads arrive in."""
    ink = 255 - photo  # 0 on paper, 255 on the stroke
    palette = Image.fromarray(ink, "L").convert("P")  # a palette image whose index is the ink level
    palette.putpalette([255, 255, 255] * 256)
    mpo_second = Image.new("RGB", (photo.shape[1], photo.shape[0]), "black")  # a depth map or preview
    return {
        "16-bit grey PNG": encode(Image.fromarray(photo.astype(np.uint16) * 257), "PNG"),
        "CMYK JPEG": encode(Image.fromarray(photo).convert("CMYK"), "JPEG", quality=95),
        "palette PNG with transparency": encode(palette, "PNG", transparency=bytes(range(256))),
        "grey with alpha (LA) PNG": encode(Image.merge("LA", [Image.new("L", palette.size, 255), Image.fromarray(ink)]), "PNG"),
        "RGB JPEG": encode(Image.fromarray(photo).convert("RGB"), "JPEG", quality=90),
        "progressive JPEG": encode(Image.fromarray(photo), "JPEG", quality=90, progressive=True),
        "phone MPO JPEG": encode(Image.fromarray(photo).convert("RGB"), "MPO", save_all=True, append_images=[mpo_second]),
    }


def test_legitimate_variants_read_the_same_digit(predictor, digits):
    """Test that a digit uploaded as 16-bit, CMYK, palette, LA, progressive or MPO reads as that digit."""
    for label, image in digits:
        for name, data in variants(paper_photo(image)).items():
            started = time.perf_counter()
            prediction = predictor.predict_image(decode_image(data))
            assert time.perf_counter() - started < 1.0, name
            assert prediction.digit == label, f"{name}: read {prediction.digit}, expected {label}"


@pytest.mark.parametrize("convert", [lambda rgb: rgb.quantize(colors=64), lambda rgb: rgb.convert("CMYK")],
                         ids=["palette", "CMYK"])
def test_pil_images_in_palette_or_cmyk_mode_read_as_they_look(predictor, digits, convert):
    """Test that a blue-ink photo passed to the predictor as a palette or CMYK PIL image reads like its RGB original."""
    for label, image in digits:
        ink = (255 - paper_photo(image)).astype(np.float32) / 255
        blue_on_paper = np.stack([255 - 225 * ink, 255 - 185 * ink, 255 - 75 * ink], axis=2)  # navy ballpoint
        rgb = Image.fromarray(blue_on_paper.round().astype(np.uint8))
        assert predictor.predict_image(convert(rgb)).digit == predictor.predict_image(rgb).digit == label


def test_sixteen_bit_levels_are_scaled_not_clipped():
    """Test that 16-bit grey levels map to 8 bits by scale (65535 -> 255, half -> 128), not by clipping."""
    levels = np.array([[0, 128 * 257, 65535]], np.uint16).repeat(3, axis=0)
    decoded = decode_image(encode(Image.fromarray(levels), "PNG"))
    assert decoded[0, :, 0].tolist() == [0, 128, 255]
    assert (decoded[:, :, 3] == 255).all()


def test_cmyk_jpeg_colours_come_out_right():
    """Test that an unprinted CMYK area decodes white and a full-black-ink area decodes black."""
    image = Image.new("CMYK", (32, 16), (0, 0, 0, 0))
    image.paste((0, 0, 0, 255), (16, 0, 32, 16))
    decoded = decode_image(encode(image, "JPEG", quality=95)).astype(int)
    assert (decoded[:, :8, :3] > 240).all() and (decoded[:, -8:, :3] < 15).all()


def test_palette_transparency_becomes_alpha():
    """Test that a palette PNG's transparent colour decodes as transparent, the others as opaque."""
    image = Image.new("P", (4, 2), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (2, 0, 4, 2))
    decoded = decode_image(encode(image, "PNG", transparency=0))
    assert decoded[0, 0].tolist() == [255, 0, 0, 0] and decoded[0, 3].tolist() == [0, 255, 0, 255]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_exif_orientation_is_applied(fmt):
    """Test that a photo stored sideways with an EXIF orientation decodes upright, as a viewer shows it."""
    stored = Image.new("RGB", (40, 20), "white")  # as the sensor stored it: wide, marker top-left
    stored.paste((255, 0, 0), (0, 0, 10, 10))
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATED_90_CLOCKWISE
    decoded = decode_image(encode(stored, fmt, exif=exif, quality=95)).astype(int)
    assert decoded.shape == (40, 20, 4)  # shown tall
    top_right = decoded[1:8, -8:-1]
    assert (top_right[:, :, 0] > 200).all() and (top_right[:, :, 1] < 60).all()  # the marker turned with it


def test_sideways_phone_photo_reads_as_the_upright_digit(predictor, digits):
    """Test that a digit photographed sideways (pixels rotated, EXIF says so) is read upright."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATED_90_CLOCKWISE
    for label, image in digits:
        upright = paper_photo(image)
        stored = np.rot90(upright, 1)  # the sensor's rows, a quarter turn anticlockwise from what is shown
        decoded = decode_image(encode(Image.fromarray(stored), "JPEG", exif=exif, quality=95))
        assert np.abs(decoded[:, :, 0].astype(int) - upright).mean() < 3  # upright, not sideways
        assert predictor.predict_image(decoded).digit == label


def test_large_photo_is_shrunk_and_still_read(predictor, digits):
    """Test that a 3000x3000 photo decodes quickly to at most MAX_DECODED_SIDE and reads correctly."""
    label, image = digits[3]
    photo = Image.fromarray(paper_photo(image)).resize((3000, 3000), Image.Resampling.BILINEAR)
    for data in (encode(photo, "JPEG", quality=90), encode(photo, "PNG", compress_level=1)):
        started = time.perf_counter()
        decoded = decode_image(data)
        assert time.perf_counter() - started < 2.0
        assert max(decoded.shape[:2]) == MAX_DECODED_SIDE
        assert predictor.predict_image(decoded).digit == label


def test_small_images_keep_their_size():
    """Test that images within MAX_DECODED_SIDE are decoded pixel for pixel."""
    canvas = np.random.default_rng(0).integers(0, 256, (280, 280, 4), dtype=np.uint8)
    assert np.array_equal(decode_image(encode(Image.fromarray(canvas), "PNG")), canvas)


def test_read_image_file_reads_a_png(tmp_path):
    """Test that read_image_file decodes a file on disk the same as its bytes."""
    data = encode(Image.new("L", (30, 20), 77), "PNG")
    (tmp_path / "digit.png").write_bytes(data)
    assert np.array_equal(read_image_file(tmp_path / "digit.png"), decode_image(data))


def test_our_pixel_limit_is_below_pillows():
    """Test that our own pixel limit refuses an oversized image before Pillow's bomb warning could."""
    assert Image.MAX_IMAGE_PIXELS is None or MAX_PIXELS < Image.MAX_IMAGE_PIXELS


def test_streamlit_config_is_hardened():
    """Test that the app's config caps uploads within what decoding accepts and keeps XSRF on, stats off."""
    import streamlit.config

    config = tomllib.loads((REPO_ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    known = streamlit.config.get_config_options()  # every option this Streamlit accepts
    for section, options in config.items():
        for name in options:
            assert f"{section}.{name}" in known, f"{section}.{name} is not a Streamlit option"
    assert config["server"]["maxUploadSize"] * 1024 * 1024 <= MAX_FILE_BYTES
    assert config["server"]["enableXsrfProtection"] is True
    assert config["browser"]["gatherUsageStats"] is False
