"""The LiteRT flatbuffer beside each registered model (`<name>.tflite`): written, verified, served.

Converting a Keras model needs TensorFlow: about 10 s and 500 MB at every server start. So the model is
converted once, when it is registered, and the flatbuffer is written beside the `.keras` file. Its
card records, under "litert", the flatbuffer's sha256 and the sha256 of the `.keras` file it was
made from. Serving a drawing then needs only LiteRT, numpy and Pillow. A flatbuffer that is missing,
altered, or made from another version of the model is refused, and the model is served from its
`.keras` file instead (converted in-process, or run by TensorFlow): nothing is lost but start-up time.

This module owns the `.tflite` file format; `python -m digitlab flatbuffer models/x.keras` rewrites one
for a model registered before flatbuffers existed (it prints the card section to add).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Callable

from digitlab.store.atomic import write_atomic

FLATBUFFER_SUFFIX = ".tflite"
CARD_KEY = "litert"  # the card's section: {"file", "sha256", "model_sha256", "weights"} or {"error"}
QUANTIZATION = "int8, dynamic range"  # how lite_runtime.convert stores the weights, for the card's reader
logger = logging.getLogger(__name__)


class FlatbufferRefused(RuntimeError):
    """A model has no usable flatbuffer; the message says why, and the model is served another way."""


def flatbuffer_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(FLATBUFFER_SUFFIX)


def write_flatbuffer(model_path: str | Path, model_sha256: str, load_model: Callable[[], object]) -> dict:
    """Convert a registered .keras file and write its flatbuffer beside it; return the card section.

    Returns {"litert": {...}} to merge into the model card. Where LiteRT or the converter cannot
    handle the model, the section records the error instead and no flatbuffer is left behind, so the
    registration still succeeds and the model is served from its .keras file.
    """
    from digitlab.serving.litert import LiteModel, convert

    target = flatbuffer_path(model_path)
    try:
        flatbuffer = convert(load_model())
        LiteModel(flatbuffer)  # refuse, now rather than at serving time, a conversion that does not run
    except RuntimeError as error:  # LiteRT missing or unable to convert, or the model not loadable
        target.unlink(missing_ok=True)  # an earlier model's flatbuffer under this name must not linger
        logger.warning("No LiteRT flatbuffer for %s: %s", Path(model_path).name, error)
        return {CARD_KEY: {"error": str(error)}}
    write_atomic(target, lambda temp: Path(temp).write_bytes(flatbuffer))
    return {CARD_KEY: {"file": target.name, "sha256": hashlib.sha256(flatbuffer).hexdigest(),
                       "model_sha256": model_sha256, "weights": QUANTIZATION}}


def read_flatbuffer(model_path: str | Path, card: dict) -> bytes:
    """The checked flatbuffer bytes of a registered model; raises FlatbufferRefused saying why not."""
    section = card.get(CARD_KEY)
    if not isinstance(section, dict) or not section.get("sha256"):
        reason = section.get("error") if isinstance(section, dict) else None
        raise FlatbufferRefused(f"its card records no LiteRT flatbuffer{f' ({reason})' if reason else ''}")
    if section.get("model_sha256") != card.get("sha256"):
        raise FlatbufferRefused("its flatbuffer was made from another version of the model")
    path = Path(model_path).with_name(str(section.get("file") or flatbuffer_path(model_path).name))
    if path.parent != Path(model_path).parent or path.suffix != FLATBUFFER_SUFFIX:
        raise FlatbufferRefused("its card names a flatbuffer outside the model's folder")
    try:
        flatbuffer = path.read_bytes()
    except OSError as error:
        raise FlatbufferRefused(f"its flatbuffer {path.name} cannot be read ({error.strerror or error})") from error
    if hashlib.sha256(flatbuffer).hexdigest() != section["sha256"]:
        raise FlatbufferRefused(f"{path.name} does not match its recorded sha256: it was altered or is incomplete")
    return flatbuffer  # these very bytes are run, so a file replaced after the check is never used
