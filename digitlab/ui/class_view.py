"""The Class page (the owner's alone): make a class and its link, close it, and watch what the class draws.

What the class drew is counted live from the bank (digitlab.bank.class_summary), refreshed every few
seconds while the page is open: per digit and per student, the corrections, the confusion matrix of the
model's readings against the students' labels (a click on a cell shows those drawings, as on the
Evaluate page), and the drawings the model found hardest. Below: fine-tune on the class, and export.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from digitlab.bank.class_summary import ClassSummary, summarise_class
from digitlab.bank.classes import ClassBook, SchoolClass, display_code
from digitlab.bank.drawing_checks import DrawingRejectedError
from digitlab.bank.engine import DrawingBankError
from digitlab.bank.records import Drawing, DrawingFilter
from digitlab.bank.repository import DrawingBank
from digitlab.ui.access import viewer_is_owner
from digitlab.ui.bank import drawing_bank
from digitlab.ui.bank_archive import export_section
from digitlab.ui.class_training import class_fine_tune_section
from digitlab.ui.class_join import CLASS_PARAMETER
from digitlab.ui.class_student import describe_struggles
from digitlab.ui.evaluate_mistakes import selected_cell
from digitlab.ui.figures.evaluation import confusion_figure
from digitlab.ui.formatting import counted, percent, plain_markdown
from digitlab.ui.phone_grid import gallery_cells

CLASS_PAGE_PATH = "class"  # the page's url_path in app.py
CHOSEN_KEY = "class_page_chosen"  # the id of the class shown
JUST_MADE_KEY = "class_page_just_made"  # (name, id) of the class this session made last
CODES_KEY = "class_page_codes"  # {class id: join code} made in this session: the bank keeps only their hashes
CHART_KEY = "class_confusion_chart"
CELL_KEY = "class_confusion_cell"  # (label, reading) of the cell clicked
HARDEST_PANEL_KEY = "class_hardest_panel"
LIVE_REFRESH_SECONDS = 3.0
GALLERY_COLUMNS = 8
CELL_DRAWINGS_SHOWN = 24


def class_page() -> None:
    st.title("Class")
    if not viewer_is_owner():
        st.info("The Class page is for the teacher who owns this deployment: sign in as the owner in the sidebar.")
        return
    st.caption("Share DigitLab with a class: make a class, give the students its link, and watch what they draw "
               "and where the model struggles with it.")
    try:
        bank = drawing_bank()
        book = ClassBook(bank)
        create_form(book)
        chosen = choose_class(book.all())
    except DrawingBankError as error:
        st.error(str(error))
        return
    if chosen is None:
        return
    link_and_controls(book, chosen)
    live = st.fragment(_live_summary, run_every=LIVE_REFRESH_SECONDS if chosen.is_open else None)
    live(chosen.id)
    class_fine_tune_section(bank, chosen)
    export_section(bank, DrawingFilter(class_id=chosen.id))


def create_form(book: ClassBook) -> None:
    with st.expander("Make a class", icon=":material/add:"):
        with st.form("class_create", border=False, enter_to_submit=True):
            name = st.text_input("Class name", max_chars=64, placeholder="e.g. 7B maths, Tuesday")
            made = st.form_submit_button("Make the class and its link")
    if not made:
        return
    just_made = st.session_state.get(JUST_MADE_KEY)
    if just_made is not None and just_made[0] == name.strip() and _still_open(book, just_made[1]):
        # Enter made it, and then the button was clicked too: not a second class of the name, and no error
        st.session_state[CHOSEN_KEY] = just_made[1]
        st.info(f"The class {plain_markdown(just_made[0])} was made just now: its link is below.")
        return
    try:
        school_class, code = book.create(name)
    except DrawingRejectedError as error:
        st.error(str(error))
        return
    st.session_state.setdefault(CODES_KEY, {})[school_class.id] = code
    st.session_state[CHOSEN_KEY] = school_class.id
    st.session_state[JUST_MADE_KEY] = (school_class.name, school_class.id)


def _still_open(book: ClassBook, class_id: int) -> bool:
    school_class = book.get(class_id)
    return school_class is not None and school_class.is_open


def choose_class(classes: list[SchoolClass]) -> SchoolClass | None:
    if not classes:
        st.info("There is no class yet. Make one above: you get a link to give your students.")
        return None
    by_id = {school_class.id: school_class for school_class in classes}
    if st.session_state.get(CHOSEN_KEY) not in by_id:
        st.session_state[CHOSEN_KEY] = classes[0].id
    chosen = st.selectbox("Class", list(by_id), key=CHOSEN_KEY, format_func=lambda class_id: _describe(by_id[class_id]))
    return by_id[chosen]


def _describe(school_class: SchoolClass) -> str:
    state = "open" if school_class.is_open else f"closed {school_class.closed_at:%Y-%m-%d %H:%M} UTC"
    return f"{school_class.name} (made {school_class.created_at:%Y-%m-%d}, {state})"


def class_link(code: str) -> str:
    """The link a student opens: the Draw page of this deployment with the class's code."""
    base = (st.context.url or "http://localhost:8501").split("?")[0].rstrip("/")
    if base.endswith(f"/{CLASS_PAGE_PATH}"):
        base = base[: -len(CLASS_PAGE_PATH) - 1]
    return f"{base}/?{CLASS_PARAMETER}={code}"


def link_and_controls(book: ClassBook, chosen: SchoolClass) -> None:
    """The link to give the class (while this session knows the code), a new code, and Close or Reopen."""
    code = st.session_state.get(CODES_KEY, {}).get(chosen.id)
    if not chosen.is_open:
        st.warning("This class is closed: it takes no more drawings and nobody can join it.", icon=":material/lock:")
    elif code:
        st.markdown(f"Give the students this link (join code **{display_code(code)}**):")
        st.code(class_link(code), language=None)
        st.caption("The code is shown only here and now: the bank keeps a hash of it, not the code. If you lose it, "
                   "make a new one (the old link then stops working).")
    else:
        st.caption("The join code was shown when it was made; the bank keeps only its hash. Make a new one to share "
                   "the class again (the old link stops working).")
    row = st.container(horizontal=True)
    if chosen.is_open:
        if row.button("New join code", icon=":material/key:", key="class_new_code"):
            fresh = book.new_code(chosen.id)
            if fresh:
                st.session_state.setdefault(CODES_KEY, {})[chosen.id] = fresh
                st.rerun()
        if row.button("Close the class", icon=":material/lock:", key="class_close",
                      help="No more drawings are taken and nobody can join; what was drawn stays."):
            book.close(chosen.id)
            st.rerun()
    elif row.button("Reopen the class", icon=":material/lock_open:", key="class_reopen"):
        try:
            book.reopen(chosen.id)
        except DrawingRejectedError as error:  # another open class has its name
            st.error(str(error))
            return
        st.rerun()


def _live_summary(class_id: int) -> None:
    try:
        bank = drawing_bank()
        summary = summarise_class(bank, class_id)
    except DrawingBankError as error:
        st.error(str(error))
        return
    show_counts(summary)
    if summary.read:
        show_confusion(bank, class_id, summary)
    show_hardest(bank, summary)


def show_counts(summary: ClassSummary) -> None:
    drawn, students, corrected, right = st.columns(4)
    drawn.metric("Drawings", f"{summary.drawn:,}")
    students.metric("Students", f"{len(summary.students):,}")
    corrected.metric("Corrected", f"{summary.corrected:,}", help="Drawings the model misread and a student "
                     "corrected (Wrong, it's a ...).")
    right.metric("Read right", percent(summary.read_right / summary.read) if summary.read else "–",
                 help="Of the labelled drawings the model read when they were drawn.")
    if summary.drawn == 0:
        st.info("No drawings yet. When students open the link, draw and answer Right or Wrong, they appear here.")
        return
    per_digit, per_student = st.columns([2, 3])
    per_digit.dataframe(pd.DataFrame({"Digit": [str(digit) for digit in range(10)],
                                      "Drawings": summary.per_digit.tolist()}),
                        hide_index=True, key="class_per_digit")
    per_student.dataframe(pd.DataFrame([{"Student": student.name, "Drawings": student.drawn,
                                         "Read right": student.read_right, "Corrected": student.corrected}
                                        for student in summary.students]),
                          hide_index=True, key="class_per_student")


def show_confusion(bank: DrawingBank, class_id: int, summary: ClassSummary) -> None:
    """The model's readings against the students' labels; a click on a cell shows its drawings."""
    st.subheader("Confusion matrix")
    st.caption("Rows are the digit the student meant, columns what the model read when it was drawn. Click a cell "
               "to see those drawings.")
    cell = st.session_state.get(CELL_KEY)
    st.plotly_chart(confusion_figure(summary.confusion, highlight=cell), key=CHART_KEY, on_select=_remember_cell,
                    selection_mode="points", config={"displayModeBar": False}, width="content")
    if cell is None:
        return
    label, reading = cell
    drawings = bank.drawings(DrawingFilter(class_id=class_id, label=label, reading=reading),
                             limit=CELL_DRAWINGS_SHOWN)
    st.caption(f"{counted(int(summary.confusion[label, reading]), 'drawing', bold=True)} of a {label} read as {reading}"
               + (f"; the newest {CELL_DRAWINGS_SHOWN} shown." if len(drawings) == CELL_DRAWINGS_SHOWN else "."))
    gallery(drawings, "class_cell_grid")


def _remember_cell() -> None:
    cell = selected_cell(st.session_state.get(CHART_KEY))
    if cell is not None:
        st.session_state[CELL_KEY] = cell


def show_hardest(bank: DrawingBank, summary: ClassSummary) -> None:
    """The digits the model read worst for this class, and (on opening) the drawings it found hardest."""
    if not summary.hardest_digits:
        return
    st.subheader("Hardest digits")
    struggles = describe_struggles(summary)
    st.markdown(f"Misread at least once, hardest first: {struggles}." if struggles else
                "The model read every digit of the class right so far.")
    st.dataframe(pd.DataFrame([{"Digit": str(item.digit), "Drawings": item.drawn, "Read right": item.read_right,
                                "Share right": 100 * item.right_share,
                                "Mean sureness": None if item.mean_sureness is None else 100 * item.mean_sureness}
                               for item in summary.hardest_digits]),
                 hide_index=True, key="class_hardest_digits", column_config={
                     "Share right": st.column_config.NumberColumn(format="%.0f%%"),
                     "Mean sureness": st.column_config.NumberColumn(
                         format="%.0f%%", help="The probability the model gave the digit the student meant.")})
    panel = st.expander("The drawings the model found hardest", key=HARDEST_PANEL_KEY, on_change="rerun")
    if panel.open:
        with panel:
            st.caption("Wrong readings first, then the least sure right ones. Each caption reads meant → read · "
                       "student.")
            gallery([drawing for drawing in map(bank.get, summary.hardest_ids) if drawing is not None],
                    "class_hardest_grid")


def gallery(drawings: list[Drawing], key: str) -> None:
    """The drawings in a grid under key (the cell's and the hardest drawings' stand on the page together)."""
    for column, drawing in gallery_cells(key, drawings, GALLERY_COLUMNS):
        reading = "?" if drawing.reading is None else drawing.reading
        who = plain_markdown(drawing.nickname or drawing.writer or "-")
        column.image(drawing.png, width=96, caption=f"{drawing.label} → {reading} · {who}")
