"""The Draw page's "Right / Wrong, it's a ..." panel: a reading the user confirms or corrects goes into the bank."""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from digitlab.drawings import DrawingBankError, DrawingRejectedError, encode_png, prepare_drawing
from digitlab.inference import Prediction
from digitlab.ui.bank import WRITER_KEY, drawing_bank, session_tag, visitor_limits, writer_tag

LAST_SAVE_KEY = "bank_last_save"  # {"id", "drawing", "label", "reading"} of this session's last save
WRITER_INPUT_KEY = "bank_writer_input"
NOTICE_KEY = "bank_notice"  # (drawing key, kind, message) shown once under the buttons


def correction_panel(prediction: Prediction, image: np.ndarray, source: str, model_sha256: str | None,
                     sent_png: bytes | None = None, strokes: dict | None = None) -> None:
    """Under a reading: "Right" or "Wrong, it's a ..." stores the drawing with its label; the last save can be undone.

    image is the decoded drawing the model read; sent_png and strokes are what the browser sent, kept
    as they came when they are the same drawing.
    """
    if prediction.digit is None:
        return
    key = drawing_key(prediction)
    payload = {"key": key, "image": image, "source": source, "sha256": model_sha256, "png": sent_png,
               "strokes": strokes, "reading": prediction.digit, "probabilities": prediction.probabilities,
               "mnist": prediction.mnist}
    last = st.session_state.get(LAST_SAVE_KEY)
    with st.container(border=True, key="bank_panel"):
        if last is not None and last["drawing"] == key:
            verdict = "right" if last["label"] == last["reading"] else f"a {last['label']}, read as {last['reading']}"
            st.success(f"Stored in the drawing bank as drawing #{last['id']} ({verdict}), with the image, its strokes "
                       f"and the model's reading, under the writer tag {last['writer']}.")
            st.button("Undo", icon=":material/undo:", key="bank_undo", on_click=_undo_last_save,
                      help="Remove this drawing from the bank again.")
        else:
            st.caption(f"Was the model right? Your answer stores this drawing in the drawing bank, "
                       f"under the writer tag **{writer_tag()}**, to test and train models on.")
            st.button(f"Right, it's a {prediction.digit}", icon=":material/check:", key="bank_right",
                      on_click=_save, args=(prediction.digit, payload))
            st.caption("Wrong, it's a …")
            row = st.container(horizontal=True, gap="small", key="bank_digits")
            for digit in range(10):
                row.button(str(digit), key=f"bank_label_{digit}", on_click=_save, args=(digit, payload),
                           disabled=digit == prediction.digit, help=f"It is a {digit}: store it with that label.")
            # The widget's own state is dropped by Streamlit whenever the panel is not drawn (after a
            # save, on an empty canvas), so the tag is kept under WRITER_KEY and the box refilled from it.
            st.text_input("Writer tag (optional)", value=st.session_state.get(WRITER_KEY, ""), key=WRITER_INPUT_KEY,
                          on_change=_remember_writer, max_chars=64, placeholder=session_tag(), help="A name or class tag, so a teacher can pool a class's "
                          "drawings and see where the model fails them. Letters, digits, spaces and . @ + - _")
        notice = st.session_state.get(NOTICE_KEY)
        if notice is not None and notice[0] in (key, None):
            kind, message = notice[1], notice[2]
            (st.error if kind == "error" else st.info)(message)


def _remember_writer() -> None:
    st.session_state[WRITER_KEY] = st.session_state.get(WRITER_INPUT_KEY, "")


def drawing_key(prediction: Prediction) -> str:
    """Identifies the drawing on screen by what the model saw: a new stroke is a new drawing."""
    return hashlib.sha256(np.ascontiguousarray(prediction.mnist).tobytes()).hexdigest()[:16]


def _save(label: int, payload: dict) -> None:
    st.session_state.pop(NOTICE_KEY, None)
    try:
        drawing = _prepared(label, payload)
        drawing_id = drawing_bank().add(drawing, visitor_limits())
    except (DrawingRejectedError, DrawingBankError) as error:
        st.session_state[NOTICE_KEY] = (payload["key"], "error", f"Not saved: {error}")
        return
    st.session_state[LAST_SAVE_KEY] = {"id": drawing_id, "drawing": payload["key"], "label": label,
                                       "reading": payload["reading"], "writer": drawing.writer}


def _prepared(label: int, payload: dict):
    """The drawing to store: from the PNG and strokes as sent when they are what the model read, else the image."""
    fields = dict(writer=writer_tag(), session=session_tag(), reading=payload["reading"],
                  probabilities=payload["probabilities"], model_sha256=payload["sha256"])
    if payload["png"] is not None:
        drawing = prepare_drawing(payload["png"], label, payload["source"], strokes=payload["strokes"], **fields)
        if np.array_equal(drawing.mnist, payload["mnist"]):
            return drawing
    return prepare_drawing(encode_png(payload["image"]), label, payload["source"], **fields)


def _undo_last_save() -> None:
    last = st.session_state.pop(LAST_SAVE_KEY, None)
    if last is None:
        return
    try:
        removed = drawing_bank().delete(last["id"], session=session_tag())
    except DrawingBankError as error:
        st.session_state[LAST_SAVE_KEY] = last
        st.session_state[NOTICE_KEY] = (last["drawing"], "error", f"Not undone: {error}")
        return
    message = (f"Drawing #{last['id']} was removed from the bank." if removed
               else f"Drawing #{last['id']} was already gone from the bank.")
    st.session_state[NOTICE_KEY] = (last["drawing"], "info", message)
