"""The floor for the browser benchmark: the Draw page's canvas in a fragment with one st.metric.

`python -m digitlab bench --browser` runs this beside app.py. No app built on this canvas component can
answer a stroke faster than this one does, so the Draw page's figures are read as ratios to it.
Run it on its own with `streamlit run digitlab/ui/floor_app.py`.
"""

import streamlit as st
from streamlit_drawable_canvas import st_canvas

from digitlab.ui.canvas import CANVAS_SIZE, DEFAULT_BRUSH_WIDTH, INK_COLOR, PAPER_COLOR

st.set_page_config(page_title="Canvas floor", layout="wide")


@st.fragment
def floor_area() -> None:
    # The same component call as the Draw page's canvas (digitlab/ui/canvas.py), PNG included.
    result = st_canvas(stroke_width=DEFAULT_BRUSH_WIDTH, stroke_color=INK_COLOR, background_color=PAPER_COLOR,
                       update_streamlit=True, height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw",
                       return_image_data=True, key="floor-canvas")
    st.metric("Strokes", len((result.json_data or {}).get("objects") or []))


floor_area()
