"""The Drawings page: the bank's gallery with filters, delete (one drawing or every one that matches; confirmed,
undoable), and export/import (ui/bank_archive.py)."""

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
from digitlab.ui.formatting import counted, format_clock_time, plain_markdown, verb
from digitlab.ui.phone_grid import gallery_cells, phone_grid

GALLERY_COLUMNS = 6
GALLERY_ROWS = 4
PAGE_KEY = "drawings_page"
NOTICE_KEY = "drawings_notice"
CONFIRM_KEY = "drawings_confirm_delete"  # the id whose Delete was pressed and awaits "Yes, delete"
BULK_CONFIRM_KEY = "drawings_confirm_delete_matching"  # (filter, ids counted) whose "Delete all" awaits "Yes"
DELETED_KEY = "drawings_deleted"  # [(ids, UTC time of the delete)]: what this session may still undo, a batch as one
FILTERS_KEY = "drawings-filters"
WRITER_FILTER_KEY = "drawings_writer"
FILTERS_PER_PHONE_ROW = 2
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
    reset = _filters_changed
    # Two to a row on a phone: one to a row, the six filled the screen before the first drawing.
    grid = phone_grid(FILTERS_KEY, per_row=FILTERS_PER_PHONE_ROW)
    label_box, reading_box, verdict_box = grid.columns(3)
    label = label_box.selectbox("Label", DIGITS, format_func=_any_digit, key="drawings_label", on_change=reset)
    reading = reading_box.selectbox("Model's reading", DIGITS, format_func=_any_digit, key="drawings_reading",
                                    on_change=reset)
    verdict = verdict_box.selectbox("Read right or wrong", list(VERDICTS), key="drawings_verdict", on_change=reset,
                                    help="Whether the model that read it when it was saved was right.")
    writer_box, source_box, date_box = grid.columns(3)
    # A writer whose drawings were all just deleted stays the filter, beside the Undo: without it among the options
    # the filter fell back to no filter, and the page offered to delete the whole bank.
    chosen = st.session_state.get(WRITER_FILTER_KEY)
    kept = [chosen] if isinstance(chosen, str) and chosen not in writers else []
    writer = writer_box.selectbox("Writer", [None, *writers, *kept],
                                  format_func=lambda w: "any writer" if w is None else w,
                                  key=WRITER_FILTER_KEY, on_change=reset)
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


def _filters_changed() -> None:
    st.session_state[PAGE_KEY] = 1
    st.session_state.pop(BULK_CONFIRM_KEY, None)  # a "Delete all" confirmed must be for the drawings on screen


def gallery(bank: DrawingBank, where: DrawingFilter) -> None:
    total = bank.count(where)
    if total == 0:
        if dataclasses.replace(where, viewer_session=None) != DrawingFilter():  # the bank may hold others
            st.info("No drawings match these filters. Set a filter back to any to see more.")
        else:
            st.info("No drawings match. Draw a digit on the Draw page and tell DigitLab whether it read it right.")
        return
    per_page = GALLERY_COLUMNS * GALLERY_ROWS
    pages = -(-total // per_page)
    if st.session_state.get(PAGE_KEY, 1) > pages:
        st.session_state[PAGE_KEY] = pages
    counter, picker = st.columns([3, 1])
    counter.caption(f"{counted(total, 'drawing', bold=True)} {verb(total, 'matches', 'match')}, newest first. "
                    "Each caption reads label · model's reading · writer.")
    with counter:
        delete_matching_control(bank, where, total)
    page = picker.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=PAGE_KEY) \
        if pages > 1 else 1
    shown = bank.drawings(where, limit=per_page, offset=(page - 1) * per_page)
    owner, session = viewer_is_owner(), session_tag()
    for column, drawing in gallery_cells("drawings_grid", shown, GALLERY_COLUMNS):
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
    # The bin's time is said in the question, not in a tooltip on "Yes", which covered the question it answers.
    st.markdown(f"Delete drawing #{drawing_id}? It can be brought back for {BIN_MINUTES} minutes.")
    row = st.container(horizontal=True, gap="xsmall")
    row.button("Yes, delete", key=f"confirm_delete_{drawing_id}", type="primary", on_click=_delete, args=(drawing_id,))
    row.button("Keep", key=f"keep_{drawing_id}", on_click=_ask_to_delete, args=(None,))


def delete_matching_control(bank: DrawingBank, where: DrawingFilter, total: int) -> None:
    """"Delete all N matching" (a visitor: its own N), then "Yes, delete N drawings" or "Keep": the drawings go only
    on the second, deliberate click, and only the N counted at the first (a visitor may save more meanwhile)."""
    session = viewer_session()
    asked = st.session_state.get(BULK_CONFIRM_KEY)
    if asked is not None and asked[0] == where:
        confirming = len(asked[1])
        st.markdown(f"{_delete_matching_label(confirming, session)}? {verb(confirming, 'It', 'They')} can be brought "
                    f"back for {BIN_MINUTES} minutes.")
        row = st.container(horizontal=True, gap="xsmall")
        row.button(f"Yes, delete {counted(confirming, 'drawing')}", key="confirm_delete_matching", type="primary",
                   on_click=_delete_matching, args=asked)
        row.button("Keep", key="keep_matching", on_click=_stop_asking)
        return
    deletable = total if session is None else bank.count(dataclasses.replace(where, session=session))
    if deletable == 0:
        return
    st.button(_delete_matching_label(deletable, session), key="delete_matching", icon=":material/delete_sweep:",
              type="tertiary", on_click=_ask_to_delete_matching, args=(where,))


def _delete_matching_label(count: int, session: str | None) -> str:
    """"Delete all 40 matching drawings", "Delete the 1 matching drawing"; a visitor's: "Delete your 3 …"."""
    which = "your" if session is not None else "the" if count == 1 else "all"
    return f"Delete {which} {counted(count, 'matching drawing')}"


def caption(drawing: Drawing) -> str:
    label = "?" if drawing.label is None else str(drawing.label)
    reading = "not read" if drawing.reading is None else f"read {drawing.reading}"
    mark = {True: " ✓", False: " ✗", None: ""}[drawing.correct]
    return f"#{drawing.id}: {label} · {reading}{mark} · {plain_markdown(drawing.writer) if drawing.writer else '-'}"


def _ask_to_delete(drawing_id: int | None) -> None:
    st.session_state[CONFIRM_KEY] = drawing_id


def _ask_to_delete_matching(where: DrawingFilter) -> None:
    """Remember which drawings the question is about: those matching now, so "Yes" deletes no drawing saved since."""
    try:
        ids = drawing_bank().matching_ids(dataclasses.replace(where, session=viewer_session()))
    except DrawingBankError as error:
        st.session_state[NOTICE_KEY] = ("error", str(error))
        return
    st.session_state[BULK_CONFIRM_KEY] = (where, tuple(ids)) if ids else None


def _stop_asking() -> None:
    st.session_state.pop(BULK_CONFIRM_KEY, None)


def _delete(drawing_id: int) -> None:
    st.session_state.pop(CONFIRM_KEY, None)
    try:
        removed = drawing_bank().move_to_bin(drawing_id, session=viewer_session())
    except DrawingBankError as error:
        st.session_state[NOTICE_KEY] = ("error", str(error))
        return
    if removed:
        _remember_deleted([drawing_id])
    else:
        st.session_state[NOTICE_KEY] = ("info", f"Drawing #{drawing_id} was not deleted: it is gone, or not yours "
                                                "to delete.")


def _delete_matching(where: DrawingFilter, confirmed: tuple[int, ...]) -> None:
    st.session_state.pop(BULK_CONFIRM_KEY, None)
    try:  # the drawings counted when asked, those of them still matching: none saved since
        moved = drawing_bank().move_matching_to_bin(where, session=viewer_session(), among=confirmed)
    except DrawingBankError as error:
        st.session_state[NOTICE_KEY] = ("error", str(error))
        return
    gone = len(confirmed) - len(moved)  # deleted or changed by someone else between the two clicks
    if not moved:
        st.session_state[NOTICE_KEY] = ("info", "Nothing was deleted: the drawings you confirmed are gone or changed "
                                                "already.")
        return
    _remember_deleted(moved)
    if gone:
        st.session_state[NOTICE_KEY] = ("info", f"{counted(gone, 'drawing')} of the {len(confirmed):,} you confirmed "
                                                f"{verb(gone, 'was', 'were')} deleted or changed meanwhile, and "
                                                f"{verb(gone, 'is', 'are')} left as {verb(gone, 'it is', 'they are')}.")


def _remember_deleted(drawing_ids: list[int]) -> None:
    """Offer one Undo for drawings just moved to the bin together; an export prepared before no longer matches."""
    _forget_undo(set(drawing_ids))  # brought back elsewhere and deleted again: one Undo for it, this one
    st.session_state[DELETED_KEY] = [*st.session_state.get(DELETED_KEY, []), (tuple(drawing_ids), _now())]
    drop_export()


def _restore(drawing_ids: tuple[int, ...]) -> None:
    _forget_undo(set(drawing_ids))
    try:
        back = drawing_bank().restore_many(drawing_ids, session=viewer_session())
    except DrawingBankError as error:
        st.session_state[NOTICE_KEY] = ("error", str(error))
        return
    drop_export()
    if len(back) == len(drawing_ids):
        message = f"{_named(drawing_ids)} {verb(len(back), 'is', 'are')} back."
    elif back:
        message = (f"{counted(len(back), 'drawing')} of {len(drawing_ids):,} {verb(len(back), 'is', 'are')} back; "
                   f"the others' {BIN_MINUTES} minutes in the bin are over.")
    else:
        message = (f"{_named(drawing_ids)} could not be brought back: {verb(len(drawing_ids), 'its', 'their')} "
                   f"{BIN_MINUTES} minutes in the bin are over.")
    st.session_state[NOTICE_KEY] = ("info", message)


def undo_bar() -> None:
    """An Undo for each delete this session made in the last BIN_MINUTES (the bank keeps them that long): one for a
    drawing, one for all the drawings a "Delete all" took."""
    now = _now()
    recent = [(drawing_ids, when) for drawing_ids, when in st.session_state.get(DELETED_KEY, [])
              if now - when < BIN_TIME]
    st.session_state[DELETED_KEY] = recent
    for drawing_ids, when in recent:
        many = len(drawing_ids)
        row = st.container(horizontal=True, vertical_alignment="center", key=f"deleted_{drawing_ids[0]}")
        row.info(f"{_named(drawing_ids)} {verb(many, 'was', 'were')} deleted. {verb(many, 'It', 'They')} can be "
                 f"brought back until {format_clock_time(when + BIN_TIME, st.context.timezone)}.",
                 icon=":material/delete:")
        row.button("Undo", key=f"undo_delete_{drawing_ids[0]}", icon=":material/undo:", on_click=_restore,
                   args=(drawing_ids,))


def _named(drawing_ids: tuple[int, ...]) -> str:
    """"Drawing #12" for one drawing, "40 drawings" for a batch."""
    return f"Drawing #{drawing_ids[0]}" if len(drawing_ids) == 1 else counted(len(drawing_ids), "drawing")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        (st.error if notice[0] == "error" else st.info)(notice[1])


def _forget_undo(drawing_ids: set[int]) -> None:
    """A drawing this session deleted that an import brought back needs no Undo any more (its batch's others do)."""
    kept = []
    for deleted, when in st.session_state.get(DELETED_KEY, []):
        left = tuple(drawing_id for drawing_id in deleted if drawing_id not in drawing_ids)
        if left:
            kept.append((left, when))
    st.session_state[DELETED_KEY] = kept
