"""A drawing bank's zip export and file import, on the Drawings page and (export) the Class page.

An export is written to a temp file on the server's disk and offered from there: the session keeps only
its path, and the bytes are read when the download is clicked, so a full bank is never held per visitor.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
import time as clock
import uuid
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from digitlab.bank.archive import export_zip, import_file
from digitlab.bank.drawing_checks import DrawingRejectedError
from digitlab.bank.engine import DrawingBankError
from digitlab.bank.records import DrawingFilter
from digitlab.bank.repository import DrawingBank
from digitlab.config.database import describe_url

EXPORT_KEY = "drawings_export"  # {"path", "count", "where"} of this session's prepared zip: never its bytes
IMPORT_REPORT_KEY = "drawings_import_report"  # what the last import did, shown once after the page reruns
EXPORT_KEEP_SECONDS = 3600  # a prepared zip nobody replaced is removed from the disk after this long
MAX_KEPT_EXPORTS = 8  # prepared zips kept on the server's disk at once, all sessions together


def export_section(bank: DrawingBank, where: DrawingFilter) -> None:
    st.subheader("Export")
    st.caption("A zip of the matching drawings: one PNG each, labels.csv (label, reading, probabilities, model, "
               "source, writer, time) and strokes.json. Import it into another DigitLab on its Drawings page.")
    prepared = st.session_state.get(EXPORT_KEY)
    if prepared is not None and (prepared["where"] != where or not Path(prepared["path"]).is_file()):
        drop_export()  # made for other filters (or swept away): offering it would hand over the wrong drawings
        prepared = None
    if st.button("Prepare a zip of the matching drawings", icon=":material/archive:", key="drawings_prepare_export"):
        drop_export()
        path = _new_export_path()
        try:
            with st.spinner("Writing the zip..."):
                count = export_zip(bank, path, where)
        except (DrawingBankError, OSError) as error:
            st.error(f"The export failed: {error}")
            return
        prepared = st.session_state[EXPORT_KEY] = {"path": str(path), "count": count, "where": where}
    if prepared is not None:
        # A callable: Streamlit reads the file only when the button is clicked, and lets the bytes go after.
        # on_click="ignore": a rerun started by the click could sweep the file just generated (it is held for no
        # session) before the browser fetches it, and the download would silently not happen.
        st.download_button(f"Download drawings.zip ({prepared['count']:,} drawings)",
                           functools.partial(_read_export, prepared["path"]), "drawings.zip", mime="application/zip",
                           icon=":material/download:", key="drawings_download", on_click="ignore")
        megabytes = Path(prepared["path"]).stat().st_size / 2**20
        if megabytes > upload_limit_mb():
            st.info(f"This zip is {megabytes:.1f} MB, and the Drawings page's Import takes files up to "
                    f"{upload_limit_mb()} MB. Import it with `python -m digitlab drawings import drawings.zip`, or "
                    f"export fewer drawings at a time (the Drawings page exports one writer's or one label's).")


def upload_limit_mb() -> int:
    """The largest file this server accepts (server.maxUploadSize, .streamlit/config.toml), in MB."""
    return int(st.get_option("server.maxUploadSize"))


@functools.cache
def _export_folder() -> Path:
    """This server process's folder of prepared zips, in the system's temp folder; removed when the process ends."""
    folder = Path(tempfile.mkdtemp(prefix="digitlab-exports-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _new_export_path() -> Path:
    """A fresh path for a zip, after removing the zips older than EXPORT_KEEP_SECONDS (sessions that went away)
    and, beyond the newest MAX_KEPT_EXPORTS - 1, the oldest: each is a copy of up to the whole bank, and
    visitors opening new sessions could otherwise fill the server's disk within the hour."""
    folder = _export_folder()
    kept = []
    for old in folder.glob("*.zip"):
        try:
            if not old.name.startswith(".") and clock.time() - old.stat().st_mtime > EXPORT_KEEP_SECONDS:
                old.unlink()
            elif not old.name.startswith("."):
                kept.append((old.stat().st_mtime, old))
        except OSError:  # another session removed it first
            pass
    for _, old in sorted(kept)[:max(0, len(kept) - (MAX_KEPT_EXPORTS - 1))]:
        old.unlink(missing_ok=True)  # its session's Download is dropped on its next run (the file is gone)
    return folder / f"{uuid.uuid4().hex}.zip"


def _read_export(path: str) -> bytes:
    return Path(path).read_bytes()


def drop_export() -> None:
    """Forget this session's prepared zip and remove its file."""
    prepared = st.session_state.pop(EXPORT_KEY, None)
    if prepared is not None:
        Path(prepared["path"]).unlink(missing_ok=True)


def import_section(bank: DrawingBank, brought_back: Callable[[set[int]], None] | None = None) -> None:
    """The upload and Import button; brought_back hears the ids of drawings an import took out of the bin."""
    st.subheader("Import")
    st.caption(f"A zip from Export, or pen digits as UNIPEN text (like pendigits-orig.tra), drawn as canvas drawings "
               f"and tagged pen-NN by writer. Drawings the bank already holds (same image, label and writer) are "
               f"skipped, so importing a file twice adds nothing. Into {describe_url(bank.url)}. Files up to "
               f"{upload_limit_mb()} MB here; a larger one with `python -m digitlab drawings import FILE`.")
    upload = st.file_uploader("Zip or UNIPEN file", type=["zip", "tra", "txt"], key="drawings_import_file")
    show_import_report()
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
    drop_export()
    if brought_back is not None:
        brought_back(set(report.added))
    st.session_state[IMPORT_REPORT_KEY] = {"name": upload.name, "summary": report.summary(),
                                           "added": bool(report.added), "problems": report.problems[:500]}
    # The gallery and its count above were drawn before the import: run the page again so they include it.
    st.rerun()


def show_import_report() -> None:
    """What the last import did, once, on the run after it (when the gallery above already counts its drawings)."""
    report = st.session_state.pop(IMPORT_REPORT_KEY, None)
    if report is None:
        return
    show = st.warning if report["problems"] else st.success if report["added"] else st.info
    show(f"Imported {report['name']}: {report['summary']}.")
    if report["problems"]:
        with st.expander("Rows left out"):
            st.text("\n".join(report["problems"]))
