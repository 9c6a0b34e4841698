"""What may go into the drawing bank: checks on every field a visitor or a file sends, and the PNG kept.

A canvas message or an uploaded file comes from outside, so anything in it may be forged; each check
raises DrawingRejectedError with a message that says what is wrong.
"""

from __future__ import annotations

import io
import json
import math
import re
from datetime import datetime

import numpy as np

from digitlab.bank.records import NewDrawing
from digitlab.bank.schema import MAX_NICKNAME_LENGTH, MAX_TAG_LENGTH

SOURCES = ("draw", "upload", "import")
MAX_STROKES_BYTES = 2_000_000  # a 280 px canvas drawing is a few kB to tens of kB of JSON
MAX_STROKE_OBJECTS = 2_000  # far more strokes than any digit needs
MAX_STORED_SIDE = 560  # uploads are kept as PNG at most this big: twice the canvas, plenty to re-read
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_TAG = re.compile(r"[\w .@+-]{1,64}")  # letters, digits and a little punctuation: safe in a CSV and a caption
# Letters (any script), digits, spaces, - and _: a nickname is shown to the teacher, never markup or a formula
_NICKNAME = re.compile(rf"[^\W_][\w -]{{0,{MAX_NICKNAME_LENGTH - 1}}}")


class DrawingRejectedError(ValueError):
    """The drawing (or its label, tags or strokes) cannot go into the bank; the message says why."""


def prepare_drawing(image_bytes: bytes, label: int | None, source: str, *, writer: str | None = None,
                    session: str | None = None, strokes: str | dict | None = None, reading: int | None = None,
                    probabilities=None, model_sha256: str | None = None,
                    created_at: datetime | None = None, class_id: int | None = None,
                    nickname: str | None = None) -> NewDrawing:
    """Check everything about a drawing and compute the 28x28 the model sees; DrawingRejectedError if any is wrong.

    image_bytes is the file or canvas PNG as received: it is decoded with the upload checks (PNG or
    JPEG, bounded size), so a forged canvas message is held to the same rules as an upload.
    """
    from digitlab.serving.images import ImageRejectedError, decode_image
    from digitlab.serving.preprocess import preprocess

    label = check_digit(label, "label", allow_none=True)
    if source not in SOURCES:
        raise DrawingRejectedError(f"The source must be one of {', '.join(SOURCES)}, not {source!r}.")
    try:
        image = decode_image(image_bytes)
    except ImageRejectedError as error:
        raise DrawingRejectedError(f"The image cannot be stored: {error}") from error
    prepared = preprocess(image)
    if not prepared.has_digit:
        raise DrawingRejectedError(f"There is no digit to store: {prepared.reason}")
    return NewDrawing(
        png=_stored_png(image_bytes, image), mnist=prepared.mnist, label=label, source=source,
        writer=check_tag(writer, "writer"), session=check_tag(session, "session"),
        strokes=check_strokes(strokes), reading=check_digit(reading, "reading", allow_none=True),
        probabilities=check_probabilities(probabilities), model_sha256=check_sha256(model_sha256),
        created_at=created_at, class_id=class_id, nickname=check_nickname(nickname))


def check_digit(value, what: str = "label", allow_none: bool = False) -> int | None:
    """value as a digit 0-9 (an int, or text such as "7"); DrawingRejectedError otherwise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer, str)):
        raise DrawingRejectedError(f"The {what} must be a digit from 0 to 9, not {value!r}.")
    text_value = str(value).strip()
    if not re.fullmatch(r"[0-9]", text_value):
        raise DrawingRejectedError(f"The {what} must be a digit from 0 to 9, not {value!r}.")
    return int(text_value)


def check_tag(value: str | None, what: str) -> str | None:
    """A writer or session tag, trimmed; None for none; else DrawingRejectedError."""
    return _checked_text(value, _TAG, f"The {what} tag must be 1-{MAX_TAG_LENGTH} letters, digits, spaces or "
                                      f". @ + - _ characters, not {str(value)[:80]!r}.")


def check_nickname(value: str | None) -> str | None:
    """A student's nickname, trimmed (None for none): up to 24 letters, digits, spaces, - or _; else refused."""
    return _checked_text(value, _NICKNAME, f"A nickname is 1-{MAX_NICKNAME_LENGTH} letters, digits, spaces, - or _, "
                                           f"starting with a letter or digit; {str(value)[:40]!r} is not one.")


def _checked_text(value, pattern: re.Pattern, refusal: str) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value.strip()):
        raise DrawingRejectedError(refusal)
    return value.strip()


def check_sha256(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise DrawingRejectedError("The model's sha256 must be 64 lowercase hex digits.")
    return value


def check_probabilities(values) -> list[float] | None:
    """Ten finite probabilities summing to about 1, as plain floats; DrawingRejectedError otherwise."""
    if values is None:
        return None
    try:
        floats = [float(value) for value in values]
    except (TypeError, ValueError):
        raise DrawingRejectedError("The probabilities must be ten numbers.") from None
    if len(floats) != 10 or not all(math.isfinite(p) and 0 <= p <= 1 for p in floats) or abs(sum(floats) - 1) > 1e-3:
        raise DrawingRejectedError("The probabilities must be ten numbers from 0 to 1 that add up to 1.")
    return [round(p, 6) for p in floats]


def check_strokes(strokes: str | dict | None) -> str | None:
    """The strokes as compact JSON text, if they look like a canvas drawing or pen trajectories.

    A canvas message comes from the visitor's browser, so anything in it may be forged: it must be a
    JSON object holding a list of at most MAX_STROKE_OBJECTS objects (fabric.js canvas JSON), or
    {"format": "unipen", "strokes": [[[x, y], ...], ...]} for imported pen digits, and be small.
    """
    if strokes is None:
        return None
    if isinstance(strokes, (bytes, bytearray)):
        strokes = bytes(strokes).decode("utf-8", errors="replace")
    if isinstance(strokes, str):
        if len(strokes) > MAX_STROKES_BYTES:
            raise DrawingRejectedError(f"The canvas message is larger than {MAX_STROKES_BYTES // 1_000_000} MB; "
                                       "it is not a drawing of one digit.")
        try:
            strokes = json.loads(strokes)
        except (ValueError, RecursionError):  # RecursionError: nesting thousands deep, which no canvas sends
            raise DrawingRejectedError("The canvas message is not valid JSON; it was not sent by the canvas.") from None
    if not isinstance(strokes, dict):
        raise DrawingRejectedError("The canvas message is not a drawing (expected a JSON object).")
    if strokes.get("format") == "unipen":
        paths = strokes.get("strokes")
        if not isinstance(paths, list) or not all(_is_point_list(path) for path in paths):
            raise DrawingRejectedError("The pen strokes must be lists of [x, y] points.")
    else:
        objects = strokes.get("objects")
        if not isinstance(objects, list) or not all(isinstance(obj, dict) and isinstance(obj.get("type"), str)
                                                    for obj in objects):
            raise DrawingRejectedError("The canvas message is not a drawing: it has no list of stroke objects.")
        if len(objects) > MAX_STROKE_OBJECTS:
            raise DrawingRejectedError(f"The canvas message has {len(objects):,} strokes; a digit has far fewer.")
    try:
        compact = json.dumps(strokes, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        raise DrawingRejectedError("The canvas message holds values no canvas sends (NaN or infinity).") from None
    if len(compact) > MAX_STROKES_BYTES:
        raise DrawingRejectedError("The canvas message is too large to be a drawing of one digit.")
    return compact


def _is_point_list(path) -> bool:
    return isinstance(path, list) and all(
        isinstance(point, list) and len(point) == 2 and all(isinstance(v, (int, float)) and math.isfinite(v)
                                                           for v in point) for point in path)


PLAIN_PNG_CHUNKS = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND"})  # pixels and nothing else
MAX_PLAIN_PNG_BYTES = 1_300_000  # about what a 560 px RGBA image of pure noise encodes to


def _stored_png(image_bytes: bytes, image: np.ndarray) -> bytes:
    """The PNG to keep: a small plain PNG as sent; anything else re-encoded from its pixels, at most 560 px.

    A plain PNG (pixels only: no text, colour profile or private chunks, and no larger than any 560 px image
    encodes to) is kept byte for byte, so drawings stored before keep the sha256 by which the bank knows a
    drawing it already holds. Any other PNG is re-encoded from its pixels: a visitor's PNG may carry
    megabytes of ancillary chunks that would otherwise be stored with every save and loaded by every
    gallery. The same pixels always give the same bytes, so an exported drawing imported again hashes the
    same. A 560 px RGBA image of pure noise encodes to about 1.3 MB, the most any stored PNG can be.
    """
    if bytes(image_bytes[:8]) == PNG_SIGNATURE and max(image.shape[:2]) <= MAX_STORED_SIDE:
        if len(image_bytes) <= MAX_PLAIN_PNG_BYTES and _png_chunk_types(image_bytes) <= PLAIN_PNG_CHUNKS:
            return bytes(image_bytes)
        return _png_bytes(_pixels_only(image_bytes))
    return encode_png(image, MAX_STORED_SIDE)


def _png_chunk_types(png_bytes: bytes) -> set[bytes]:
    """The types of the chunks a PNG holds (b"IHDR", b"IDAT", ...), read from their headers."""
    types, offset = set(), len(PNG_SIGNATURE)
    while offset + 8 <= len(png_bytes):
        length = int.from_bytes(png_bytes[offset:offset + 4], "big")
        types.add(bytes(png_bytes[offset + 4:offset + 8]))
        offset += 12 + length  # length, type, data, CRC
    return types


def _pixels_only(png_bytes: bytes):
    """The PNG's pixels, upright, in the mode it decodes to (grey stays grey), with nothing else it carried.

    Only what changes the pixels the bank decodes survives: the palette, the transparency and the
    EXIF orientation, which is applied here because the eXIf chunk holding it is dropped. Called on
    bytes decode_image has already accepted, so the same decoder reads them safely.
    """
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(png_bytes), formats=("PNG",)) as sent:
        upright = ImageOps.exif_transpose(sent)  # a copy, loaded, whether or not it turned
    transparency = upright.info.get("transparency")
    upright.info = {} if transparency is None else {"transparency": transparency}
    return upright


def encode_png(image: np.ndarray, max_side: int | None = None) -> bytes:
    """image as PNG bytes, shrunk to fit max_side pixels when given."""
    from PIL import Image

    picture = Image.fromarray(np.asarray(image, np.uint8))
    if max_side:
        picture.thumbnail((max_side, max_side), Image.Resampling.BOX)
    return _png_bytes(picture)


def _png_bytes(picture) -> bytes:
    """picture as PNG with Pillow's default settings: the one encoder every stored PNG goes through."""
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()
