"""What a run trains on, loaded frugally: the same batches, the same batch-norm statistics, a fraction of the memory.

Each frugal path is held to the plain one it replaced, written out here as the reference: tiling the bank and
feeding float32 arrays to tf.data, stacking a sample's activations to average them, drawing every canvas first.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from digitlab.datasets.pendigits import pendigits_path
from digitlab.training.input_pipeline import TrainingImages, make_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]


def tiled_float_dataset(x, y, bank_x, bank_y, weight: int, batch_size: int, seed: int, augment: bool):
    """The pipeline as it was: the bank tiled `weight` times, every image float32 in tf.data's own copy."""
    import tensorflow as tf

    from digitlab.training.augmentation import augment_batch

    images = np.concatenate([x, np.tile(bank_x, (weight, 1, 1))])
    labels = np.concatenate([y, np.tile(bank_y, weight)])
    data = tf.data.Dataset.from_tensor_slices((images[..., None].astype(np.float32), labels.astype(np.int32)))
    data = data.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    if augment:
        data = data.map(lambda batch, targets: (augment_batch(batch), targets), num_parallel_calls=1)
    return data.prefetch(2)


def two_epochs(dataset) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(images.numpy(), labels.numpy()) for _ in range(2) for images, labels in dataset]


@pytest.mark.parametrize("augment", [False, True])
def test_indices_into_images_kept_once_give_the_very_batches_tiling_gave(augment):
    """Test that two epochs of the frugal pipeline (the bank kept once, listed three times) are bit for bit the
    batches of the tiled float32 pipeline: same shuffle each epoch, same pixels, same augmentation."""
    import keras

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (300, 28, 28), dtype=np.uint8), rng.integers(0, 10, 300)
    bank_x, bank_y = rng.integers(0, 256, (40, 28, 28), dtype=np.uint8), rng.integers(0, 10, 40)

    keras.utils.set_random_seed(5)
    expected = two_epochs(tiled_float_dataset(x, y, bank_x, bank_y, 3, 32, 5, augment))
    keras.utils.set_random_seed(5)
    frugal = TrainingImages.of(x, y).plus(bank_x, bank_y, repeats=3)
    got = two_epochs(make_dataset(frugal, 32, 5, training=True, augment=augment))

    assert len(frugal) == 420 and len(frugal.images) == 340, "the bank's drawings are kept once"
    assert len(got) == len(expected) == 2 * 14
    for (images, labels), (expected_images, expected_labels) in zip(got, expected):
        np.testing.assert_array_equal(images, expected_images)
        np.testing.assert_array_equal(labels, expected_labels)
    assert not np.array_equal(got[0][1], got[14][1]), "each epoch is shuffled afresh"


def stacked_batch_norm_statistics(model, images: np.ndarray) -> None:
    """Precise batch norm as it was: every layer's activations of the whole sample held, stacked and averaged."""
    import keras

    activations = [np.asarray(images, np.float32).reshape(-1, 28, 28, 1)[start : start + 256]
                   for start in range(0, len(images), 256)]
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            stacked = np.concatenate(activations)
            layer.moving_mean.assign(stacked.mean(axis=(0, 1, 2)))
            layer.moving_variance.assign(stacked.var(axis=(0, 1, 2)))
        activations = [np.asarray(layer(chunk, training=False)) for chunk in activations]


@pytest.mark.parametrize("images", [2048, 1000])
def test_batch_norm_statistics_batch_by_batch_are_those_of_the_whole_sample(mnist, images):
    """Test that precise batch norm, never holding the sample's activations whole, sets exactly the statistics
    that stacking them all gave (digitnet, a full sample and one that does not fill its last batch)."""
    import keras

    from digitlab.training.architectures import build_model
    from digitlab.training.precise_batch_norm import recompute_batch_norm_statistics

    keras.utils.set_random_seed(1)
    expected, frugal = build_model("digitnet"), build_model("digitnet")
    frugal.set_weights(expected.get_weights())
    sample = mnist.x_train[:images]

    stacked_batch_norm_statistics(expected, sample)
    assert recompute_batch_norm_statistics(frugal, sample) == 5

    for got, wanted in zip(frugal.get_weights(), expected.get_weights()):
        np.testing.assert_array_equal(got, wanted)


PEAK_WHILE_DRAWING = """
import json, resource, sys
from digitlab.datasets.training_mix import pen_digit_images, training_writers_digits
digits = training_writers_digits(sys.argv[1])[:1000]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
images, labels = pen_digit_images(digits, copies=1, seed=0)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"added_mb": after - before, "images": len(images)}))
"""


@pytest.mark.skipif(pendigits_path() is None, reason="needs pendigits-orig.tra (DIGITLAB_PENDIGITS)")
def test_pen_digits_are_drawn_without_holding_every_canvas():
    """Test that drawing 1,000 pen digits for training costs a few MB, not the 313 MB their canvases take together
    (a run with the default model's 11,000 pen digits once peaked at 3.4 GB holding them all)."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(PEAK_WHILE_DRAWING), str(pendigits_path())],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    measured = json.loads(result.stdout.strip().splitlines()[-1])

    assert measured["images"] > 950
    assert measured["added_mb"] < 60, measured
