"""The images a run trains on, held once as uint8, and the tf.data pipeline that feeds them in batches.

A run's images come from several sources (MNIST, style variants, pen digits, non-digits, the drawing
bank repeated `bank_weight` times). Copying them into one float32 array, with the bank tiled, cost
about 3 GB for a bank of 50,000 drawings at weight 20; a Cloud container has less than that in all.
So every image is kept once, as the uint8 it was drawn in, and an epoch is a list of indices into
them, where a repeated drawing is listed once per repeat (4 bytes, not 3 KB). The pipeline shuffles
the indices, batches them and only then gathers the batch's pixels as float32: the same batches in
the same order as shuffling the images themselves (tf.data's shuffle order depends on the seed and
the count, never on what is shuffled).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TrainingImages:
    """Images kept once, and the order an epoch visits them in (an index per image shown)."""

    images: np.ndarray  # (n, 28, 28) uint8, each distinct image once
    labels: np.ndarray  # (n,) int
    order: np.ndarray  # (m,) int32 indices into images: what one epoch shows, repeats included

    @classmethod
    def of(cls, images: np.ndarray, labels: np.ndarray) -> "TrainingImages":
        """Each image shown once per epoch."""
        return cls(np.asarray(images, np.uint8), np.asarray(labels), np.arange(len(images), dtype=np.int32))

    def __len__(self) -> int:
        """Images shown per epoch."""
        return len(self.order)

    def plus(self, images: np.ndarray, labels: np.ndarray, repeats: int = 1) -> "TrainingImages":
        """These images and more, the new ones shown `repeats` times per epoch, listed after the others."""
        start = len(self.images)
        added = np.tile(np.arange(start, start + len(images), dtype=np.int32), repeats)
        return TrainingImages(np.concatenate([self.images, np.asarray(images, np.uint8)]),
                              np.concatenate([self.labels, np.asarray(labels)]),
                              np.concatenate([self.order, added]))

    def first(self, count: int) -> np.ndarray:
        """The first `count` images an epoch lists, before shuffling (uint8)."""
        return self.images[self.order[:count]]


def make_dataset(data: TrainingImages, batch_size: int, seed: int, training: bool, augment: bool = False):
    """Batches of (float32 (b, 28, 28, 1) images 0..255, int32 labels), shuffled each epoch when training."""
    import tensorflow as tf

    from digitlab.training.augmentation import augment_batch

    images = tf.constant(data.images)  # uint8 until a batch is gathered
    labels = tf.constant(np.asarray(data.labels, np.int32))
    batches = tf.data.Dataset.from_tensor_slices(data.order)
    if training:
        batches = batches.shuffle(len(data.order), seed=seed, reshuffle_each_iteration=True)
    batches = batches.batch(batch_size)
    batches = batches.map(lambda index: (tf.cast(tf.gather(images, index), tf.float32)[..., None],
                                         tf.gather(labels, index)))
    if training and augment:
        # A map of its own, so augmentation's random ops are traced, and seeded, as they always were.
        batches = batches.map(lambda pixels, targets: (augment_batch(pixels), targets), num_parallel_calls=1)
    return batches.prefetch(2)
