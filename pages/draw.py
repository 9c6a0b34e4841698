"""Draw page: draw a digit (or upload a photo of one) and see what the model reads."""

import streamlit as st

from digitlab.serving.images import ImageRejectedError, decode_image
from digitlab.store.registry import ModelLoadError
from digitlab.ui import number_view
from digitlab.ui.corrections import correction_panel, offer_reading, save_feedback
from digitlab.ui.digit_reading import SENT_IMAGE_KEY, UPLOAD_AGAIN, drawing_area, reading_panels, show_reading
from digitlab.ui.figures.probabilities import on_checkerboard, pixel_image
from digitlab.ui.input_source import DRAW, ONE_DIGIT_UPLOAD_KEY, input_source, uploaded_file
from digitlab.ui.loaders import load_predictor
from digitlab.ui.read_mode import A_NUMBER, read_mode_switch, read_mode_title
from digitlab.ui.why_panel import why_panel
from digitlab.ui.class_student import class_for_this_session

UPLOAD_PROMPT = "Upload a PNG or JPEG photo or scan of one handwritten digit."

read_mode_title()
class_for_this_session()  # a ?class= link joins its class; a student in one sees how the model read them

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

switches = st.container(horizontal=True, gap="medium")  # what to read, and from where, on one row
mode, source = read_mode_switch(switches), input_source(switches)
if mode == A_NUMBER:
    number_view.show_number_mode(predictor, source)
    st.stop()

# Only the chosen input runs, so strokes on the canvas never re-read an uploaded photo. Each stands in a
# container of its own, which the phone layout's rules (digit_reading, corrections) take as the page's body.
if source == DRAW:
    with st.container():
        correction_panel()  # its own fragment, above the drawing: its buttons act on the drawing on screen
        drawing_area(predictor, entry)  # a fragment: a stroke reruns only the drawing area
else:
    with st.container():
        upload = uploaded_file("Photo or scan of one digit", ONE_DIGIT_UPLOAD_KEY, type=["png", "jpg", "jpeg"],
                               help="Dark ink on light paper or light ink on dark both work.")
        answer_slot = st.container()  # the Right/Wrong bar, above the reading as under Draw
        input_column, model_view_column, result_column = reading_panels()
        sent = st.session_state.get(SENT_IMAGE_KEY)
        if upload is None and sent is not None:  # an image another page (Evaluate) sent here to be read
            image, caption = sent
            with input_column:
                st.image(pixel_image(image, 10, grid=False) if image.shape == (28, 28) else image, caption=caption,
                         width=280)
            # An MNIST image is read as it is, as Evaluate read it: preprocessed again, its ink moved and the
            # Draw page gave other percentages for the same image.
            prediction = predictor.read_mnist(image) if image.shape == (28, 28) else predictor.predict_image(image)
            show_reading(prediction, model_view_column, result_column, UPLOAD_AGAIN)
            offer_reading(None, None, "upload", entry.sha256)  # not the visitor's drawing: nothing to store
            why_panel(prediction, predictor, entry)
        elif upload is None:
            with result_column:
                st.info(UPLOAD_PROMPT)
        else:
            try:
                image = decode_image(upload.data)
            except ImageRejectedError as error:
                st.error(f"{upload.name} cannot be read: {error}")
            else:
                with input_column:
                    st.image(on_checkerboard(image), caption=upload.name, width=280)
                prediction = predictor.predict_image(image)
                show_reading(prediction, model_view_column, result_column, UPLOAD_AGAIN)
                offer_reading(prediction, image, "upload", entry.sha256, upload.data)
                with result_column:
                    save_feedback()
                why_panel(prediction, predictor, entry)
                if prediction.mnist is not None:  # a digit read, or a refusal to label with the digit it is
                    with answer_slot:
                        correction_panel()
