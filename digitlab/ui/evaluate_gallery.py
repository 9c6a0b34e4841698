"""The Evaluate page's gallery: a page of enlarged test images in a grid, shared by every section that lists images."""

from __future__ import annotations

from typing import Callable

import numpy as np
import streamlit as st

from digitlab.datasets.mnist import Mnist
from digitlab.ui.figures.probabilities import pixel_image
from digitlab.ui.phone_grid import gallery_cells

GALLERY_COLUMNS = 8
GALLERY_ROWS = 3
PIXEL_SCALE = 4  # each MNIST pixel becomes a 4x4 block: 112 px images with every pixel visible


def show_gallery(indices: np.ndarray, mnist: Mnist, caption: Callable[[int], str], page_key: str) -> None:
    """A page of enlarged test images in a grid, with a page picker when there is more than one page."""
    per_page = GALLERY_COLUMNS * GALLERY_ROWS
    pages = max(1, -(-indices.size // per_page))
    if st.session_state.get(page_key, 1) > pages:  # the filter shrank the list under the page shown
        st.session_state[page_key] = pages
    page = 1
    if pages > 1:
        picker, _ = st.columns([1, 3])
        page = picker.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=page_key)
    shown = indices[(page - 1) * per_page : page * per_page]
    for column, index in gallery_cells(f"{page_key}_grid", shown, GALLERY_COLUMNS):
        column.image(pixel_image(mnist.x_test[index], PIXEL_SCALE, grid=False), caption=caption(int(index)))
