"""Training augmentation: the variation real drawings have and MNIST lacks.

People draw digits slanted, rotated, squashed and with pens from hairline to marker. Each training
image gets a random affine change (rotation, shear, anisotropic scale, shift) and a random stroke
width change, all as TensorFlow ops so augmentation runs inside the input pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    rotation_degrees: float = 12.0  # +- rotation
    shear: float = 0.25  # +- horizontal shear (slant), as a fraction of height
    scale: tuple[float, float] = (0.85, 1.1)  # overall size change
    aspect: float = 0.15  # +- relative change of width against height
    shift_pixels: float = 2.0  # +- translation
    thicken_probability: float = 0.3  # share of images drawn with a fatter pen
    thin_probability: float = 0.3  # share of images drawn with a thinner pen


def augment_batch(images, seed_generator=None, config: AugmentConfig = AugmentConfig()):
    """Randomly transform a batch of (n, 28, 28, 1) float images with values 0..255."""
    import tensorflow as tf

    images = tf.convert_to_tensor(images, tf.float32)
    n = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1], tf.float32)

    def uniform(low, high):
        return tf.random.uniform([n], low, high)

    angle = uniform(-config.rotation_degrees, config.rotation_degrees) * (3.141592653589793 / 180.0)
    shear = uniform(-config.shear, config.shear)
    scale = uniform(*config.scale)
    aspect = uniform(-config.aspect, config.aspect)
    scale_x, scale_y = scale * (1.0 + aspect), scale * (1.0 - aspect)
    shift_x = uniform(-config.shift_pixels, config.shift_pixels)
    shift_y = uniform(-config.shift_pixels, config.shift_pixels)

    # Forward map about the image centre: p' = R * Sh * S * (p - c) + c + t. The transform op wants the
    # inverse (output pixel -> input pixel), so build the forward 2x2 matrix and invert it.
    cos, sin = tf.cos(angle), tf.sin(angle)
    a = cos * scale_x
    b = (cos * shear - sin) * scale_y
    c = sin * scale_x
    d = (sin * shear + cos) * scale_y
    det = a * d - b * c
    inv_a, inv_b, inv_c, inv_d = d / det, -b / det, -c / det, a / det
    centre = (size - 1.0) / 2.0
    out_x, out_y = centre + shift_x, centre + shift_y
    offset_x = centre - (inv_a * out_x + inv_b * out_y)
    offset_y = centre - (inv_c * out_x + inv_d * out_y)
    zeros = tf.zeros([n])
    transforms = tf.stack([inv_a, inv_b, offset_x, inv_c, inv_d, offset_y, zeros, zeros], axis=1)
    images = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )

    # Stroke width: blend towards a 3x3 dilation (fatter) or erosion (thinner) by a random amount,
    # which changes the width continuously rather than in whole 28x28 pixels.
    dilated = tf.nn.max_pool2d(images, 3, 1, "SAME")
    eroded = -tf.nn.max_pool2d(-images, 3, 1, "SAME")
    choice = tf.random.uniform([n])
    amount = tf.random.uniform([n], 0.3, 1.0)
    thicken = tf.cast(choice < config.thicken_probability, tf.float32) * amount
    thin = tf.cast(choice > 1.0 - config.thin_probability, tf.float32) * amount * 0.6
    thicken = tf.reshape(thicken, [-1, 1, 1, 1])
    thin = tf.reshape(thin, [-1, 1, 1, 1])
    images = images + thicken * (dilated - images) + thin * (eroded - images)
    return tf.clip_by_value(images, 0.0, 255.0)


# Writing conventions MNIST (American writers) barely has: much of the world writes "1" with a long
# upstroke and crosses the "7". Without them the model reads a continental "1" as a 7 and a crossed
# "7" as a 2. Extra training copies of MNIST's own 1s and 7s get the missing stroke drawn on.
FLAGGED_ONES_SHARE = 0.5  # share of the 1s that get a flagged copy
CROSSED_SEVENS_SHARE = 0.4  # share of the 7s that get a crossed copy
STYLE_SUPERSAMPLE = 4


def style_variants(images: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Extra training images: flagged 1s and crossed 7s drawn onto copies of MNIST's own digits."""
    rng = np.random.default_rng(seed)
    extra = []
    for index in np.flatnonzero(labels == 1):
        if rng.random() < FLAGGED_ONES_SHARE:
            extra.append((add_stroke(images[index], rng, "flag"), 1))
    for index in np.flatnonzero(labels == 7):
        if rng.random() < CROSSED_SEVENS_SHARE:
            extra.append((add_stroke(images[index], rng, "crossbar"), 7))
    extra = [(image, label) for image, label in extra if image is not None]
    if not extra:
        return images[:0], labels[:0]
    return np.stack([image for image, _ in extra]), np.array([label for _, label in extra], labels.dtype)


def add_stroke(image: np.ndarray, rng: np.random.Generator, kind: str) -> np.ndarray | None:
    """Draw a flag (down-left from the top of the stroke) or a crossbar (through the middle) on a digit."""
    from PIL import Image, ImageDraw

    mask = image > 100
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) < 8:
        return None
    top, bottom = rows[0], rows[-1]
    height = bottom - top

    def stem_column(row: int) -> float:
        return float(np.flatnonzero(mask[row]).mean())

    width = float(rng.uniform(1.6, 2.6))
    if kind == "flag":
        start = (stem_column(top), top + 0.5)
        length = height * rng.uniform(0.25, 0.45)
        angle = np.radians(rng.uniform(25, 60))  # below the horizontal, pointing left
        end = (start[0] - length * np.cos(angle), start[1] + length * np.sin(angle))
    else:
        row = int(top + height * rng.uniform(0.45, 0.6))
        if not mask[row].any():
            return None
        centre, half = stem_column(row), height * rng.uniform(0.15, 0.25)
        tilt = rng.uniform(-1.0, 1.0)
        start, end = (centre - half, row + tilt), (centre + half, row - tilt)
    big = Image.new("L", (28 * STYLE_SUPERSAMPLE,) * 2, 0)
    scale = STYLE_SUPERSAMPLE
    ImageDraw.Draw(big).line([(start[0] * scale, start[1] * scale), (end[0] * scale, end[1] * scale)],
                             fill=255, width=round(width * scale))
    stroke = np.asarray(big.resize((28, 28), Image.Resampling.BOX))
    combined = np.maximum(image, stroke)
    # Re-centre by mass, as preprocessing will for a drawing of this digit.
    ys, xs = np.indices(combined.shape)
    total = combined.sum()
    shift_y = int(round(13.5 - (ys * combined).sum() / total))
    shift_x = int(round(13.5 - (xs * combined).sum() / total))
    return np.roll(combined, (shift_y, shift_x), axis=(0, 1)).astype(np.uint8)
