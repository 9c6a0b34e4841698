"""The Drawings page: the bank's gallery with filters, delete (confirmed, undoable), and export/import
(ui/bank_archive.py)."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta, timezone

import streamlit as st

from digitlab.bank.drawing_checks import SOURCES
from digitlab.bank.engine import DrawingBankError
from digitlab.bank.records import Drawing, DrawingFilter
from digitlab.bank.repository import BIN_MINUTES, BIN_TIME, DrawingBank
from digitlab.ui.access import viewer_is_owner
from digitlab.ui.bank import drawing_bank, session_tag, viewer_session
from digitlab.ui.bank_archive import drop_export, export_section, import_section
from digitlab.ui.formatting import counted, format_clock_time, verb

GALLERY_COLUMNS = 6
GALLERY_ROWS = 4
PAGE_KEY = "drawings_page"
NOTICE_KEY = "drawings_notice"
CONFIRM_KEY = "drawings_confirm_delete"  # the id whose Delete was pressed and awaits "Yes, delete"
DELETED_KEY = "drawings_deleted"  # [(id, monotonic time of the delete)]: what this session may still undo
DIGITS = [None, *range(10)]
VERDICTS = {"any": None, "right": True, "wrong": False}


def drawings_page() -> None:
    st.title("Drawings")
    viewer = viewer_session()  # a class's drawings are its teacher's and each student's own, nobody else's
    try:
        bank = drawing_bank()
        writers = bank.writers(viewer_session=viewer)
    except DrawingBankError as error:
        st.error(str(error))
        return
    st.caption("Every drawing someone confirmed or corrected on the Draw page, and any imported. Use them on the "
               "Evaluate page (dataset: drawing bank) to see where a model fails real drawings.")
    where = dataclasses.replace(filters(writers), viewer_session=viewer)
    show_notice()
    undo_bar()
    try:
        gallery(bank, where)
    except DrawingBankError as error:
        st.error(str(error))
        return
    export_section(bank, where)
    if viewer_is_owner():
        import_section(bank, brought_back=_forget_undo)


def filters(writers: list[str]) -> DrawingFilter:
    """The filter widgets; the filter they describe."""
    reset = _first_page
    label_box, reading_box, verdict_box = st.columns(3)
    label = label_box.selectbox("Label", DIGITS, format_func=_any_digit, key="drawings_label", on_change=reset)
    reading = reading_box.selectbox("Model's reading", DIGITS, format_func=_any_digit, key="drawings_reading",
                                    on_change=reset)
    verdict = verdict_box.selectbox("Read right or wrong", list(VERDICTS), key="drawings_verdict", on_change=reset,
                                    help="Whether the model that read it when it was saved was right.")
    writer_box, source_box, date_box = st.columns(3)
    writer = writer_box.selectbox("Writer", [None, *writers], format_func=lambda w: "any writer" if w is None else w,
                                  key="drawings_writer", on_change=reset)
    source = source_box.selectbox("Source", [None, *SOURCES], format_func=lambda s: "any source" if s is None else s,
                                  key="drawings_source", on_change=reset)
    days = date_box.date_input("Saved between", value=(), key="drawings_dates", on_change=reset,
                               help="Pick a first and a last day (UTC); leave empty for any day.")
    since = until = None
    if isinstance(days, (tuple, list)) and len(days) == 2:
        since = datetime.combine(days[0], time(), timezone.utc)
        until = datetime.combine(days[1] + timedelta(days=1), time(), timezone.utc)
    elif isinstance(days, date):
        since, until = datetime.combine(days, time(), timezone.utc), None
    return DrawingFilter(label=label, reading=reading, correct=VERDICTS[verdict], writer=writer, source=source,
                         since=since, until=until)


def _any_digit(digit: int | None) -> str:
    return "any" if digit is None else str(digit)


def _first_page() -> None:
    st.session_state[PAGE_KEY] = 1


def gallery(bank: DrawingBank, where: DrawingFilter) -> None:
    total = bank.count(where)
    if total == 0:
        st.info("No drawings match. Draw a digit on the Draw page and tell DigitLab whether it read it right.")
        return
    per_page = GALLERY_COLUMNS * GALLERY_ROWS
    pages = -(-total // per_page)
    if st.session_state.get(PAGE_KEY, 1) > pages:
        st.session_state[PAGE_KEY] = pages
    counter, picker = st.columns([3, 1])
    counter.caption(f"{counted(total, 'drawing', bold=True)} {verb(total, 'matches', 'match')}, newest first. "
                    "Each caption reads label · model's reading · writer.")
    page = picker.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=PAGE_KEY) \
        if pages > 1 else 1
    shown = bank.drawings(where, limit=per_page, offset=(page - 1) * per_page)
    owner, session = viewer_is_owner(), session_tag()
    for start in range(0, len(shown), GALLERY_COLUMNS):
        for column, drawing in zip(st.columns(GALLERY_COLUMNS), shown[start : start + GALLERY_COLUMNS]):
            with column.container(key=f"drawing_{drawing.id}"):
                st.image(drawing.png, caption=caption(drawing), width=120)
                if owner or drawing.session == session:
                    delete_control(drawing.id)


def delete_control(drawing_id: int) -> None:
    """Delete, then "Yes, delete" or "Keep": a drawing goes only on the second, deliberate click."""
    if st.session_state.get(CONFIRM_KEY) != drawing_id:
        st.button("Delete", key=f"delete_{drawing_id}", icon=":material/delete:", type="tertiary",
                  on_click=_ask_to_delete, args=(drawing_id,))
        return
    st.markdown(f"Delete drawing #{drawing_id}?")
    row = st.container(horizontal=True, gap="xsmall")
    row.button("Yes, delete", key=f"confirm_delete_{drawing_id}", type="primary", on_click=_delete, args=(drawing_id,),
               help=f"It can be brought back for {BIN_MINUTES} minutes.")
    row.button("Keep", key=f"keep_{drawing_id}", on_click=_ask_to_delete, args=(None,))


def caption(drawing: Drawing) -> str:
    label = "?" if drawing.label is None else str(drawing.label)
    reading = "not read" if drawing.reading is None else f"read {drawing.reading}"
    mark = {True: " ✓", False: " ✗", None: ""}[drawing.correct]
    return f"#{drawing.id}: {label} · {reading}{mark} · {drawing.writer or '-'}"


def _ask_to_delete(drawing_id: int | None) -> None:
    st.session_state[CONFIRM_KEY] = drawing_id



def _delete(drawing_id: int) -> None:
    st.session_state.pop(CONFIRM_KEY, None)
    try:
        removed = drawing_bank().move_to_bin(drawing_id, session=viewer_session())
    except DrawingBankError as error:
        st.session_state[NOTICE_KEY] = ("error", str(error))
        return
    if removed:
        st.session_state[DELETED_KEY] = [*st.session_state.get(DELETED_KEY, []), (drawing_id, _now())]
        drop_export()
    else:
        st.session_state[NOTICE_KEY] = ("info", f"Drawing #{drawing_id} was not deleted: it is gone, or not yours "
                                                "to delete.")


def _restore(drawing_id: int) -> None:
    st.session_state[DELETED_KEY] = [entry for entry in st.session_state.get(DELETED_KEY, []) if entry[0] != drawing_id]
    try:
        restored = drawing_bank().restore(drawing_id, session=viewer_session())
    except DrawingBankError as error:
        st.session_state[NOTICE_KEY] = ("error", str(error))
        return
    drop_export()
    st.session_state[NOTICE_KEY] = ("info", f"Drawing #{drawing_id} is back." if restored else
                                    f"Drawing #{drawing_id} could not be brought back: its {BIN_MINUTES} minutes "
                                    "in the bin are over.")


def undo_bar() -> None:
    """An Undo for each drawing this session deleted in the last BIN_MINUTES (the bank keeps them that long)."""
    now = _now()
    recent = [(drawing_id, when) for drawing_id, when in st.session_state.get(DELETED_KEY, [])
              if now - when < BIN_TIME]
    st.session_state[DELETED_KEY] = recent
    for drawing_id, when in recent:
        row = st.container(horizontal=True, vertical_alignment="center", key=f"deleted_{drawing_id}")
        row.info(f"Drawing #{drawing_id} was deleted. It can be brought back until "
                 f"{format_clock_time(when + BIN_TIME, st.context.timezone)}.", icon=":material/delete:")
        row.button("Undo", key=f"undo_delete_{drawing_id}", icon=":material/undo:", on_click=_restore,
                   args=(drawing_id,))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        (st.error if notice[0] == "error" else st.info)(notice[1])


def _forget_undo(drawing_ids: set[int]) -> None:
    """A drawing this session deleted that an import brought back needs no Undo any more."""
    st.session_state[DELETED_KEY] = [entry for entry in st.session_state.get(DELETED_KEY, [])
                                     if entry[0] not in drawing_ids]
