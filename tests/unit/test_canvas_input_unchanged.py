"""Canvas drawings reach the model exactly as before photos were read by local contrast.

tests/unit/canvas_model_inputs.npz was written by canvas_model_inputs() below on the code as it was
before photos' paper was flattened (digitlab/serving/paper_background.py): ink was then found by one
threshold for the whole image. Regenerate it only on purpose, for a change meant to alter what a
canvas drawing gives the model:
    python -c "from tests.unit.test_canvas_input_unchanged import write_golden; write_golden()"
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SHARED_PENDIGITS

GOLDEN = Path(__file__).with_name("canvas_model_inputs.npz")
SINGLE_DIGITS = 40
NUMBERS = 6


class RecordingPredictor:
    """A stand-in model that keeps every image it is given and answers by a fixed rule of the pixels,
    so number reading chooses its crops deterministically and any change of pixel shows up."""

    def __init__(self):
        self.seen: list[np.ndarray] = []
        self.weights = np.random.default_rng(0).normal(0, 0.02, (28 * 28, 10))

    def predict_mnist(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images, np.uint8).reshape(-1, 28, 28)
        self.seen.extend(images)
        logits = images.reshape(len(images), -1).astype(np.float64) @ self.weights / 255
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def canvas_model_inputs() -> dict[str, np.ndarray]:
    """The model's 28x28 inputs for held-out pen writers' digits and numbers drawn as the canvas sends them:
    white strokes, white strokes below full strength, and dark strokes, each on a transparent layer, the
    numbers (touching and overlapping too) read from pixels and from their strokes."""
    from digitlab.datasets.pen_numbers import OVERLAPPING_GAP_RANGE, build_numbers
    from digitlab.datasets.pendigits import read_pendigits, render_on_canvas, split_by_writer
    from digitlab.serving.number_segmentation import read_number
    from digitlab.serving.preprocess import preprocess

    _, held_out = split_by_writer(read_pendigits(SHARED_PENDIGITS))
    rng = np.random.default_rng(0)
    canvases = [render_on_canvas(digit, rng) for digit in held_out[::37][:SINGLE_DIGITS]]
    faint = [np.concatenate([c[:, :, :3], (c[:, :, 3:] * 0.8).astype(np.uint8)], axis=2) for c in canvases[:10]]
    dark = [np.concatenate([np.zeros_like(c[:, :, :3]), c[:, :, 3:]], axis=2) for c in canvases[10:20]]
    singles = [preprocess(canvas) for canvas in canvases + faint + dark]
    single_inputs = np.stack([p.mnist if p.has_digit else np.zeros((28, 28), np.uint8) for p in singles])
    recorder = RecordingPredictor()
    texts = []
    for number in build_numbers(held_out, NUMBERS, lengths=(4,), seed=1, gap_range=OVERLAPPING_GAP_RANGE):
        texts.append(read_number(recorder, number.canvas).number or "")
        texts.append(read_number(recorder, number.canvas, number.strokes).number or "")
    return {"single_digits": single_inputs, "number_crops": np.stack(recorder.seen),
            "number_readings": np.array(texts)}


def write_golden() -> None:
    np.savez_compressed(GOLDEN, **canvas_model_inputs())


def test_canvas_drawings_give_the_model_the_same_input_as_before():
    """Test that pen drawings on a transparent canvas layer, single digits and numbers, reach the model
    bit for bit as they did when ink was found by one threshold for the whole image."""
    if not SHARED_PENDIGITS.exists():
        pytest.skip(f"pen trajectories not found at {SHARED_PENDIGITS}")
    golden = np.load(GOLDEN)
    now = canvas_model_inputs()
    assert now["single_digits"].shape == golden["single_digits"].shape
    assert np.array_equal(now["single_digits"], golden["single_digits"])
    assert now["number_crops"].shape == golden["number_crops"].shape
    assert np.array_equal(now["number_crops"], golden["number_crops"])
    assert list(now["number_readings"]) == list(golden["number_readings"])
