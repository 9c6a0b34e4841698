"""Grids built of st.columns that keep several tiles to a row on a phone: image galleries, and form fields.

Below 640 px Streamlit stacks every column full width, so a gallery of small images became one image per
row: the Evaluate page's galleries, the Drawings page and the Why? panel's thumbnails grew to thousands of
pixels of scrolling, and the Drawings page's six filters filled the screen before its first drawing. Inside a
phone_grid container the rows of columns give way (display: contents) and every tile flows into one wrapping row
of `per_row` tiles, whatever the number of columns per row on a wide screen; a wide screen's layout is left as it
was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

Item = TypeVar("Item")

GALLERY_TILES_PER_ROW = 3  # about 110 px tiles on a 390 px phone: an MNIST digit and its caption stay legible
TILE_GAP = "1rem"  # as Streamlit's own gap between columns


def phone_grid_css(key: str, per_row: int) -> str:
    """The narrow-screen rule for the st.columns rows directly inside the container keyed `key`."""
    grid = f".st-key-{key}"
    rows = f'{grid} > [data-testid="stLayoutWrapper"]'
    row = f'{rows} > [data-testid="stHorizontalBlock"]'
    tile = f'{row} > [data-testid="stColumn"]'
    # Child combinators throughout: a tile's own horizontal containers (the Drawings page's "Yes, delete" and
    # "Keep") must stay as they are. A short last row's empty columns are hidden, or they would wrap into rows
    # of empty tiles with gaps between them. An image given a width in pixels (the Drawings page's 120 px)
    # shrinks to its tile instead of running over the next one.
    return f"""<style>
@media (max-width: 640px) {{
  {grid} {{ flex-flow: row wrap; gap: {TILE_GAP}; }}
  {rows}, {row} {{ display: contents; }}
  {tile} {{
    flex: 0 0 calc((100% - {per_row - 1} * {TILE_GAP}) / {per_row});
    width: auto; min-width: 0;
  }}
  {tile}:not(:has([data-testid="stElementContainer"])) {{ display: none; }}
  {tile} [data-testid="stImageContainer"], {tile} img {{ max-width: 100%; height: auto; }}
}}
</style>"""


def phone_grid(key: str, per_row: int = GALLERY_TILES_PER_ROW) -> DeltaGenerator:
    """A container for rows of st.columns that keeps `per_row` tiles to a row on a phone (`key`: unique on the page)."""
    st.html(phone_grid_css(key, per_row))  # style tags only: Streamlit gives them no room on the page
    return st.container(key=key)


def gallery_cells(key: str, items: Sequence[Item], columns: int,
                  per_row: int = GALLERY_TILES_PER_ROW) -> Iterator[tuple[DeltaGenerator, Item]]:
    """Each item with the cell to draw it in: rows of `columns` st.columns on a wide screen, `per_row` to a row on a
    phone (phone_grid)."""
    with phone_grid(key, per_row):
        for start in range(0, len(items), columns):
            yield from zip(st.columns(columns), items[start : start + columns])
