"""The Drawings page: the bank's gallery with filters, delete, and export/import."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import streamlit as st

from digitlab.bank.archive import export_zip, import_file
from digitlab.bank.drawing_checks import SOURCES, DrawingRejectedError
from digitlab.bank.engine import DrawingBankError
from digitlab.bank.records import Drawing, DrawingFilter
from digitlab.bank.repository import DrawingBank
from digitlab.config.database import describe_url
from digitlab.ui.access import viewer_is_owner
from digitlab.ui.bank import drawing_bank, session_tag

GALLERY_COLUMNS = 6
GALLERY_ROWS = 4
PAGE_KEY = "drawings_page"
NOTICE_KEY = "drawings_notice"
EXPORT_KEY = "drawings_export"
DIGITS = [None, *range(10)]
VERDICTS = {"any": None, "right": True, "wrong": False}


def drawings_page() -> None:
    st.title("Drawings")
    try:
        bank = drawing_bank()
        writers = bank.writers()
    except DrawingBankError as error:
        st.error(str(error))
        return
    st.caption("Every drawing someone confirmed or corrected on the Draw page, and any imported. Use them on the "
               "Evaluate page (dataset: drawing bank) to see where a model fails real drawings.")
    where = filters(writers)
    show_notice()
    try:
        gallery(bank, where)
    except DrawingBankError as error:
        st.error(str(error))
        return
    export_section(bank, where)
    if viewer_is_owner():
        import_section(bank)


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
    counter.caption(f"**{total:,}** drawing(s) match, newest first. Each caption reads label · model's reading · "
                    "writer.")
    page = picker.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key=PAGE_KEY) \
        if pages > 1 else 1
    shown = bank.drawings(where, limit=per_page, offset=(page - 1) * per_page)
    owner, session = viewer_is_owner(), session_tag()
    for start in range(0, len(shown), GALLERY_COLUMNS):
        for column, drawing in zip(st.columns(GALLERY_COLUMNS), shown[start : start + GALLERY_COLUMNS]):
            with column.container(key=f"drawing_{drawing.id}"):
                st.image(drawing.png, caption=caption(drawing), width=120)
                if owner or drawing.session == session:
                    st.button("Delete", key=f"delete_{drawing.id}", icon=":material/delete:",
                              on_click=_delete, args=(drawing.id,), type="tertiary")


def caption(drawing: Drawing) -> str:
    label = "?" if drawing.label is None else str(drawing.label)
    reading = "not read" if drawing.reading is None else f"read {drawing.reading}"
    mark = {True: " ✓", False: " ✗", None: ""}[drawing.correct]
    return f"#{drawing.id}: {label} · {reading}{mark} · {drawing.writer or '-'}"


def _delete(drawing_id: int) -> None:
    session = None if viewer_is_owner() else session_tag()  # a visitor deletes only what this session saved
    try:
        removed = drawing_bank().delete(drawing_id, session=session)
    except DrawingBankError as error:
        st.session_state[NOTICE_KEY] = ("error", str(error))
        return
    st.session_state[NOTICE_KEY] = ("info", f"Drawing #{drawing_id} was deleted." if removed else
                                    f"Drawing #{drawing_id} was not deleted: it is gone, or not yours to delete.")
    st.session_state.pop(EXPORT_KEY, None)


def show_notice() -> None:
    notice = st.session_state.pop(NOTICE_KEY, None)
    if notice is not None:
        (st.error if notice[0] == "error" else st.info)(notice[1])


def export_section(bank: DrawingBank, where: DrawingFilter) -> None:
    st.subheader("Export")
    st.caption("A zip of the matching drawings: one PNG each, labels.csv (label, reading, probabilities, model, "
               "source, writer, time) and strokes.json. Import it into another DigitLab on this page.")
    if st.button("Prepare a zip of the matching drawings", icon=":material/archive:", key="drawings_prepare_export"):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "drawings.zip"
            try:
                count = export_zip(bank, path, where)
            except (DrawingBankError, OSError) as error:
                st.error(f"The export failed: {error}")
                return
            st.session_state[EXPORT_KEY] = (count, path.read_bytes())
    prepared = st.session_state.get(EXPORT_KEY)
    if prepared is not None:
        st.download_button(f"Download drawings.zip ({prepared[0]:,} drawings)", prepared[1], "drawings.zip",
                           mime="application/zip", icon=":material/download:", key="drawings_download")


def import_section(bank: DrawingBank) -> None:
    st.subheader("Import")
    st.caption(f"A zip from Export, or pen digits as UNIPEN text (like pendigits-orig.tra), drawn as canvas drawings "
               f"and tagged pen-NN by writer. Into {describe_url(bank.url)}.")
    upload = st.file_uploader("Zip or UNIPEN file", type=["zip", "tra", "txt"], key="drawings_import_file")
    if upload is None or not st.button("Import", icon=":material/upload:", key="drawings_import"):
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / Path(upload.name).name
        path.write_bytes(upload.getvalue())
        try:
            with st.spinner("Importing..."):
                report = import_file(bank, path)
        except (DrawingRejectedError, DrawingBankError) as error:
            st.error(f"Nothing was imported: {error}")
            return
    st.session_state.pop(EXPORT_KEY, None)
    (st.success if report.added else st.warning)(
        f"Imported {len(report.added):,} drawing(s) from {upload.name}."
        + (f" {len(report.problems):,} row(s) were left out." if report.problems else ""))
    if report.problems:
        with st.expander("Rows left out"):
            st.text("\n".join(report.problems[:500]))
