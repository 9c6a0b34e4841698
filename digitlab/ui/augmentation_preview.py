"""The Train page's "What does augmentation do?" panel: MNIST digits beside their augmented versions."""

from __future__ import annotations

import numpy as np
import streamlit as st

from digitlab.datasets.mnist import load_mnist
from digitlab.training.augmentation import augment_batch
from digitlab.ui.figures.probabilities import pixel_image

PREVIEW_DIGITS = 8


def augmentation_preview() -> None:
    """A few MNIST training digits beside what augmentation makes of them; computed only when opened."""
    panel = st.expander("What does augmentation do?", key="train_augmentation_preview", on_change="rerun")
    if not panel.open:
        return
    with panel:
        try:
            mnist = load_mnist()
        except Exception as error:  # noqa: BLE001 - MnistUnavailableError or a broken file: say so, keep the page
            st.info(f"The preview needs the MNIST training images: {error}")
            return
        originals, variants = augmented_examples(mnist.x_train[:PREVIEW_DIGITS])
        st.caption("Top: MNIST training digits. Below: the same digits as one epoch of an augmented run might "
                   "see them: shifted, turned, scaled and drawn thicker or thinner. Every epoch draws new ones.")
        for row in (originals, *variants):
            columns = st.columns(len(row))
            for column, image in zip(columns, row):
                column.image(pixel_image(image, 3, grid=False))


@st.cache_data(show_spinner="Augmenting a few digits...", max_entries=1)
def augmented_examples(images: np.ndarray, rounds: int = 2) -> tuple[np.ndarray, list[np.ndarray]]:
    """The images, and `rounds` augmented versions of them as one epoch would draw them."""
    batch = images[..., None].astype(np.float32)
    variants = [np.clip(np.asarray(augment_batch(batch))[..., 0], 0, 255).astype(np.uint8) for _ in range(rounds)]
    return images, variants
