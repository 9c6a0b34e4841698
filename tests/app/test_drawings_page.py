"""The Drawings page and the Evaluate page's drawing-bank dataset in AppTest, on a real SQLite bank."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

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
    assert "**2** drawing(s) match" in captions
    at.selectbox(key="drawings_verdict").set_value("wrong").run()
    assert "**1** drawing(s) match" in " ".join(element.value for element in at.caption)
    assert at.button(key=f"delete_{two}") and not _has_button(at, f"delete_{seven}")
    at.selectbox(key="drawings_verdict").set_value("any").run()
    at.selectbox(key="drawings_writer").set_value("Ana").run()
    assert _has_button(at, f"delete_{seven}") and not _has_button(at, f"delete_{two}")
    at.selectbox(key="drawings_writer").set_value(None).run()
    at.selectbox(key="drawings_label").set_value(5).run()
    assert any("No drawings match" in element.value for element in at.info)


def _has_button(at: AppTest, key: str) -> bool:
    try:
        at.button(key=key)
    except KeyError:
        return False
    return True


def test_owner_deletes_any_drawing(bank, mnist):
    """Test that the owner's Delete removes the drawing from the bank and the gallery."""
    drawing_id = store(bank, mnist.x_test[0], 7, 7, "Ana", session="someone-else")
    at = drawings_page()
    at.button(key=f"delete_{drawing_id}").click().run()
    assert bank.count() == 0
    assert any(f"#{drawing_id} was deleted" in element.value for element in at.info)


def test_a_visitor_may_delete_only_their_own_drawings(bank, mnist, monkeypatch):
    """Test that a visitor sees Delete only on this session's drawings, and import is the owner's alone."""
    import digitlab.ui.bank_browser

    monkeypatch.setattr(digitlab.ui.bank_browser, "viewer_is_owner", lambda: False)
    theirs = store(bank, mnist.x_test[0], 7, 7, "Ana", session="visitor-other")
    mine = store(bank, mnist.x_test[1], 2, 2, "Me", session="visitor-mine")
    at = drawings_page(session_tag="visitor-mine")
    assert not _has_button(at, f"delete_{theirs}")
    at.button(key=f"delete_{mine}").click().run()
    assert [drawing.id for drawing in bank.drawings()] == [theirs]
    assert not _has_button(at, "drawings_import")
    assert not at.get("file_uploader")


def test_export_then_import_of_a_zip_through_the_page(bank, mnist, tmp_path, monkeypatch):
    """Test that the page's zip download holds the drawings, and importing a zip reports added and broken rows."""
    store(bank, mnist.x_test[0], 7, 7, "Ana")
    at = drawings_page()
    at.button(key="drawings_prepare_export").click().run()
    assert not at.exception
    assert "1 drawings" in at.get("download_button")[0].proto.label
    zipped = at.session_state["drawings_export"][1]
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        assert "labels.csv" in archive.namelist() and any(name.endswith(".png") for name in archive.namelist())
        labels = archive.read("labels.csv").decode()
        png_name = next(name for name in archive.namelist() if name.endswith(".png"))
        png = archive.read(png_name)
    broken = labels.strip().splitlines()[1].replace(",7,7,", ",17,7,")  # the same row with label 17
    upload = io.BytesIO()
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr(png_name, png)
        archive.writestr("labels.csv", labels + broken + "\n")
    at.file_uploader(key="drawings_import_file").set_value(("more.zip", upload.getvalue(), "application/zip")).run()
    at.button(key="drawings_import").click().run()
    assert not at.exception
    assert any("Imported 1 drawing(s) from more.zip. 1 row(s) were left out." in element.value for element in at.success)
    assert sorted(drawing.label for drawing in bank.drawings()) == [7, 7]


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
    at.selectbox(key="evaluate_bank_writer").set_value("Ben").run()
    assert "2 labelled drawings in the drawing bank by Ben" in " ".join(element.value for element in at.caption)
