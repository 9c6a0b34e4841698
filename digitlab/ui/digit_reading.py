"""The Draw page's reading panels, and its drawing area as a fragment.

Each stroke on the canvas sends the drawing to the server. Inside a fragment, that reruns only the
drawing area: not app.py, not the sidebar with its model list, not the page's title and switches, not the
Right/Wrong panel above it. So a stroke costs the same however many runs and models there are.

The fragment holds only the canvas and what a stroke changes: the browser re-renders every element of a
fragment after each of its runs, changed or not (three passes per stroke), so the brush, Clear and the
Why? panel stand outside it. The Why? panel, while open, follows the drawing by
rerunning the page (a stroke then costs a page run; closed, it costs nothing).
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

from digitlab.serving.predictor import Prediction
from digitlab.ui import canvas
from digitlab.store.registry import ModelEntry
from digitlab.ui.corrections import drawing_key, offer_reading, save_feedback
from digitlab.ui.figures.probabilities import pixel_image, png_data_url
from digitlab.ui.input_source import ONE_DIGIT_UPLOAD_KEY, choose_upload, forget_upload
from digitlab.ui.read_mode import choose_one_digit
from digitlab.ui.probability_chart import probability_bars
from digitlab.ui.why_panel import why_panel, why_panel_open

DRAW_PROMPT = "Draw a digit from 0 to 9 on the black square. The prediction updates after every stroke."
CANVAS_PANEL_WIDTH = canvas.CANVAS_SIZE + 10
MODEL_VIEW_SCALE = 7  # screen pixels per model pixel
MODEL_VIEW_WIDTH = 28 * MODEL_VIEW_SCALE + 10
MODEL_VIEW_CAPTION = "What the model sees: 28 × 28 pixels, centred and scaled like MNIST"


SENT_IMAGE_KEY = "draw_sent_image"  # (image, caption) another page sent to be read on the Draw page
CHART_KEY = "probability-chart"  # one chart, kept on the page and updated in place
DRAWN_READING_KEY = "draw_reading"  # the Prediction of the drawing on the canvas (None: nothing drawn)
EXPLAINED_KEY = "draw_explained"  # drawing_key of the reading the open Why? panel last explained (None: none)
BRUSH_SLIDER_WIDTH = 190  # with Clear beside it, as wide as the canvas


def send_to_draw_page(image: np.ndarray, caption: str) -> None:
    """Have the Draw page's Upload input read this image next, in One digit mode (call, then switch to the Draw
    page)."""
    st.session_state[SENT_IMAGE_KEY] = (np.asarray(image), caption)
    forget_upload(ONE_DIGIT_UPLOAD_KEY)  # a photo uploaded before would be read instead
    choose_upload()
    choose_one_digit()  # Number mode, left on last time, would not show it


def reading_panels() -> tuple[DeltaGenerator, DeltaGenerator, DeltaGenerator]:
    """The input, the model's view of it and the answer side by side; they wrap onto rows on a phone."""
    # A fixed-width panel keeps the 280 px canvas whole; ratio-based columns would clip it on a laptop.
    row = st.container(horizontal=True, gap="medium")
    return (row.container(width=CANVAS_PANEL_WIDTH, key="drawing-input"),
            row.container(width=MODEL_VIEW_WIDTH, key="drawing-model-view"), row.container(key="drawing-result"))


DRAW_AGAIN = "Draw a single digit from 0 to 9, large and centred."
UPLOAD_AGAIN = "Upload a photo of a single digit from 0 to 9, large and centred."


def show_reading(prediction: Prediction, model_view_column: DeltaGenerator, result_column: DeltaGenerator,
                 again: str = DRAW_AGAIN) -> None:
    """Show the model's input and its answer, or why there is no answer and what to do (again: draw or upload)."""
    if prediction.refused:  # the model saw a drawing and judged it no digit: no bars for a guess
        with result_column:
            st.warning(f"Not a digit. {again}")
        return
    if prediction.digit is None:
        with result_column:
            st.info(f"{prediction.message} {again}")
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
# redo, reset) opens above the canvas, so the canvas keeps room for it instead of covering the tools.
# On a phone the drawing area's row and the fragment's wrappers give way (display: contents), so that the
# canvas, with the reading above it and the hint under it, comes first and the brush and Clear stand right under
# it, before the model's view and the answer, though they are outside the fragment, above it on a wide screen.
# The Right/Wrong bar sits above the drawing area on a wide screen, beside the reading; on a phone it moves
# (flex order) to just under the brush and Clear, a short scroll from the canvas, and the answer's details follow
# it: the metric and the bars, then the model's view (corrections.PANEL_CSS places the bar).
# The reading keeps the height of two lines whatever it says: the two-line hint before the first
# stroke gave way to a one-line reading, and the canvas jumped up under the finger mid-digit.
NARROW_SCREEN_CSS = """<style>
.st-key-phone-reading { display: none; }
@media (max-width: 640px) {
  .st-key-phone-reading { display: block; height: 3.2rem !important; min-height: 3.2rem; overflow: hidden; }
  [data-testid="stVerticalBlock"]:has(> * > .st-key-drawing-tools) > :has(.st-key-drawing-canvas-slot),
  [data-testid="stVerticalBlock"]:has(> * > .st-key-drawing-tools) > :has(.st-key-drawing-canvas-slot)
    > [data-testid="stVerticalBlock"],
  [data-testid="stLayoutWrapper"]:has(> [data-testid="stHorizontalBlock"] > * > .st-key-drawing-input),
  [data-testid="stHorizontalBlock"]:has(> * > .st-key-drawing-input) {
    display: contents;
  }
  [data-testid="stLayoutWrapper"]:has(> .st-key-drawing-input) { order: -1; }
  [data-testid="stHorizontalBlock"] > :is(.st-key-drawing-result, :has(> .st-key-drawing-result)) { order: 2; }
  [data-testid="stHorizontalBlock"] > :is(.st-key-drawing-model-view, :has(> .st-key-drawing-model-view)) {
    order: 3;
  }
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
    """The brush and Clear, the canvas with the reading of the drawing, and the Why? panel under them.

    The narrow-screen rules, the brush and Clear are sent once per page run, outside the fragment: a stroke
    re-sends only the canvas and the reading.
    """
    st.html(NARROW_SCREEN_CSS)
    # One row above the canvas; on a phone NARROW_SCREEN_CSS moves it under the canvas.
    with st.container(horizontal=True, vertical_alignment="bottom", key="drawing-tools"):
        brush_width = st.slider("Brush width", *canvas.BRUSH_WIDTH_RANGE, value=canvas.DEFAULT_BRUSH_WIDTH,
                                width=BRUSH_SLIDER_WIDTH, help="Pen thickness in canvas pixels. Strokes are thinned "
                                                               "or thickened to MNIST's width before the model sees them.")
        canvas.clear_button()  # empties the canvas in the browser: a stroke right after it is never lost
    _drawing_fragment(predictor, entry, brush_width)
    reading = st.session_state.get(DRAWN_READING_KEY)
    st.session_state[EXPLAINED_KEY] = _reading_key(reading) if why_panel_open() else None
    why_panel(reading, predictor, entry)  # collapsed by default: nothing is computed for it then


def _reading_key(prediction: Prediction | None) -> str | None:
    return None if prediction is None or prediction.mnist is None else drawing_key(prediction)


def _only_the_fragment_runs() -> bool:
    # Streamlit names the fragments a run is limited to; a whole-page run names none.
    context = get_script_run_ctx()
    return bool(context is not None and context.fragment_ids_this_run)


@st.fragment
def _drawing_fragment(predictor, entry: ModelEntry, brush_width: int) -> None:
    """Reruns alone after each stroke; the reading's image, metric and chart are updated where they stand."""
    input_column, model_view_column, result_column = reading_panels()
    with input_column:
        phone_reading = st.container(key="phone-reading")
        with st.container(key=canvas.CANVAS_SLOT_KEY):
            drawing = canvas.drawing_canvas(brush_width)
        st.caption(canvas.TOOLBAR_HINT)  # static text: a fraction of a millisecond per stroke, where it is read
    prediction = None if drawing is None else predictor.predict_image(drawing)
    st.session_state[DRAWN_READING_KEY] = prediction
    if (_only_the_fragment_runs() and why_panel_open()
            and st.session_state.get(EXPLAINED_KEY) != _reading_key(prediction)):
        st.rerun(scope="app")  # the open Why? panel, outside the fragment, explains the new drawing
    phone_reading.markdown(phone_reading_text(prediction))
    if prediction is None:
        show_empty_reading(model_view_column, result_column)
    else:
        show_reading(prediction, model_view_column, result_column)
    offer_reading(prediction, drawing, "draw", entry.sha256, *canvas.last_canvas_message())  # for the Right/Wrong panel
    with result_column:
        save_feedback()  # what an answer stored for this drawing; nothing once it is redrawn
