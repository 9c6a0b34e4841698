"""The drawing canvas: the only code that knows streamlit-drawable-canvas.

Pages call `drawing_canvas` and get plain pixels back, so tests can replace this one function with
a canvas made from a real MNIST digit, and a change of canvas component touches one file.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from digitlab.images import ImageRejectedError, decode_image

CANVAS_SIZE = 280  # pixels; ten canvas pixels per MNIST pixel
INK_COLOR = "#FFFFFF"  # white ink on black paper, as MNIST digits look
PAPER_COLOR = "#000000"
DEFAULT_BRUSH_WIDTH = 18  # at 280 px this is a pen stroke about as thick as an MNIST stroke
BRUSH_WIDTH_RANGE = (6, 40)
_GENERATION_KEY = "canvas_generation"  # bumped by clear_drawing; part of the canvas key
_LAST_MESSAGE_KEY = "canvas_last_message"  # (PNG, strokes JSON) as sent, kept for the drawing bank


def drawing_canvas(brush_width: int = DEFAULT_BRUSH_WIDTH, size: int = CANVAS_SIZE) -> np.ndarray | None:
    """Show the canvas; return the drawing as an RGBA uint8 array, or None while nothing is drawn.

    The canvas sends its image at the end of every stroke (and after undo, redo or its own reset),
    and each send reruns the page, so there is no Predict button.
    """
    # Imported here: the component registers itself on import, which needs a running app.
    from streamlit_drawable_canvas import st_canvas

    result = st_canvas(
        stroke_width=brush_width,
        stroke_color=INK_COLOR,
        background_color=PAPER_COLOR,
        update_streamlit=True,
        height=size,
        width=size,
        drawing_mode="freedraw",
        return_image_data=True,
        key=f"drawing-canvas-{st.session_state.get(_GENERATION_KEY, 0)}",
    )
    # Before the first stroke, and after undoing every stroke, there is nothing to read: skip the
    # PNG decoding and let the page show its prompt.
    if not (result.json_data or {}).get("objects"):
        return None
    image_bytes = result.image_bytes
    if image_bytes is None:
        return None
    st.session_state[_LAST_MESSAGE_KEY] = (image_bytes, result.json_data)
    # The browser's PNG is decoded like any upload: a forged message is held to PNG/JPEG and the
    # same size limits, instead of Pillow opening whatever arrives.
    try:
        return decode_image(image_bytes)
    except ImageRejectedError as error:
        st.warning(f"The drawing could not be read ({error}). Clear the canvas and draw again.")
        return None


def last_canvas_message() -> tuple[bytes | None, dict | None]:
    """(the PNG, the strokes JSON) the canvas last sent, unchecked: the drawing bank checks them."""
    return st.session_state.get(_LAST_MESSAGE_KEY, (None, None))


def clear_drawing() -> None:
    """Empty the canvas (an on_click callback): a new key mounts a fresh canvas with no strokes."""
    st.session_state[_GENERATION_KEY] = st.session_state.get(_GENERATION_KEY, 0) + 1
