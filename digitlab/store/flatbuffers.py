"""The LiteRT flatbuffer beside each registered model (`<name>.tflite`): written, verified, served.

Converting a Keras model needs TensorFlow: about 10 s and 500 MB at every server start. So the model is
converted once, when it is registered, and the flatbuffer is written beside the `.keras` file. Its
card records, under "litert", the flatbuffer's sha256 and the sha256 of the `.keras` file it was
made from. Serving a drawing then needs only LiteRT, numpy and Pillow. A flatbuffer that is missing,
altered, or made from another version of the model is refused, and the model is served from its
`.keras` file instead (converted in-process, or run by TensorFlow): nothing is lost but start-up time.

This module owns the `.tflite` file format: it makes one from a Keras model (TensorFlow's converter,
imported only then), checks that LiteRT runs it, writes it and reads it back checked. Serving only runs
the bytes it is handed (digitlab/serving/litert.py). `python -m digitlab flatbuffer models/x.keras`
rewrites one for a model registered before flatbuffers existed (it prints the card section to add).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from digitlab.store.atomic import write_atomic

FLATBUFFER_SUFFIX = ".tflite"
CARD_KEY = "litert"  # the card's section: {"file", "sha256", "model_sha256", "weights"} or {"error"}
QUANTIZATION = "int8, dynamic range"  # how convert_to_flatbuffer stores the weights, for the card's reader
logger = logging.getLogger(__name__)

_conversion_lock = threading.Lock()  # conversion traces TensorFlow graphs and writes a temporary folder


class FlatbufferRefused(RuntimeError):
    """A model has no usable flatbuffer; the message says why, and the model is served another way."""


class FlatbufferNotMade(RuntimeError):
    """A Keras model could not be made into a flatbuffer that LiteRT runs; the message says why."""


def convert_to_flatbuffer(model, quantize: bool = True) -> bytes:
    """The model as a LiteRT flatbuffer taking (n, 28, 28, 1) float32 images for any n, its weights as
    8-bit integers unless quantize is False.

    Dynamic-range quantization needs no calibration data; it runs a drawing about four times faster
    on XNNPACK's integer kernels, and moves probabilities by about 0.01 (BENCHMARKS.md).
    """
    import tensorflow as tf

    spec = tf.TensorSpec([None, *model.input_shape[1:]], tf.float32)
    with _conversion_lock, tempfile.TemporaryDirectory(prefix="digitlab-export-") as folder:
        try:
            # Through a SavedModel, which keeps the weights; verbose=False keeps stdout clean for --json.
            model.export(folder, format="tf_saved_model", verbose=False, input_signature=[spec])
            converter = tf.lite.TFLiteConverter.from_saved_model(folder)
            if quantize:
                converter.optimizations = [tf.lite.Optimize.DEFAULT]
            return converter.convert()
        except Exception as error:  # the converter raises many types for graphs it cannot handle
            raise FlatbufferNotMade(f"the model could not be converted ({type(error).__name__})") from error


def check_flatbuffer_runs(flatbuffer: bytes) -> None:
    """Run a converted model once on a blank image; raises FlatbufferNotMade where LiteRT cannot."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:
        raise FlatbufferNotMade("the ai-edge-litert package is not installed") from error
    try:
        interpreter = Interpreter(model_content=flatbuffer)
        interpreter.allocate_tensors()
        image = interpreter.get_input_details()[0]  # its batch size is 1 until resized
        interpreter.set_tensor(image["index"], np.zeros(image["shape"], np.float32))
        interpreter.invoke()
    except Exception as error:  # LiteRT raises ValueError or RuntimeError for graphs it cannot run
        raise FlatbufferNotMade(f"the converted model does not run ({type(error).__name__})") from error


def flatbuffer_path(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(FLATBUFFER_SUFFIX)


def write_flatbuffer(model_path: str | Path, model_sha256: str, load_model: Callable[[], object]) -> dict:
    """Convert a registered .keras file and write its flatbuffer beside it; return the card section.

    Returns {"litert": {...}} to merge into the model card. Where LiteRT or the converter cannot
    handle the model, the section records the error instead and no flatbuffer is left behind, so the
    registration still succeeds and the model is served from its .keras file.
    """
    target = flatbuffer_path(model_path)
    try:
        flatbuffer = convert_to_flatbuffer(load_model())
        check_flatbuffer_runs(flatbuffer)  # refuse now, rather than at serving time, a conversion that does not run
    except RuntimeError as error:  # LiteRT missing or unable to convert, or the model not loadable
        target.unlink(missing_ok=True)  # an earlier model's flatbuffer under this name must not linger
        logger.warning("No LiteRT flatbuffer for %s: %s", Path(model_path).name, error)
        return {CARD_KEY: {"error": str(error)}}
    return place_flatbuffer(flatbuffer, model_path, model_sha256)


def place_flatbuffer(flatbuffer: bytes, model_path: str | Path, model_sha256: str) -> dict:
    """Write checked flatbuffer bytes beside a model file (a copy of one already made); return the card section."""
    target = flatbuffer_path(model_path)
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
