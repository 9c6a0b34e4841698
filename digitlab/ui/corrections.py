"""The Draw page's "Right / Wrong, it's a ..." panel: a reading the user confirms or corrects goes into the bank.

The panel sits outside the per-stroke fragment, in a fragment of its own, and its buttons do not
depend on the reading: a stroke redraws nothing here. Each reading only leaves what the panel needs
in the session (offer_reading), and a button reads the drawing on screen when it is pressed. What
the answer did is shown beside the reading (save_feedback), and only while that drawing is on screen.

One drawing on screen is one record in the bank: the first answer stores it, a different answer
relabels that record, and Take back undoes one answer at a time (back to the label before, then out
of the bank). A drawing the model refused as no digit can be labelled too: that is the drawing a
correction is most for.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from digitlab.serving.predictor import Prediction
from digitlab.ui.bank import (WRITER_KEY, borrowed_writer_tag, drawing_bank, save_drawing, saving_switched_off,
                              session_tag, writer_tag)
from digitlab.ui.class_join import NICKNAME_KEY, class_fields, joined_class
from digitlab.ui.formatting import plain_markdown

ON_SCREEN_KEY = "bank_on_screen"  # the reading now on screen, as offer_reading left it; absent when there is none
# {"id", "drawing", "label", "reading", "writer", "strokes", "earlier"}: this session's last save; "earlier" holds the
# labels that record had before (oldest first), so Take back can give them back one at a time
LAST_SAVE_KEY = "bank_last_save"
WRITER_INPUT_KEY = "bank_writer_input"
WRITER_PROBLEM_KEY = "bank_writer_problem"  # why the tag last typed was not taken
WRITER_POPOVER_KEY = "bank_writer_popover"  # the popover holding the tag's box: open or not
NOTICE_KEY = "bank_notice"  # (drawing key or None, kind, message) shown once beside that drawing
REDRAW_KEY = "bank_redraw"  # set by an answer: the page is redrawn once so its feedback appears
FEEDBACK_KEY = "bank_feedback"  # the container of what an answer did, placed beside the answer buttons by PANEL_CSS

# Where the answer's feedback and the bar stand. The feedback is drawn last in the reading's column (so the metric
# and chart keep their places and are updated in place) and shown first there, just under the bar. On a phone the
# page stacks: the bar comes right after the canvas, its brush and Clear (order 0), before the reading's column
# (order 2, with the feedback at its top, so the bar never moves when an answer is stored) and Why? (the drawing
# area's wrappers give way there, digit_reading.NARROW_SCREEN_CSS, so the bar can stand between its parts).
PANEL_CSS = """<style>
.st-key-bank_feedback, [data-testid="stVerticalBlock"] > :has(> .st-key-bank_feedback) { order: -1; }
@media (max-width: 640px) {
  [data-testid="stVerticalBlock"] > :has(.st-key-bank_panel):not(:has(.st-key-drawing-canvas-slot)) { order: 1; }
  [data-testid="stVerticalBlock"] > .st-key-why_panel,
  [data-testid="stVerticalBlock"] > :has(.st-key-why_panel):not(:has(.st-key-drawing-canvas-slot)) { order: 4; }
}
</style>"""


def offer_reading(prediction: Prediction | None, image: np.ndarray | None, source: str, model_sha256: str | None,
                  sent_png: bytes | None = None, strokes: dict | None = None) -> None:
    """Remember the reading on screen for the panel's buttons (per stroke: one session write, nothing drawn).

    image is the decoded drawing the model read; sent_png and strokes are what the browser sent, kept
    as they came when they are the same drawing. A drawing the model refused as no digit is offered too
    (its reading is None): it can be labelled with the digit it is.
    """
    if prediction is None or prediction.mnist is None:  # nothing the model could look at: no ink, or too little
        st.session_state.pop(ON_SCREEN_KEY, None)
        return
    st.session_state[ON_SCREEN_KEY] = {
        "key": drawing_key(prediction, sent_png), "image": image, "source": source, "sha256": model_sha256,
        "png": sent_png, "strokes": strokes, "reading": prediction.digit, "probabilities": prediction.probabilities,
        "mnist": prediction.mnist}


@st.fragment
def correction_panel() -> None:
    """"Right" or "Wrong, it's a ..." stores the drawing on screen with its label; Take back undoes an answer.

    One compact bar, so it sits above the drawing area where it is seen beside the reading. What an
    answer did is shown just under the bar (save_feedback), beside the drawing it is about.
    """
    if st.session_state.pop(REDRAW_KEY, False):
        st.rerun(scope="app")  # after an answer: the drawing area shows what was stored, beside its drawing
    switched_off = saving_switched_off()
    if switched_off:  # a broken configuration: no bank is opened, so no answer can be stored
        st.warning(switched_off, icon=":material/cloud_off:")
        return
    st.html(PANEL_CSS)
    with st.container(border=True, key="bank_panel"):
        row = st.container(horizontal=True, gap="xsmall", vertical_alignment="center", key="bank_digits")
        row.button("Right", icon=":material/check:", key="bank_right", on_click=_save, args=(None,),
                   help="The model read it right: store the drawing with the digit it read.")
        row.markdown("or wrong, it's a", width="content")
        for digit in range(10):
            row.button(str(digit), key=f"bank_label_{digit}", on_click=_save, args=(digit,),
                       help=f"It is a {digit}: store the drawing with that label.")
        in_class = joined_class() is not None
        if not in_class:  # a student is known to the class by their nickname, in the class bar above
            writer_popover(row)
        problem = None if in_class else st.session_state.get(WRITER_PROBLEM_KEY)
        if problem:  # said at once, not at each answer: the answers go on being stored under the tag in use
            st.error(f"{plain_markdown(problem)} Your answers are stored under {plain_markdown(writer_tag())} until it "
                     "is changed.",
                     icon=":material/badge:")
        st.caption(f"{_where_answers_go(in_class)} Another answer relabels the same drawing; Take back undoes one "
                   "answer at a time.")


def writer_popover(row: DeltaGenerator) -> None:
    """The Writer popover: the tag typed is stored with this session's answers (refused if it names someone else)."""
    with row.popover("Writer", icon=":material/badge:", help="The writer tag stored with your drawings",
                     key=WRITER_POPOVER_KEY, on_change="rerun"):
        # The widget's own state is dropped by Streamlit whenever it is not drawn (Upload chosen,
        # Number mode), so the tag is kept under WRITER_KEY and the box refilled from it.
        st.text_input("Writer tag (optional)", value=st.session_state.get(WRITER_KEY, ""), key=WRITER_INPUT_KEY,
                      on_change=_remember_writer, max_chars=64, placeholder=session_tag(),
                      help="A name or class tag, so a teacher can pool a class's drawings and see where the "
                           "model fails them. Letters, digits, spaces and . @ + - _")


def _where_answers_go(in_class: bool) -> str:
    if not in_class:
        return (f"Your answer stores the drawing on screen in the drawing bank, under the writer tag "
                f"**{plain_markdown(writer_tag())}**, to test and train models on.")
    nickname = st.session_state.get(NICKNAME_KEY)
    shown_as = (f"under your nickname **{plain_markdown(nickname)}**" if nickname else
                f"under no nickname (your teacher sees **{plain_markdown(session_tag())}**; a nickname can be given "
                f"in the class bar above)")
    return f"Your answer stores the drawing on screen in your class's drawings, {shown_as}."


def answer_writer() -> str:
    """The writer tag stored with an answer: in a class, the browser's own, by which the class knows the student
    beside their nickname (a tag typed before joining made a second student of them in the class's fine-tune);
    elsewhere the tag typed, or the browser's."""
    return session_tag() if joined_class() is not None else writer_tag()


def save_feedback() -> None:
    """What the last answer stored for the drawing on screen (with Take back), or why not; just under the bar.

    Call it after offer_reading, whose record of the drawing on screen it reads, in the reading's column:
    PANEL_CSS shows it at the top of that column. Shown only beside the drawing it is about: after a new
    stroke it is gone, so Take back never acts on a drawing other than the one on screen. Costs nothing
    per stroke when there is nothing to say.
    """
    on_screen = st.session_state.get(ON_SCREEN_KEY)
    key = on_screen["key"] if on_screen is not None else None
    last = st.session_state.get(LAST_SAVE_KEY)
    stored = last is not None and key is not None and last["drawing"] == key
    notice = st.session_state.pop(NOTICE_KEY, None)  # shown once, and only beside its own drawing
    shown_notice = notice is not None and notice[0] == key
    if not (stored or shown_notice):
        return
    with st.container(key=FEEDBACK_KEY):
        if shown_notice:
            (st.error if notice[1] == "error" else st.info)(notice[2])
        if stored:
            kept = "the image, its strokes" if last.get("strokes") else "the image"
            verdict = _verdict(last["label"], last["reading"])
            st.success(f"Stored in the drawing bank as drawing #{last['id']} ({verdict}).")
            earlier = last.get("earlier") or []
            back = (f"Give drawing #{last['id']} its label before ({_verdict(earlier[-1], last['reading'])}) again."
                    if earlier else f"Remove drawing #{last['id']} from the bank again.")
            st.button("Take back", icon=":material/undo:", key="bank_take_back", on_click=_take_back, help=back)
            st.caption(f"With {kept} and the model's reading, {_stored_under(last)}.")


def _stored_under(last: dict) -> str:
    """Whom the stored drawing is under, as the bar said it would be: in a class, the student's nickname (the writer
    tag stored beside it is the browser's, which the class does not show)."""
    if not last.get("in_class"):
        return f"under the writer tag {plain_markdown(last['writer'])}"
    if last.get("nickname"):
        return f"in your class's drawings under your nickname {plain_markdown(last['nickname'])}"
    return f"in your class's drawings under no nickname (your teacher sees {plain_markdown(last['writer'])})"


def _verdict(label: int, reading: int | None) -> str:
    """How a stored label stands against the model's reading, in words."""
    if reading is None:
        return f"a {label}, refused as not a digit"
    return "right" if label == reading else f"a {label}, read as {reading}"


def _remember_writer() -> None:
    """Take the typed writer tag if the bank accepts it and it names nobody else; otherwise keep the tag in use and
    say why."""
    from digitlab.bank.drawing_checks import DrawingRejectedError, check_tag

    # A tag typed closes its popover, which covered the bar: the bar's caption names the tag in use, and a refusal
    # is said under the bar.
    st.session_state[WRITER_POPOVER_KEY] = False
    typed = st.session_state.get(WRITER_INPUT_KEY, "")
    try:
        tag = check_tag(typed, "writer")
        problem = borrowed_writer_tag(tag) if tag else None
    except DrawingRejectedError as error:
        problem = str(error)
    if problem:
        st.session_state[WRITER_PROBLEM_KEY] = problem
        return
    st.session_state.pop(WRITER_PROBLEM_KEY, None)
    st.session_state[WRITER_KEY] = typed


def drawing_key(prediction: Prediction, sent_png: bytes | None = None) -> str:
    """Identifies the drawing on screen by what the model saw and, where the browser sent one, the picture itself:
    a new stroke is a new drawing, and so is the same digit drawn again elsewhere on the canvas (a straight 1
    drawn anywhere gives the model the very same 28x28 image)."""
    digest = hashlib.sha256(np.ascontiguousarray(prediction.mnist).tobytes())
    digest.update(sent_png or b"")
    return digest.hexdigest()[:16]


def _save(label: int | None) -> None:
    """Store the drawing on screen with label (None: the model's reading); a second answer relabels it."""
    # Imported here: SQLAlchemy is a tenth of a second the page need not pay before the first save.
    from digitlab.bank.drawing_checks import DrawingRejectedError
    from digitlab.bank.engine import BankSwitchedOffError, DrawingBankError

    st.session_state[REDRAW_KEY] = True
    payload = st.session_state.get(ON_SCREEN_KEY)
    if payload is None:
        st.session_state[NOTICE_KEY] = (None, "info", "Draw a digit first, then say whether the model read it right.")
        return
    if label is None and payload["reading"] is None:  # "Right" about a refusal: no digit to store it as
        st.session_state[NOTICE_KEY] = (payload["key"], "info", "The model read no digit here, so there is nothing "
                                        "to confirm. If it is a digit, click the digit it is.")
        return
    label = payload["reading"] if label is None else label
    last = st.session_state.get(LAST_SAVE_KEY)
    if last is not None and last["drawing"] == payload["key"] and last["label"] == label:
        already = f"This drawing is already stored as drawing #{last['id']}."
        st.session_state[NOTICE_KEY] = (payload["key"], "info", already)
        return
    try:
        # The same drawing answered again: one UPDATE gives the stored row the new label, so a failure leaves
        # it as it was and a success leaves one row, never two with different labels.
        relabelled = (last is not None and last["drawing"] == payload["key"]
                      and drawing_bank().relabel(last["id"], label, session=session_tag()))
        if relabelled:
            saved = {**last, "label": label, "earlier": [*last.get("earlier", []), last["label"]]}
        else:  # a new drawing, or the stored one is gone (deleted on the Drawings page)
            drawing = _prepared(label, payload)
            saved = {"id": save_drawing(drawing), "drawing": payload["key"], "label": label,
                     "reading": payload["reading"], "writer": drawing.writer, "strokes": drawing.strokes is not None,
                     "in_class": drawing.class_id is not None, "nickname": drawing.nickname, "earlier": []}
    except BankSwitchedOffError as error:
        st.session_state[NOTICE_KEY] = (payload["key"], "error", str(error))
        return
    except (DrawingRejectedError, DrawingBankError) as error:
        st.session_state[NOTICE_KEY] = (payload["key"], "error", f"Not saved: {error}")
        return
    st.session_state[LAST_SAVE_KEY] = saved


def _prepared(label: int, payload: dict):
    """The drawing to store: from the PNG and strokes as sent when they are what the model read, else the image."""
    from digitlab.bank.drawing_checks import encode_png, prepare_drawing

    fields = dict(writer=answer_writer(), session=session_tag(), reading=payload["reading"],
                  probabilities=payload["probabilities"], model_sha256=payload["sha256"], **class_fields())
    if payload["png"] is not None:
        drawing = prepare_drawing(payload["png"], label, payload["source"], strokes=payload["strokes"], **fields)
        if np.array_equal(drawing.mnist, payload["mnist"]):
            return drawing
    return prepare_drawing(encode_png(payload["image"]), label, payload["source"], **fields)


def _take_back() -> None:
    """Undo the last answer for the drawing on screen: back to the label it had before, or out of the bank."""
    from digitlab.bank.drawing_checks import DrawingRejectedError
    from digitlab.bank.engine import DrawingBankError

    last = st.session_state.pop(LAST_SAVE_KEY, None)
    if last is None:
        return
    earlier = last.get("earlier") or []
    try:
        if earlier:
            done = drawing_bank().relabel(last["id"], earlier[-1], session=session_tag())
        else:
            done = drawing_bank().delete(last["id"], session=session_tag())
    except (DrawingRejectedError, DrawingBankError) as error:
        st.session_state[LAST_SAVE_KEY] = last
        st.session_state[NOTICE_KEY] = (last["drawing"], "error", f"Not taken back: {error}")
        return
    if not done:  # deleted meanwhile (the Drawings page): nothing is left to take back
        message = f"Drawing #{last['id']} was already gone from the bank."
    elif earlier:
        st.session_state[LAST_SAVE_KEY] = {**last, "label": earlier[-1], "earlier": earlier[:-1]}
        message = f"Drawing #{last['id']} is back to its label before: {_verdict(earlier[-1], last['reading'])}."
    else:
        message = f"Drawing #{last['id']} was removed from the bank."
    st.session_state[NOTICE_KEY] = (last["drawing"], "info", message)
