"""Model architectures by name: plain Keras 3 models that save as .keras and load with safe_mode=True.

Every model takes (28, 28, 1) pixel values 0..255, exactly MNIST's uint8 arrays, and rescales them
itself, so training, evaluation and the predictor cannot disagree about input scaling.
"""

from __future__ import annotations

from typing import Callable

from digitlab.store.run_config import ARCHITECTURE_NAMES

INPUT_SHAPE = (28, 28, 1)
NUM_CLASSES = 10
# Keras's default momentum (0.99) keeps about half of the initial statistics after 70 steps, so a
# short run (2 epochs of 5,000 images) predicted from unsettled batch-norm statistics: chance
# accuracy. At 0.9 they settle within a few dozen steps, and long runs are unaffected.
BATCH_NORM_MOMENTUM = 0.9
# MNIST's pixel mean and standard deviation (on 0..1). Networks without batch norm learn faster from
# inputs centred this way: a 2-epoch mlp run on 5,000 images reached 89.7% from 0..1 inputs, 90.4% so.
PIXEL_MEAN, PIXEL_STD = 0.1307, 0.3081
DIGITNET_WIDTH = 32  # the shipped digitnet's first filters; a run's config may ask for another width


def build_mlp(classes: int = NUM_CLASSES):
    """The classic baseline: two hidden dense layers."""
    from keras import layers, Sequential

    return Sequential(
        [
            layers.Input(INPUT_SHAPE),
            layers.Rescaling(1 / (255 * PIXEL_STD), offset=-PIXEL_MEAN / PIXEL_STD),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(128, activation="relu"),
            layers.Dense(classes, activation="softmax"),
        ],
        name="mlp",
    )


def build_cnn_small(classes: int = NUM_CLASSES):
    """The classic small CNN: one convolution, one pooling, one hidden dense layer."""
    from keras import layers, Sequential

    return Sequential(
        [
            layers.Input(INPUT_SHAPE),
            layers.Rescaling(1 / (255 * PIXEL_STD), offset=-PIXEL_MEAN / PIXEL_STD),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(classes, activation="softmax"),
        ],
        name="cnn_small",
    )


def build_cnn_deep(classes: int = NUM_CLASSES):
    """The deep stack popular digit apps ship (~17 layers of Conv/BatchNorm/MaxPool/Dropout)."""
    from keras import layers, Sequential

    return Sequential(
        [
            layers.Input(INPUT_SHAPE),
            layers.Rescaling(1 / 255),
            layers.Conv2D(32, 3, activation="relu"),
            layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM),
            layers.Conv2D(32, 3, activation="relu"),
            layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM),
            layers.Conv2D(32, 5, strides=2, padding="same", activation="relu"),
            layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM),
            layers.Dropout(0.4),
            layers.Conv2D(64, 3, activation="relu"),
            layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM),
            layers.Conv2D(64, 3, activation="relu"),
            layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM),
            layers.Conv2D(64, 5, strides=2, padding="same", activation="relu"),
            layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM),
            layers.Dropout(0.4),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM),
            layers.Dropout(0.4),
            layers.Dense(classes, activation="softmax"),
        ],
        name="cnn_deep",
    )


def build_digitnet(classes: int = NUM_CLASSES, width: int | None = None):
    """DigitLab's default: two VGG-style blocks and a small head, for drawings on a CPU.

    Batch norm and dropout let it train with strong augmentation (rotation, shear, stroke width)
    without underfitting MNIST; global pooling keeps the head small so one prediction stays ~1 ms.
    width: the first block's filters (the second block has twice, the last convolution four times as
    many); None builds the shipped network, DIGITNET_WIDTH.
    """
    width = width or DIGITNET_WIDTH
    from keras import layers, Sequential

    def conv_block(filters: int) -> list:
        return [
            layers.Conv2D(filters, 3, padding="same", use_bias=False),
            layers.BatchNormalization(momentum=BATCH_NORM_MOMENTUM),
            layers.Activation("relu"),
        ]

    return Sequential(
        [
            layers.Input(INPUT_SHAPE),
            layers.Rescaling(1 / 255),
            *conv_block(width),
            *conv_block(width),
            layers.MaxPooling2D(),
            *conv_block(2 * width),
            *conv_block(2 * width),
            layers.MaxPooling2D(),
            *conv_block(4 * width),
            layers.GlobalAveragePooling2D(),
            layers.Dropout(0.3),
            layers.Dense(classes, activation="softmax"),
        ],
        name="digitnet",
    )


# Keyed by the names a run's config may ask for (run_config.ARCHITECTURE_NAMES), in their order.
ARCHITECTURES: dict[str, Callable] = dict(zip(ARCHITECTURE_NAMES, (build_mlp, build_cnn_small, build_cnn_deep,
                                                                    build_digitnet), strict=True))


def build_model(name: str, classes: int = NUM_CLASSES, width: int | None = None):
    """Build an untrained model by architecture name (11 classes adds "not a digit"); width only for digitnet."""
    try:
        builder = ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"Unknown architecture '{name}'. Choose one of: {', '.join(ARCHITECTURES)}.") from None
    if width is None:
        return builder(classes)
    if builder is not build_digitnet:
        raise ValueError(f"Only digitnet takes a width; {name} does not.")
    return builder(classes, width=width)
