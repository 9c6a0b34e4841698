"""The Draw page's reading panels, and its drawing area as a fragment.

Each stroke on the canvas sends the drawing to the server. Inside a fragment, that reruns only the
drawing area: not app.py, not the sidebar with its model list, not the page's title and tabs, not the
Right/Wrong panel under it. So a stroke costs the same however many runs and models there are, and
what the browser redraws per stroke is the answer itself.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from digitlab.serving.predictor import Prediction
from digitlab.ui import canvas
from digitlab.store.registry import ModelEntry
from digitlab.ui.corrections import offer_reading, save_feedback
from digitlab.ui.figures.probabilities import pixel_image, png_data_url
from digitlab.ui.probability_chart import probability_bars
from digitlab.ui.why_panel import why_panel

DRAW_PROMPT = "Draw a digit from 0 to 9 on the black square. The prediction updates after every stroke."
CANVAS_PANEL_WIDTH = canvas.CANVAS_SIZE + 10
MODEL_VIEW_SCALE = 7  # screen pixels per model pixel
MODEL_VIEW_WIDTH = 28 * MODEL_VIEW_SCALE + 10
MODEL_VIEW_CAPTION = "What the model sees: 28 × 28 pixels, centred and scaled like MNIST"


SENT_IMAGE_KEY = "draw_sent_image"  # (image, caption) another page sent to be read on the Draw page
SOURCE_TABS_KEY = "digit_source"  # the Draw page's Draw / Upload tabs
CHART_KEY = "probability-chart"  # one chart, kept on the page and updated in place


def send_to_draw_page(image: np.ndarray, caption: str) -> None:
    """Have the Draw page's Upload tab read this image next (call, then switch to the Draw page)."""
    st.session_state[SENT_IMAGE_KEY] = (np.asarray(image), caption)
    st.session_state[SOURCE_TABS_KEY] = "Upload"


def reading_panels() -> tuple[DeltaGenerator, DeltaGenerator, DeltaGenerator]:
    """The input, the model's view of it and the answer side by side; they wrap onto rows on a phone."""
    # A fixed-width panel keeps the 280 px canvas whole; ratio-based columns would clip it on a laptop.
    row = st.container(horizontal=True, gap="medium")
    return row.container(width=CANVAS_PANEL_WIDTH), row.container(width=MODEL_VIEW_WIDTH), row.container()


def show_reading(prediction: Prediction, model_view_column: DeltaGenerator, result_column: DeltaGenerator) -> None:
    """Show the model's input and its answer, or why there is no answer."""
    if prediction.refused:  # the model saw a drawing and judged it no digit: no bars for a guess
        with result_column:
            st.warning(f"Not a digit. {prediction.message} Draw a single digit from 0 to 9.")
        return
    if prediction.digit is None:
        with result_column:
            st.info(f"{prediction.message} Draw or upload a single digit, large and centred.")
        return
    # The image and the metric stand where the empty reading has them, so a first stroke updates them in place.
    model_view_column.image(png_data_url(pixel_image(prediction.mnist, MODEL_VIEW_SCALE)),
                            width=28 * MODEL_VIEW_SCALE, caption=MODEL_VIEW_CAPTION)
    result_column.metric("Prediction", str(prediction.digit), delta=f"{prediction.confidence:.0%} probability",
                         delta_color="off", delta_arrow="off")
    with result_column:
        probability_bars(prediction.probabilities, CHART_KEY)  # the chart on the page takes the new values
    if prediction.is_unsure:
        runner_up = prediction.runner_up
        result_column.warning(f"The model is unsure: it might also be a {runner_up} "
                              f"({prediction.probabilities[runner_up]:.0%}).")


def show_empty_reading(model_view_column: DeltaGenerator, result_column: DeltaGenerator) -> None:
    """Before the first stroke: the model's empty view and an empty answer, with the prompt under them.

    The image, the metric and the chart stand where an answer puts them, so the first stroke updates
    them in place: the chart's bars stand empty, and it fetches its charting library once the page is idle.
    """
    model_view_column.image(png_data_url(pixel_image(np.zeros((28, 28), np.uint8), MODEL_VIEW_SCALE)),
                            width=28 * MODEL_VIEW_SCALE, caption=MODEL_VIEW_CAPTION)
    result_column.metric("Prediction", "–", delta="draw a digit", delta_color="off", delta_arrow="off")
    with result_column:
        probability_bars(None, CHART_KEY)
    result_column.info(DRAW_PROMPT)


# On a phone the panels stack, and the full answer lands below the canvas, out of sight while drawing.
# A one-line reading above the canvas shows only on narrow screens; the canvas's hover toolbar (undo,
# redo, reset) opens above the canvas, so the canvas keeps room for it instead of covering the caption.
# The Right/Wrong bar sits above the drawing area on a wide screen, beside the reading; on a phone it
# moves below it (flex order), so the canvas and the one-line reading stay in sight while drawing.
# The reading keeps the height of two lines whatever it says: the two-line hint before the first
# stroke gave way to a one-line reading, and the canvas jumped up under the finger mid-digit.
NARROW_SCREEN_CSS = """<style>
.st-key-phone-reading { display: none; }
@media (max-width: 640px) {
  .st-key-phone-reading { display: block; height: 3.2rem !important; min-height: 3.2rem; overflow: hidden; }
}
.st-key-drawing-canvas-slot { margin-top: 2.6rem; }
</style>"""


def phone_reading_text(prediction: Prediction | None) -> str:
    """The answer in one line, for the top of the canvas on a phone."""
    if prediction is None:
        return "Draw a digit below: the answer appears here."
    if prediction.refused:
        return "**Not a digit**"
    if prediction.digit is None:
        return prediction.message
    unsure = f" · might be a {prediction.runner_up}" if prediction.is_unsure else ""
    return f"Reading: **{prediction.digit}** · {prediction.confidence:.0%}{unsure}"


def drawing_area(predictor, entry: ModelEntry) -> None:
    """The canvas, its brush and Clear, and the reading of the drawing, under the page's narrow-screen rules.

    The rules are sent once per page run, outside the fragment: a stroke re-sends only the drawing area.
    """
    st.html(NARROW_SCREEN_CSS)
    _drawing_fragment(predictor, entry)


@st.fragment
def _drawing_fragment(predictor, entry: ModelEntry) -> None:
    """Reruns alone after each stroke; the reading's image, metric and chart are updated where they stand."""
    input_column, model_view_column, result_column = reading_panels()
    with input_column:
        phone_reading = st.container(key="phone-reading")
        canvas_slot = st.container(key=canvas.CANVAS_SLOT_KEY)  # filled below, once the slider has a value
        brush_width = st.slider("Brush width", *canvas.BRUSH_WIDTH_RANGE, value=canvas.DEFAULT_BRUSH_WIDTH,
                                help="Pen thickness in canvas pixels. Strokes are thinned or thickened "
                                     "to MNIST's width before the model sees them.")
        with canvas_slot:
            drawing = canvas.drawing_canvas(brush_width)
        canvas.clear_button()  # empties the canvas in the browser: a stroke right after it is never lost
        st.caption("Draw with the mouse or a finger. With a mouse, undo and redo are in the toolbar that opens "
                   "above the canvas when you point at it; on a touch screen, Clear starts again.")
    prediction = None if drawing is None else predictor.predict_image(drawing)
    phone_reading.markdown(phone_reading_text(prediction))
    if prediction is None:
        show_empty_reading(model_view_column, result_column)
    else:
        show_reading(prediction, model_view_column, result_column)
    offer_reading(prediction, drawing, "draw", entry.sha256, *canvas.last_canvas_message())  # for the Right/Wrong panel
    with result_column:
        save_feedback()  # what an answer stored for this drawing; nothing once it is redrawn
    if prediction is not None:
        why_panel(prediction, predictor, entry)  # collapsed by default: nothing is computed for it then
