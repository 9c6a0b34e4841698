"""Draw page: draw a digit (or upload a photo of one) and see what the model reads."""

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from digitlab.images import ImageRejectedError, decode_image
from digitlab.inference import Prediction
from digitlab.registry import ModelLoadError
from digitlab.ui import canvas
from digitlab.ui.figures import pixel_image, probability_chart
from digitlab.ui.loaders import load_predictor
from digitlab.ui.why_panel import why_panel

DRAW_PROMPT = "Draw a digit from 0 to 9 on the black square. The prediction updates after every stroke."
UPLOAD_PROMPT = "Upload a PNG or JPEG photo or scan of one handwritten digit."
CANVAS_PANEL_WIDTH = canvas.CANVAS_SIZE + 10
MODEL_VIEW_SCALE = 7  # screen pixels per model pixel
MODEL_VIEW_WIDTH = 28 * MODEL_VIEW_SCALE + 10


def reading_panels() -> tuple[DeltaGenerator, DeltaGenerator, DeltaGenerator]:
    """The input, the model's view of it and the answer side by side; they wrap onto rows on a phone."""
    # A fixed-width panel keeps the 280 px canvas whole; ratio-based columns would clip it on a laptop.
    row = st.container(horizontal=True, gap="medium")
    return row.container(width=CANVAS_PANEL_WIDTH), row.container(width=MODEL_VIEW_WIDTH), row.container()


def show_reading(prediction: Prediction, model_view_column: DeltaGenerator, result_column: DeltaGenerator) -> None:
    """Show the model's input and its answer, or why there is no answer."""
    if prediction.digit is None:
        with result_column:
            st.info(f"{prediction.message} Draw or upload a single digit, large and centred.")
        return
    with model_view_column:
        st.image(pixel_image(prediction.mnist, MODEL_VIEW_SCALE), output_format="PNG",
                 caption="What the model sees: 28 × 28 pixels, centred and scaled like MNIST")
    with result_column:
        st.metric("Prediction", str(prediction.digit), delta=f"{prediction.confidence:.0%} probability",
                  delta_color="off", delta_arrow="off")
        if prediction.is_unsure:
            runner_up = prediction.runner_up
            st.warning(f"The model is unsure: it might also be a {runner_up} "
                       f"({prediction.probabilities[runner_up]:.0%}).")
        st.plotly_chart(probability_chart(prediction.probabilities), config={"displayModeBar": False})


st.title("Draw a digit")

entry = st.session_state.get("selected_model")
if entry is None:
    st.error("There is no model to read digits with. Train one on the Train page, "
             "or restore models/default.keras.")
    st.stop()
try:
    predictor = load_predictor(entry)
except ModelLoadError as error:
    st.error(f"{error} Pick another model in the sidebar, or train one on the Train page.")
    st.stop()

# Only the open tab runs, so strokes on the canvas never re-read an uploaded photo.
draw_tab, upload_tab = st.tabs(["Draw", "Upload"], key="digit_source", on_change="rerun")

with draw_tab:
    if draw_tab.open:
        input_column, model_view_column, result_column = reading_panels()
        with input_column:
            st.caption("Draw with the mouse or a finger. Hover over the canvas for undo and redo.")
            canvas_slot = st.container()  # filled below, once the slider under it has a value
            brush_width = st.slider("Brush width", *canvas.BRUSH_WIDTH_RANGE, value=canvas.DEFAULT_BRUSH_WIDTH,
                                    help="Pen thickness in canvas pixels. Strokes are thinned or thickened "
                                         "to MNIST's width before the model sees them.")
            with canvas_slot:
                drawing = canvas.drawing_canvas(brush_width)
            st.button("Clear", on_click=canvas.clear_drawing, icon=":material/delete:",
                      help="Start again on an empty canvas. Undo is in the canvas toolbar (hover over it).")
        if drawing is None:
            with result_column:
                st.info(DRAW_PROMPT)
        else:
            prediction = predictor.predict_image(drawing)
            show_reading(prediction, model_view_column, result_column)
            why_panel(prediction, predictor, entry)

with upload_tab:
    if upload_tab.open:
        uploaded = st.file_uploader("Photo or scan of one digit", type=["png", "jpg", "jpeg"],
                                    help="Dark ink on light paper or light ink on dark both work.")
        input_column, model_view_column, result_column = reading_panels()
        if uploaded is None:
            with result_column:
                st.info(UPLOAD_PROMPT)
        else:
            try:
                image = decode_image(uploaded.getvalue())
            except ImageRejectedError as error:
                st.error(f"{uploaded.name} cannot be read: {error}")
            else:
                with input_column:
                    st.image(image, caption=uploaded.name, width=280)
                prediction = predictor.predict_image(image)
                show_reading(prediction, model_view_column, result_column)
                why_panel(prediction, predictor, entry)
