"""A chart that keeps its full size on a phone, in a strip the reader swipes sideways.

The confusion matrices are fixed-size figures (figures/evaluation.MATRIX_SIZE). On a 390 px phone Streamlit
shrank them to the screen's width but not their height: the matrix was drawn at 22 px a cell, too small to read
"1,134" or tap one cell, centred in a 520 px frame whose colour bar stood twice its height. Inside this
container the chart keeps its width below 640 px, and the strip scrolls sideways; a wide screen is left as it was.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

SWIPE_NOTE = "Swipe the matrix sideways for the columns beyond the screen and its colour scale."


def full_size_on_phone(key: str, width: int) -> DeltaGenerator:
    """A container (keyed `key`, unique on the page) whose charts keep `width` pixels on a phone, scrolling sideways."""
    strip = f".st-key-{key}"
    st.html(f"""<style>
[data-testid="stLayoutWrapper"]:has(> {strip}-note) {{ display: none; }}
@media (max-width: 640px) {{
  {strip} {{ overflow-x: auto; }}
  {strip} > [data-testid="stElementContainer"] {{ min-width: {width}px; }}
  [data-testid="stLayoutWrapper"]:has(> {strip}-note) {{ display: flex; }}
}}
</style>""")
    strip = st.container(key=key)
    strip.container(key=f"{key}-note").caption(SWIPE_NOTE)  # its wrapper hidden on a wide screen: no gap
    return strip
