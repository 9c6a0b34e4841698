"""The drawing canvas: the only code that knows streamlit-drawable-canvas.

Pages call `drawing_canvas` and get plain pixels back, so tests can replace this one function with
a canvas made from a real MNIST digit, and a change of canvas component touches one file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import streamlit as st

from digitlab.serving.images import ImageRejectedError, decode_image
from digitlab.serving.number_segmentation import NUMBER_CANVAS_SIZE

logger = logging.getLogger(__name__)

CANVAS_SIZE = 280  # pixels; ten canvas pixels per MNIST pixel
INK_COLOR = "#FFFFFF"  # white ink on black paper, as MNIST digits look
PAPER_COLOR = "#000000"
DEFAULT_BRUSH_WIDTH = 18  # at 280 px this is a pen stroke about as thick as an MNIST stroke
BRUSH_WIDTH_RANGE = (6, 40)
# The canvas's toolbar (undo, redo, reset) shows while a mouse points at it; a touch screen has no pointing.
TOOLBAR_HINT = "Point at the canvas with a mouse for undo and redo; on a touch screen, Clear starts again."


@dataclass(frozen=True)
class CanvasPlace:
    """Where one of the Draw page's canvases keeps its state between runs."""

    name: str  # the canvas's key is name-generation: Clear's fallback mounts a fresh canvas by a new generation
    generation_key: str
    message_key: str  # (PNG, strokes JSON) of the drawing on the canvas, as sent
    slot_key: str  # the container the page draws the canvas in; Clear finds the canvas by it

    def key(self) -> str:
        return f"{self.name}-{st.session_state.get(self.generation_key, 0)}"

    def clear(self) -> None:
        """Mount a fresh canvas with no strokes (a new key): the fallback of clear_button."""
        st.session_state[self.generation_key] = st.session_state.get(self.generation_key, 0) + 1
        st.session_state.pop(self.message_key, None)


ONE_DIGIT = CanvasPlace("drawing-canvas", "canvas_generation", "canvas_last_message", "drawing-canvas-slot")
NUMBER = CanvasPlace("number-canvas", "number_canvas_generation", "number_canvas_last_message", "number-canvas-slot")
CANVAS_SLOT_KEY = ONE_DIGIT.slot_key


def drawing_canvas(brush_width: int = DEFAULT_BRUSH_WIDTH, size: int = CANVAS_SIZE) -> np.ndarray | None:
    """Show the canvas; return the drawing as an RGBA uint8 array, or None while nothing is drawn.

    The canvas sends its image at the end of every stroke (and after undo, redo or its own reset),
    and each send reruns the page, so there is no Predict button.
    """
    # Imported here: the component registers itself on import, which needs a running app.
    from streamlit_drawable_canvas import st_canvas

    key = ONE_DIGIT.key()
    redrawn = _drawing_to_redraw(key, ONE_DIGIT.message_key)
    try:
        result = st_canvas(
            stroke_width=brush_width,
            stroke_color=INK_COLOR,
            background_color=PAPER_COLOR,
            update_streamlit=True,
            height=size,
            width=size,
            drawing_mode="freedraw",
            initial_drawing=redrawn,
            return_image_data=True,
            key=key,
        )
        image_bytes, strokes = _drawing_sent(result, redrawn, ONE_DIGIT.message_key)
    except (AttributeError, TypeError, ValueError, KeyError) as error:
        # The canvas is on the page by now; what it sent is not what the component sends (a forged message:
        # the component's own reading of it fails), so it is an unreadable drawing, not a broken page.
        return _forged_message_ignored(error)
    if image_bytes is None:
        return None
    # The browser's PNG is decoded like any upload: a forged message is held to PNG/JPEG and the
    # same size limits, instead of Pillow opening whatever arrives.
    try:
        return decode_image(image_bytes)
    except ImageRejectedError as error:
        st.warning(f"The drawing could not be read ({error}). Clear the canvas and draw again.")
        return None


def _forged_message_ignored(error: Exception) -> None:
    """Say a canvas's message could not be read (it is not one the component sends); nothing is read from it."""
    logger.info("A canvas message that is not the component's was ignored: %s", error)
    st.warning("The drawing could not be read (the canvas's message was not one it sends). Clear the canvas "
               "and draw again.")


def _drawing_to_redraw(key: str, message_key: str) -> dict | None:
    """The strokes to mount the canvas under key with: the drawing on it when it last left the page, else None.

    Streamlit forgets a canvas that a run does not draw (with Upload or the other mode chosen, or on another
    page), and it came back empty. Mounted again, it redraws the strokes last sent (kept under message_key). The
    same strokes are passed on every run while that canvas stays on the page: a change would redraw it, under
    the visitor's pen.
    """
    redrawn_key = f"{message_key}_redrawn"  # (canvas key, strokes JSON) that canvas was mounted with
    if key not in st.session_state:  # mounted this run: the first view, or back from elsewhere
        strokes = st.session_state.get(message_key, (None, None))[1]
        st.session_state[redrawn_key] = (key, strokes) if strokes and strokes.get("objects") else None
    redrawn = st.session_state.get(redrawn_key)
    return redrawn[1] if redrawn is not None and redrawn[0] == key else None


def _drawing_sent(result, redrawn: dict | None, message_key: str) -> tuple[bytes | None, dict]:
    """(the PNG, the strokes JSON) of the drawing on the canvas, kept under message_key; PNG None while empty.

    Before the first stroke, and after undoing every stroke or Clear, there is nothing to read (and nothing
    to redraw later). A canvas just mounted again with its strokes has not sent a picture of them yet: the one
    it last sent is theirs.
    """
    strokes = result.json_data if isinstance(result.json_data, dict) else {}
    objects = strokes.get("objects")
    image_bytes = result.image_bytes if objects else None
    if image_bytes is None and objects and objects == (redrawn or {}).get("objects"):
        image_bytes = st.session_state.get(message_key, (None, None))[0]
    if image_bytes is None:
        st.session_state.pop(message_key, None)
    else:
        st.session_state[message_key] = (image_bytes, strokes)
    return image_bytes, strokes


def last_canvas_message() -> tuple[bytes | None, dict | None]:
    """(the PNG, the strokes JSON) of the drawing on the canvas, as it sent them, unchecked: the drawing bank
    checks them. (None, None) while the canvas is empty."""
    return st.session_state.get(ONE_DIGIT.message_key, (None, None))


_BIN_ICON = ('<svg viewBox="0 0 24 24" width="18" height="18" fill="none" stroke="currentColor" stroke-width="2" '
             'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M3 6h18"/>'
             '<path d="M8 6V4h8v2"/><path d="M19 6l-1 14H6L5 6"/></svg>')
CLEAR_HTML = f'<button type="button" class="digitlab-clear" title="Start again on an empty canvas.">{_BIN_ICON}Clear</button>'
# Streamlit's secondary button, from the theme Streamlit hands the component.
CLEAR_CSS = """.digitlab-clear { display: inline-flex; align-items: center; gap: 0.5rem; min-height: 2.5rem;
  padding: 0.25rem 0.75rem; font: inherit; font-family: var(--st-font); color: var(--st-text-color);
  background: var(--st-background-color); border: 1px solid var(--st-border-color);
  border-radius: var(--st-button-radius); cursor: pointer; }
.digitlab-clear:hover { border-color: var(--st-primary-color); color: var(--st-primary-color); }
.digitlab-clear:focus-visible { outline: 2px solid var(--st-primary-color); outline-offset: 1px; }"""


def clear_button(place: CanvasPlace = ONE_DIGIT) -> None:
    """Clear, for the canvas drawn in place's slot container: it empties that canvas in the browser.

    A Streamlit button would empty it only once the server had rerun the page, and a stroke drawn in
    between was lost (browser_assets/clear_canvas.js says how). The canvas keeps its key, so nothing remounts;
    only a canvas mounted again with its drawing (_drawing_to_redraw) is replaced by a fresh one.
    """
    from digitlab.ui.browser_components import mounting_command

    mount = mounting_command("clear_canvas", CLEAR_HTML, CLEAR_CSS)
    if mount is not None:
        generation = st.session_state.get(place.generation_key, 0)
        # A canvas mounted again with its strokes resets to them: Clear then asks for a fresh canvas.
        redrawn = _drawing_to_redraw(place.key(), place.message_key) is not None
        mount(key=f"clear-{place.name}", data={"canvas": f"st-key-{place.slot_key}", "generation": generation,
                                               "redrawn": redrawn},
              on_remount_change=place.clear, width="content", height="content")


_ORIGIN_SHARE = {"left": 0.0, "top": 0.0, "center": 0.5, "right": 1.0, "bottom": 1.0}


def number_canvas(brush_width: int = DEFAULT_BRUSH_WIDTH) -> tuple[np.ndarray, list] | None:
    """Show the wide number canvas; return (RGBA drawing, pen strokes), or None while nothing is drawn.

    The strokes (digitlab.serving.ink_parts.Stroke, in canvas pixels) let the reader keep the parts of each
    digit together even where digits touch; the pixels are still what each digit is read from.
    """
    from streamlit_drawable_canvas import st_canvas

    width, height = NUMBER_CANVAS_SIZE
    key = NUMBER.key()
    redrawn = _drawing_to_redraw(key, NUMBER.message_key)
    result = st_canvas(stroke_width=brush_width, stroke_color=INK_COLOR, background_color=PAPER_COLOR,
                       update_streamlit=True, height=height, width=width, drawing_mode="freedraw",
                       initial_drawing=redrawn, return_image_data=True, key=key)
    try:
        image_bytes, strokes = _drawing_sent(result, redrawn, NUMBER.message_key)
    except (AttributeError, TypeError, ValueError, KeyError) as error:  # as in drawing_canvas
        return _forged_message_ignored(error)
    if image_bytes is None:
        return None
    try:
        image = decode_image(image_bytes)
    except ImageRejectedError as error:
        st.warning(f"The drawing could not be read ({error}). Clear the canvas and draw again.")
        return None
    return image, strokes_from_canvas_json(strokes)


def strokes_from_canvas_json(json_data: dict | None) -> list:
    """The free-drawn paths of the canvas's Fabric.js JSON as strokes in canvas pixels.

    A path's points are in its own coordinates: Fabric places the centre of their bounds at the
    object's centre (found from left/top and the origin), then scales, flips and rotates about it.
    Freshly drawn paths come back unmoved; this also holds after the toolbar's edit mode moved one.
    Objects that are not well-formed paths are skipped: the caller still has the pixels.
    """
    from digitlab.serving.ink_parts import Stroke

    strokes = []
    for item in (json_data or {}).get("objects") or []:
        try:
            if str(item.get("type", "")).lower() != "path":
                continue
            points = np.array([command[-2:] for command in item["path"] if len(command) >= 3], np.float64)
            if points.ndim != 2 or len(points) == 0 or not np.isfinite(points).all():
                continue
            pen = float(item.get("strokeWidth", 1.0))
            scale = np.array([float(item.get("scaleX", 1.0)), float(item.get("scaleY", 1.0))])
            flips = np.array([-1.0 if item.get("flipX") else 1.0, -1.0 if item.get("flipY") else 1.0])
            size = (np.array([float(item.get("width", 0.0)), float(item.get("height", 0.0))]) + pen) * scale
            corner = np.array([float(item.get("left", 0.0)), float(item.get("top", 0.0))])
            share = np.array([_ORIGIN_SHARE.get(item.get("originX", "left"), 0.0),
                              _ORIGIN_SHARE.get(item.get("originY", "top"), 0.0)])
            centre = corner + (0.5 - share) * size
            offset = (points.min(axis=0) + points.max(axis=0)) / 2
            local = (points - offset) * scale * flips
            angle = np.radians(float(item.get("angle", 0.0)))
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            strokes.append(Stroke(local @ rotation.T + centre, pen * float(scale.mean())))
        except (KeyError, TypeError, ValueError):
            continue
    return strokes
