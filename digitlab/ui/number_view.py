"""Number mode of the Draw page: draw or upload a whole number and see every digit read."""

from __future__ import annotations

import streamlit as st

from digitlab.serving.images import ImageRejectedError, decode_image
from digitlab.serving.number_reading import read_number
from digitlab.serving.number_segmentation import NumberReading
from digitlab.ui import canvas
from digitlab.ui.loaders import load_number_reader
from digitlab.ui.figures.probabilities import pixel_image
from digitlab.ui.figures.numbers import digit_probability_charts, reading_overlay
from digitlab.ui.input_source import DRAW, NUMBER_UPLOAD_KEY, uploaded_file

NUMBER_DRAW_PROMPT = ("Write a number on the wide black strip: a year, a price, a house number. "
                      "Every digit is read after each stroke.")
NUMBER_UPLOAD_PROMPT = "Upload a PNG or JPEG photo or scan of a handwritten number, on one line."
# The number strip is 800 px wide: on a phone more than half of it lies beyond the screen's right edge,
# where nothing showed that it went on. A note shown on narrow screens only says so and what to do.
NARROW_SCREEN_NOTE = ("The strip is wider than this screen: turn the phone sideways to see all of it, "
                      "or write the number small, starting at the left.")
NARROW_SCREEN_CSS = """<style>
.st-key-number-phone-note { display: none; }
@media (max-width: 640px) { .st-key-number-phone-note { display: block; } }
</style>"""
ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth")


def show_number_mode(predictor, source: str) -> None:
    """Number mode: a wide canvas or a photo (source: input_source.DRAW or UPLOAD), then the number, boxes over the
    input and bars per digit."""
    reader, _ = load_number_reader()  # without one, the ink is cut into digits (the README says how to train one)
    if source == DRAW:
        st.caption(f"Draw with the mouse or a finger. {canvas.TOOLBAR_HINT}")  # as One digit mode says
        st.html(NARROW_SCREEN_CSS)
        st.container(key="number-phone-note").warning(NARROW_SCREEN_NOTE, icon=":material/swap_horiz:")
        # The brush and Clear above the strip, where One digit mode has them above its canvas.
        controls = st.container(horizontal=True, vertical_alignment="bottom")
        brush_width = controls.slider("Brush width", *canvas.BRUSH_WIDTH_RANGE, value=canvas.DEFAULT_BRUSH_WIDTH,
                                      width=300, help="Pen thickness in canvas pixels.")
        with controls:
            canvas.clear_button(canvas.NUMBER)  # empties the strip in the browser: a stroke right after it is kept
        with st.container(key=canvas.NUMBER.slot_key):
            drawn = canvas.number_canvas(brush_width)
        if drawn is None:
            st.info(NUMBER_DRAW_PROMPT)
        else:
            image, strokes = drawn
            show_number(image, read_number(predictor, image, strokes or None, reader), show_input=False)
    else:
        upload = uploaded_file("Photo or scan of a number", NUMBER_UPLOAD_KEY, type=["png", "jpg", "jpeg"],
                               help="Dark ink on light paper or light ink on dark both work.")
        if upload is None:
            st.info(NUMBER_UPLOAD_PROMPT)
            return
        try:
            image = decode_image(upload.data)
        except ImageRejectedError as error:
            st.error(f"{upload.name} cannot be read: {error}")
            return
        show_number(image, read_number(predictor, image, reader=reader), show_input=True)


def show_number(image, reading: NumberReading, show_input: bool) -> None:
    """The number in large type, the input with boxes, the least certain digit, and bars per digit."""
    if reading.number is None:
        st.info(f"{reading.message} Write the digits side by side, about the same size.")
        if reading.others:
            st.image(reading_overlay(image, reading), caption="Grey boxes: ink that is not a digit")
        return
    st.metric("Number", reading.number)
    caption = "Green boxes: the digits read."
    if reading.least_certain:
        caption += " Amber: where the model is least sure."
    if reading.others:
        caption += " Grey: ink that is not a digit."
    st.image(reading_overlay(image, reading), caption=caption, width="stretch" if show_input else "content")
    least = {index: reading.digits[index].prediction for index in reading.least_certain}
    if least:
        notes = [f"the {_ordinal(index)} digit, read as {digit.digit} ({digit.confidence:.0%})"
                 + (f", might also be a {digit.runner_up} ({digit.probabilities[digit.runner_up]:.0%})"
                    if digit.is_unsure else "") for index, digit in least.items()]
        note = "Least certain: " + "; ".join(notes) + "."
        (st.warning if any(digit.is_unsure for digit in least.values()) else st.caption)(note)
    if reading.others:
        count = len(reading.others)
        st.info(f"{count} {'mark is' if count == 1 else 'marks are'} not a digit and left out of the number "
                f"({reading.others[0].reason}).")
    st.plotly_chart(digit_probability_charts(reading), config={"displayModeBar": False}, key="number-digit-charts")
    columns = st.columns(min(len(reading.digits), 10))
    for index, digit in enumerate(reading.digits):
        with columns[index % len(columns)]:
            st.image(pixel_image(digit.prediction.mnist, 3), output_format="PNG",
                     caption=f"{_ordinal(index)}: {digit.digit}")


def _ordinal(index: int) -> str:
    return ORDINALS[index] if index < len(ORDINALS) else f"#{index + 1}"
