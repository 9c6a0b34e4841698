"""The Drawings page and the Evaluate page's drawing-bank dataset in AppTest, on a real SQLite bank."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from digitlab.bank.archive import export_zip
from digitlab.bank.drawing_checks import encode_png, prepare_drawing
from digitlab.bank.repository import DrawingBank, open_bank
from tests.helpers.canvases import canvas_from_digit

PAGES = Path(__file__).resolve().parents[2] / "pages"


@pytest.fixture
def bank(tmp_path, monkeypatch) -> DrawingBank:
    url = f"sqlite:///{tmp_path / 'drawings.sqlite'}"
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", url)
    return open_bank(url)


def store(bank: DrawingBank, digit_image: np.ndarray, label: int, reading: int | None, writer: str,
          session: str | None = None) -> int:
    png = encode_png(canvas_from_digit(digit_image))
    return bank.add(prepare_drawing(png, label, "draw", writer=writer, session=session, reading=reading))


def drawings_page(session_tag: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGES / "drawings.py", default_timeout=60)
    if session_tag:
        at.session_state["bank_session_tag"] = session_tag
    return at.run()


def test_gallery_lists_the_drawings_and_filters_narrow_them(bank, mnist):
    """Test that the gallery shows every drawing and the label, right/wrong and writer filters narrow it."""
    seven = store(bank, mnist.x_test[0], 7, 7, "Ana")
    two = store(bank, mnist.x_test[1], 2, 3, "Ben")
    at = drawings_page()
    assert not at.exception, [e.value for e in at.exception]
    captions = " ".join(element.value for element in at.caption)
    assert "**2** drawings match" in captions
    at.selectbox(key="drawings_verdict").set_value("wrong").run()
    assert "**1** drawing matches" in " ".join(element.value for element in at.caption)
    assert at.button(key=f"delete_{two}") and not _has_button(at, f"delete_{seven}")
    at.selectbox(key="drawings_verdict").set_value("any").run()
    at.selectbox(key="drawings_writer").set_value("Ana").run()
    assert _has_button(at, f"delete_{seven}") and not _has_button(at, f"delete_{two}")
    at.selectbox(key="drawings_writer").set_value(None).run()
    at.selectbox(key="drawings_label").set_value(5).run()
    [empty] = [element.value for element in at.info if "No drawings match" in element.value]
    assert "these filters" in empty and "Draw a digit" not in empty, "the bank holds drawings: the filters hide them"


def _has_button(at: AppTest, key: str) -> bool:
    try:
        at.button(key=key)
    except KeyError:
        return False
    return True


def test_owner_deletes_a_drawing_after_confirming_and_can_undo_it(bank, mnist):
    """Test that Delete asks first, saying for how long it can be undone (Keep changes nothing), "Yes, delete" removes
    the drawing, and Undo brings it back with its id."""
    drawing_id = store(bank, mnist.x_test[0], 7, 7, "Ana", session="someone-else")
    at = drawings_page()
    at.button(key=f"delete_{drawing_id}").click().run()
    assert bank.count() == 1
    # How long it can be brought back is in the question itself, not a tooltip that covers it.
    assert f"Delete drawing #{drawing_id}? It can be brought back for 10 minutes." in [m.value for m in at.markdown]
    assert not at.button(key=f"confirm_delete_{drawing_id}").help
    at.button(key=f"keep_{drawing_id}").click().run()
    assert bank.count() == 1 and not _has_button(at, f"confirm_delete_{drawing_id}")

    at.button(key=f"delete_{drawing_id}").click().run()
    at.button(key=f"confirm_delete_{drawing_id}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert bank.count() == 0
    assert any(f"#{drawing_id} was deleted" in element.value for element in at.info)
    assert any("No drawings match. Draw a digit" in element.value for element in at.info), "no filter: the bank is empty"

    at.button(key=f"undo_delete_{drawing_id}").click().run()
    assert [drawing.id for drawing in bank.drawings()] == [drawing_id]
    assert any(f"Drawing #{drawing_id} is back." in element.value for element in at.info)
    assert not _has_button(at, f"undo_delete_{drawing_id}") and _has_button(at, f"delete_{drawing_id}")


def test_a_deleted_drawing_brought_back_by_an_import_loses_its_undo_and_is_in_the_bank_once(bank, mnist):
    """Test that importing an export that holds a drawing deleted a moment ago brings that drawing back, with its
    id, once, and its Undo goes (there is nothing left to undo)."""
    drawing_id = store(bank, mnist.x_test[0], 7, 7, "Ana")
    at = drawings_page()
    at.button(key="drawings_prepare_export").click().run()
    exported = Path(at.session_state["drawings_export"]["path"]).read_bytes()
    at.button(key=f"delete_{drawing_id}").click().run()
    at.button(key=f"confirm_delete_{drawing_id}").click().run()
    assert bank.count() == 0 and _has_button(at, f"undo_delete_{drawing_id}")

    at.file_uploader(key="drawings_import_file").set_value(("bank.zip", exported, "application/zip")).run()
    at.button(key="drawings_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [drawing.id for drawing in bank.drawings()] == [drawing_id]
    assert any("Imported bank.zip: 1 new, 0 already in the bank." == element.value for element in at.success)
    assert not _has_button(at, f"undo_delete_{drawing_id}")


def visitor_only(monkeypatch) -> None:
    """An owner who signs in with a password: the page's session, which has not, is a visitor everywhere, down to the
    session the bank's deletes are limited to."""
    from digitlab.config.access import hash_password

    monkeypatch.setenv("DIGITLAB_OWNER_PASSWORD_HASH", hash_password("owner's secret", iterations=1000))


def test_a_visitor_may_delete_only_their_own_drawings(bank, mnist, monkeypatch):
    """Test that a visitor sees Delete only on this session's drawings, and import is the owner's alone."""
    visitor_only(monkeypatch)
    theirs = store(bank, mnist.x_test[0], 7, 7, "Ana", session="visitor-other")
    mine = store(bank, mnist.x_test[1], 2, 2, "Me", session="visitor-mine")
    at = drawings_page(session_tag="visitor-mine")
    assert not _has_button(at, f"delete_{theirs}")
    at.button(key=f"delete_{mine}").click().run()
    at.button(key=f"confirm_delete_{mine}").click().run()
    assert [drawing.id for drawing in bank.drawings()] == [theirs]
    assert not _has_button(at, "drawings_import")
    assert not at.get("file_uploader")



def test_owner_deletes_every_drawing_matching_the_filters_at_once_and_one_undo_brings_them_back(bank, mnist):
    """Test that with the label filter at 7, "Delete all 2 matching drawings" asks first (Keep deletes nothing), "Yes,
    delete 2 drawings" takes both 7s and leaves the 2, a prepared export is dropped, one undo entry names the batch,
    and its Undo brings both back with their ids."""
    sevens = [store(bank, mnist.x_test[0], 7, 7, "Ana", session="visitor-a"), store(bank, mnist.x_test[17], 7, 1, "Ben")]
    two = store(bank, mnist.x_test[1], 2, 2, "Ana")
    at = drawings_page()
    at.selectbox(key="drawings_label").set_value(7).run()
    assert at.button(key="delete_matching").label == "Delete all 2 matching drawings"
    at.button(key="delete_matching").click().run()
    assert "Delete all 2 matching drawings? They can be brought back for 10 minutes." in [m.value for m in at.markdown]
    assert not at.button(key="confirm_delete_matching").help
    at.button(key="keep_matching").click().run()
    assert bank.count() == 3 and not _has_button(at, "confirm_delete_matching")

    at.button(key="drawings_prepare_export").click().run()
    exported = Path(at.session_state["drawings_export"]["path"])
    at.button(key="delete_matching").click().run()
    assert at.button(key="confirm_delete_matching").label == "Yes, delete 2 drawings"
    at.button(key="confirm_delete_matching").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [drawing.id for drawing in bank.drawings()] == [two]
    assert not exported.exists() and "drawings_export" not in at.session_state  # it held the 7s
    assert any("No drawings match" in element.value for element in at.info)
    undo = [element.value for element in at.info if "deleted" in element.value]
    assert len(undo) == 1 and undo[0].startswith("2 drawings were deleted. They can be brought back until ")
    assert [button.label for button in at.button if button.label == "Undo"] == ["Undo"]

    at.button(key=f"undo_delete_{min(sevens)}").click().run()
    assert sorted(drawing.id for drawing in bank.drawings()) == sorted([*sevens, two])
    assert any("2 drawings are back." == element.value for element in at.info)
    assert not any(button.label == "Undo" for button in at.button)
    assert "**2** drawings match" in " ".join(element.value for element in at.caption)


def test_a_visitor_deletes_only_their_own_matching_drawings(bank, mnist, monkeypatch):
    """Test that a visitor is offered "Delete your N matching drawings" counting only this session's drawings, that
    it leaves everyone else's, and that a visitor with none among the matches is offered no such button."""
    visitor_only(monkeypatch)
    mine = [store(bank, mnist.x_test[index], 7, 7, "Me", session="visitor-mine") for index in (0, 17)]
    theirs = store(bank, mnist.x_test[26], 7, 7, "Ana", session="visitor-other")
    at = drawings_page(session_tag="visitor-mine")
    assert "**3** drawings match" in " ".join(element.value for element in at.caption)
    assert at.button(key="delete_matching").label == "Delete your 2 matching drawings"
    at.button(key="delete_matching").click().run()
    at.button(key="confirm_delete_matching").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [drawing.id for drawing in bank.drawings()] == [theirs]
    assert any(element.value.startswith("2 drawings were deleted.") for element in at.info)
    assert not _has_button(at, "delete_matching")  # only someone else's drawing matches now

    at.button(key=f"undo_delete_{min(mine)}").click().run()
    assert sorted(drawing.id for drawing in bank.drawings()) == sorted([*mine, theirs])


def test_a_drawing_saved_between_delete_all_and_yes_is_not_deleted_unseen(bank, mnist):
    """Test that "Yes, delete 1 drawing" deletes the one drawing counted at "Delete the 1 matching drawing", not one a
    visitor saved between the two clicks that matches too; and that a confirmed drawing someone else deleted
    meanwhile is said, not counted as deleted."""
    first = store(bank, mnist.x_test[0], 7, 7, "Ana")
    at = drawings_page()
    assert at.button(key="delete_matching").label == "Delete the 1 matching drawing"
    at.button(key="delete_matching").click().run()
    assert at.button(key="confirm_delete_matching").label == "Yes, delete 1 drawing"
    second = store(bank, mnist.x_test[17], 7, 7, "Visitor", session="visitor-new")
    at.run()  # another rerun: the question is still about the one drawing
    assert at.button(key="confirm_delete_matching").label == "Yes, delete 1 drawing"
    at.button(key="confirm_delete_matching").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [drawing.id for drawing in bank.drawings()] == [second]
    assert any("Drawing #" + str(first) + " was deleted" in element.value for element in at.info)
    assert at.button(key="delete_matching").label == "Delete the 1 matching drawing"

    third = store(bank, mnist.x_test[34], 7, 7, "Ben")
    at.run()
    at.button(key="delete_matching").click().run()
    assert at.button(key="confirm_delete_matching").label == "Yes, delete 2 drawings"
    bank.move_to_bin(third)  # someone else deletes one of the two meanwhile
    at.button(key="confirm_delete_matching").click().run()
    assert bank.count() == 0
    assert any("1 drawing of the 2 you confirmed was deleted or changed meanwhile" in element.value
               for element in at.info)


def holds_bytes(value) -> bool:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return True
    if isinstance(value, dict):
        return any(holds_bytes(item) for item in value.values())
    return isinstance(value, (list, tuple, set)) and any(holds_bytes(item) for item in value)


def test_export_is_a_file_offered_for_download_and_never_bytes_in_the_session(bank, mnist):
    """Test that the prepared zip is on disk, the session holds only its path, and it goes when the filters change."""
    store(bank, mnist.x_test[0], 7, 7, "Ana")
    store(bank, mnist.x_test[1], 2, 2, "Ben")
    at = drawings_page()
    at.button(key="drawings_prepare_export").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "2 drawings" in at.get("download_button")[0].proto.label
    assert not holds_bytes(at.session_state.to_dict())
    path = Path(at.session_state["drawings_export"]["path"])
    with zipfile.ZipFile(path) as archive:
        assert sum(name.endswith(".png") for name in archive.namelist()) == 2 and "labels.csv" in archive.namelist()

    at.selectbox(key="drawings_writer").set_value("Ana").run()  # other filters: that zip no longer matches
    assert not path.exists() and not at.get("download_button")
    at.button(key="drawings_prepare_export").click().run()
    assert "1 drawings" in at.get("download_button")[0].proto.label


def test_zips_prepared_by_many_sessions_never_pile_up_past_the_cap_on_the_servers_disk(bank, mnist):
    """Test that visitors who each open a new session and prepare an export (each a copy of the bank) leave at
    most MAX_KEPT_EXPORTS zips on the disk, the newest ones: the newest session can still download, and the
    oldest session, whose zip made room, is offered no download of a missing file."""
    from digitlab.ui.bank_archive import MAX_KEPT_EXPORTS

    store(bank, mnist.x_test[0], 7, 7, "Ana")
    sessions = []
    for _ in range(MAX_KEPT_EXPORTS + 3):
        at = drawings_page()
        at.button(key="drawings_prepare_export").click().run()
        sessions.append(at)
    folder = Path(sessions[-1].session_state["drawings_export"]["path"]).parent

    assert len(list(folder.glob("*.zip"))) <= MAX_KEPT_EXPORTS
    assert Path(sessions[-1].session_state["drawings_export"]["path"]).is_file()
    oldest = sessions[0].run()
    assert not oldest.exception and not oldest.get("download_button")


def test_an_export_larger_than_the_page_can_import_says_how_to_import_it(bank, mnist, monkeypatch):
    """Test that a zip over the server's upload limit is offered with a note naming the command that imports it,
    and a zip within the limit has no such note."""
    import digitlab.ui.bank_archive

    store(bank, mnist.x_test[0], 7, 7, "Ana")
    at = drawings_page()
    at.button(key="drawings_prepare_export").click().run()
    assert not any("python -m digitlab drawings import drawings.zip" in element.value for element in at.info)
    assert any("Files up to 5 MB here" in element.value for element in at.caption)  # .streamlit/config.toml's

    monkeypatch.setattr(digitlab.ui.bank_archive, "upload_limit_mb", lambda: 0)  # as if the zip outgrew the limit
    at.run()
    assert at.get("download_button"), "the zip is still offered"
    assert any("the Drawings page's Import takes files up to 0 MB" in element.value
               and "python -m digitlab drawings import drawings.zip" in element.value for element in at.info)


def test_importing_an_export_twice_through_the_page_adds_nothing_and_says_so(bank, mnist):
    """Test that a zip of drawings the bank holds imports as "0 new, N already in the bank", and broken rows are listed."""
    store(bank, mnist.x_test[0], 7, 7, "Ana")
    at = drawings_page()
    at.button(key="drawings_prepare_export").click().run()
    exported = Path(at.session_state["drawings_export"]["path"])
    with zipfile.ZipFile(exported) as archive:
        labels = archive.read("labels.csv").decode()
        png_name = next(name for name in archive.namelist() if name.endswith(".png"))
        png = archive.read(png_name)
    broken = labels.strip().splitlines()[1].replace(",7,7,", ",17,7,")  # the same row with label 17
    relabelled = labels.strip().splitlines()[1].replace(",7,7,", ",1,7,")  # the same image, labelled 1: new
    upload = io.BytesIO()
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr(png_name, png)
        archive.writestr("labels.csv", labels + broken + "\n" + relabelled + "\n")
    at.file_uploader(key="drawings_import_file").set_value(("more.zip", upload.getvalue(), "application/zip")).run()
    at.button(key="drawings_import").click().run()
    assert not at.exception
    assert any("Imported more.zip: 1 new, 1 already in the bank, 1 left out." == element.value
               for element in at.warning)
    assert sorted(drawing.label for drawing in bank.drawings()) == [1, 7]
    at.button(key="drawings_import").click().run()
    assert any("Imported more.zip: 0 new, 2 already in the bank, 1 left out." == element.value
               for element in at.warning)
    assert bank.count() == 2


def test_after_an_import_the_gallery_counts_the_imported_drawings(bank, mnist, tmp_path):
    """Test that the page showing "Imported ...: 2 new" counts those 2 in "drawings match" and shows them."""
    store(bank, mnist.x_test[0], 7, 7, "Ana")
    other = open_bank(f"sqlite:///{tmp_path / 'other.sqlite'}")
    store(other, mnist.x_test[1], 2, 2, "Ben")
    store(other, mnist.x_test[2], 1, 1, "Ben")
    export_zip(other, tmp_path / "other.zip")
    at = drawings_page()
    assert "**1** drawing matches" in " ".join(element.value for element in at.caption)
    at.file_uploader(key="drawings_import_file").set_value(
        ("other.zip", (tmp_path / "other.zip").read_bytes(), "application/zip")).run()
    at.button(key="drawings_import").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert [element.value for element in at.success] == ["Imported other.zip: 2 new, 0 already in the bank."]
    assert "**3** drawings match" in " ".join(element.value for element in at.caption)
    assert sum(_has_button(at, f"delete_{drawing.id}") for drawing in bank.drawings()) == 3
    at.run()  # the report is said once; the count stays
    assert not at.success and "**3** drawings match" in " ".join(element.value for element in at.caption)


def test_a_text_file_named_zip_is_refused_as_not_a_zip(bank):
    """Test that importing a text file named .zip says it is not a zip archive, and stores nothing."""
    at = drawings_page()
    at.file_uploader(key="drawings_import_file").set_value(("notes.zip", b"hello world\n", "application/zip")).run()
    at.button(key="drawings_import").click().run()
    assert not at.exception
    assert [element.value for element in at.error] == [
        "Nothing was imported: notes.zip is not a zip archive: its name ends in .zip but its contents are not a zip. "
        "Import a zip written by Export (`drawings export`), or UNIPEN pen-digit text."]
    assert bank.count() == 0


def test_evaluate_page_on_the_drawing_bank(bank, mnist, small_models_dir):
    """Test that the Evaluate page's drawing-bank dataset scores the model on the bank, for one writer too."""
    from digitlab.serving.predictor import Predictor
    from digitlab.store.registry import entry_for_path

    entry = entry_for_path(small_models_dir / "default.keras")
    predictor = Predictor.from_file(entry.path, entry.sha256)
    for index in range(6):
        store(bank, mnist.x_test[index], int(mnist.y_test[index]), None, "Ana" if index < 4 else "Ben")
    dataset = bank.as_dataset()
    expected = (predictor.predict_mnist(dataset.x).argmax(axis=1) == dataset.y).mean()

    at = AppTest.from_file(PAGES / "evaluate.py", default_timeout=120)
    at.session_state["selected_model"] = entry
    at.run()
    at.radio(key="evaluate_dataset").set_value("Drawing bank").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.metric[0].value == f"{expected:.2%}"
    assert "6 labelled drawings in the drawing bank" in " ".join(element.value for element in at.caption)
    headings = [element.value for element in at.subheader]
    assert "Misclassified drawings" in headings and "Hardest drawings" in headings
    assert not any("test images" in heading for heading in headings)  # the bank is not MNIST's test set
    at.selectbox(key="evaluate_bank_writer").set_value("Ben").run()
    assert "2 labelled drawings in the drawing bank by Ben" in " ".join(element.value for element in at.caption)


def test_a_writer_emptied_by_a_bulk_delete_stays_the_filter_and_an_earlier_undo_stays_offered(bank, mnist):
    """Test that after "Delete all" takes every drawing of the writer filtered on, the filter still names that writer
    (it showed "Choose an option" and matched the whole bank, offering to delete all of it), and that an Undo of an
    earlier single delete is still offered beside the batch's, and after the batch's Undo."""
    single = store(bank, mnist.x_test[2], 1, 1, "Ana")
    batch = [store(bank, mnist.x_test[0], 7, 7, "Ben"), store(bank, mnist.x_test[1], 2, 2, "Ben")]
    store(bank, mnist.x_test[3], 0, 0, "Ana")
    at = drawings_page()
    at.button(key=f"delete_{single}").click().run()
    at.button(key=f"confirm_delete_{single}").click().run()
    at.selectbox(key="drawings_writer").set_value("Ben").run()
    at.button(key="delete_matching").click().run()
    at.button(key="confirm_delete_matching").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert bank.count() == 1

    assert at.selectbox(key="drawings_writer").value == "Ben", "the filter still names the writer"
    assert not _has_button(at, "delete_matching"), "nothing matches: no offer to delete the rest of the bank"
    assert _has_button(at, f"undo_delete_{single}") and _has_button(at, f"undo_delete_{batch[0]}")

    at.button(key=f"undo_delete_{batch[0]}").click().run()
    assert bank.count() == 3
    assert _has_button(at, f"undo_delete_{single}"), "the earlier delete can still be undone"
    at.button(key=f"undo_delete_{single}").click().run()
    assert bank.count() == 4
