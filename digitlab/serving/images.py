"""Decoding uploaded or named image files safely: only PNG and JPEG, bounded size, one frame.

Uploads come from anonymous visitors. Pillow reads the format and dimensions from the header before
any pixel is decoded, so a decompression bomb or a 1x200000 strip is refused cheaply, and a large
photo is shrunk while it is decoded, so what reaches preprocessing costs at most about a megapixel.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = ("PNG", "JPEG")  # Pillow's JPEG opener also yields MPO: a phone JPEG with extra pictures
MAX_FILE_BYTES = 10 * 1024 * 1024  # a photo of one digit needs far less
MAX_PIXELS = 16_000_000  # 4000x4000, or a 12-megapixel phone photo; nothing a bomb needs
MAX_ASPECT_RATIO = 20  # one digit is never a 1x200000 strip
MAX_DECODED_SIDE = 1024  # larger images are shrunk to this: preprocessing needs far fewer pixels
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")  # 16-bit PNGs decode to one of these

# MAX_PIXELS sits well below Pillow's own bomb limit (Image.MAX_IMAGE_PIXELS, a warning and at twice
# that an error), and _check_header refuses anything over it before a pixel is decoded. But Pillow
# warns already while opening the header, so a 12000x12000 file printed Pillow's warning above our
# clear refusal. Pillow's warning says nothing ours does not, so it is silenced once, at import:
# warnings.catch_warnings around each decode would not be thread-safe, and every visitor's script
# runs in a thread. Pillow's error, at twice its limit, still stands.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class ImageRejectedError(ValueError):
    """The file is not an image we accept; the message says why, in words for the user."""


def decode_image(data: bytes) -> np.ndarray:
    """Decode PNG/JPEG bytes into an RGBA uint8 array (longer side at most MAX_DECODED_SIDE).

    Raises ImageRejectedError, and nothing else, for any input that is not a sound PNG or JPEG.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"decode_image expects the file's bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) == 0:
        raise ImageRejectedError("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ImageRejectedError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; use a smaller image.")
    try:
        with Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS) as image:
            _check_header(image)
            # JPEG can decode at 1/2, 1/4 or 1/8 scale directly, which is much cheaper than shrinking after.
            image.draft(image.mode, (MAX_DECODED_SIDE, MAX_DECODED_SIDE))
            image.load()
            upright = ImageOps.exif_transpose(image)  # photos taken sideways come out upright
            return _to_rgba(upright)
    except ImageRejectedError:
        raise
    except UnidentifiedImageError as error:
        if data.startswith(PNG_SIGNATURE) or data.startswith(JPEG_SIGNATURE):
            raise ImageRejectedError("The image is damaged or truncated and cannot be read.") from error
        raise ImageRejectedError("This is not a PNG or JPEG image.") from error
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise ImageRejectedError("The image declares too many pixels to decode safely.") from error
    except MemoryError as error:
        raise ImageRejectedError("The image is too large to decode.") from error
    except Exception as error:  # Pillow's parsers raise many types on damaged files; all mean "unreadable"
        raise ImageRejectedError("The image is damaged or truncated and cannot be read.") from error


def _check_header(image: Image.Image) -> None:
    """Refuse, from the header alone, images that are too big, too narrow or animated."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejectedError("The image has no pixels.")
    if width * height > MAX_PIXELS:
        raise ImageRejectedError(
            f"The image is too large ({width}x{height}); use one under {MAX_PIXELS // 1_000_000} megapixels.")
    if max(width, height) > MAX_ASPECT_RATIO * min(width, height):
        raise ImageRejectedError(f"The image is {width}x{height}: far too narrow to hold one digit.")
    # An MPO (a phone JPEG carrying a depth map or preview) has frames too, but its first is the photo.
    if image.format == "PNG" and getattr(image, "n_frames", 1) > 1:
        raise ImageRejectedError("Animated images are not supported: use a single still PNG or JPEG.")


def _to_rgba(image: Image.Image) -> np.ndarray:
    """Convert any decoded mode (16-bit, CMYK, palette, grey with alpha...) to RGBA uint8, shrunk."""
    if image.mode in SIXTEEN_BIT_MODES:
        # Pillow's own conversion clips 16-bit values at 255, which would turn most grey levels white.
        levels = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.clip(np.round(levels), 0, 255).astype(np.uint8))
    if image.mode not in ("L", "RGB", "CMYK") or "transparency" in image.info:
        image = image.convert("RGBA")  # alpha, palettes and colour keys must survive the shrinking
    # Area averaging, as preprocessing shrinks too; it is also 4x faster than Lanczos on a photo.
    image.thumbnail((MAX_DECODED_SIDE, MAX_DECODED_SIDE), Image.Resampling.BOX)
    return np.asarray(image.convert("RGBA"))


def read_image_file(path: str | Path) -> np.ndarray:
    """Read and decode an image file from disk with the same checks as uploads."""
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageRejectedError(f"{path} is a folder, not an image file.")
        if path.exists() and not path.is_file():
            raise ImageRejectedError(f"{path} is not a regular file.")  # a pipe or device could block or never end
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ImageRejectedError(f"{path} does not exist.") from None
    except OSError as error:
        raise ImageRejectedError(f"{path} cannot be read ({error.strerror or error}).") from error
    return decode_image(data)
