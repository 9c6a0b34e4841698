"""The Draw page in Chromium: digits drawn with the mouse on the real canvas are read by the model."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import save_screenshot, wait_for_app_idle
from tests.e2e.drawing import (FOUR, ONE, RESULT_TIMEOUT, ZERO, canvas_area, clear_canvas, draw,
                               expect_empty_canvas_prompt, expect_prediction, open_draw_page)


def jpeg_of_ink_on_paper(digit: np.ndarray) -> bytes:
    """A JPEG that looks like a scan: an MNIST digit enlarged, dark ink on white paper."""
    paper = 255 - np.asarray(Image.fromarray(digit).resize((224, 224), Image.Resampling.BILINEAR))
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


@pytest.mark.parametrize("name, strokes", [("1", ONE), ("0", ZERO), ("4", FOUR)])
def test_drawn_digit_is_recognised(page, app_url, name, strokes):
    """Test that a digit drawn with the mouse is named by the Prediction metric, with chart and model view."""
    open_draw_page(page, app_url)
    expect_empty_canvas_prompt(page)

    draw(page, strokes)

    expect_prediction(page, name)
    expect(page.locator(".digitlab-probability-chart .main-svg").first).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(page.get_by_text("What the model sees")).to_be_visible()
    save_screenshot(page, f"draw-{name}")


def test_clear_and_undo_empty_the_canvas(page, app_url):
    """Test that Clear and the toolbar's Undo both take the page back to the empty-canvas prompt."""
    open_draw_page(page, app_url)
    draw(page, ONE)
    expect_prediction(page, "1")

    clear_canvas(page)
    expect_empty_canvas_prompt(page)

    draw(page, ZERO)
    expect_prediction(page, "0")
    save_screenshot(page, "draw")

    page.get_by_role("button", name="Undo").click()
    expect_empty_canvas_prompt(page)


def test_the_canvas_toolbar_offers_undo_redo_and_reset_but_no_edit_mode(page, app_url):
    """Test that the canvas's toolbar, shown while the mouse points at the canvas, has Undo, Redo and Reset, and not
    the component's Edit mode (a pencil icon that stopped drawing and moved the strokes without a new reading) nor
    its manual send (every stroke is sent anyway), also on a canvas mounted again after a look at Upload."""
    open_draw_page(page, app_url)
    draw(page, ONE)
    expect_prediction(page, "1")
    for visit in ("first", "mounted again"):
        canvas_area(page).hover()
        for tool in ("Undo", "Redo", "Reset canvas & history"):
            expect(page.get_by_role("button", name=tool)).to_be_visible()
        for tool in ("Edit", "Update the app with this drawing"):
            expect(page.get_by_role("button", name=tool)).to_be_hidden()
        page.get_by_role("radio", name="Upload", exact=True).click()
        expect(page.locator("[data-testid='stFileUploader']")).to_be_visible(timeout=RESULT_TIMEOUT)
        wait_for_app_idle(page)
        page.get_by_role("radio", name="Draw", exact=True).click()
        wait_for_app_idle(page)
        expect_prediction(page, "1")


@pytest.fixture(scope="module")
def scan_of_seven(mnist, e2e_dirs) -> bytes:
    """A JPEG scan of an MNIST test 7 that the served model reads surely when decoded offline."""
    from digitlab.serving.images import decode_image
    from digitlab.serving.predictor import Predictor
    from digitlab.store.registry import entry_for_path

    entry = entry_for_path(e2e_dirs["models"] / "default.keras")
    predictor = Predictor.from_file(entry.path, entry.sha256)
    for image in mnist.x_test[mnist.y_test == 7][:50]:
        scan = jpeg_of_ink_on_paper(image)
        prediction = predictor.predict_image(decode_image(scan))
        if prediction.digit == 7 and prediction.confidence > 0.9:
            return scan
    pytest.fail("the served model reads none of the first 50 test sevens surely")


def test_uploaded_scan_is_recognised_and_bad_file_is_refused(page, app_url, scan_of_seven):
    """Test that an uploaded JPEG scan of a 7 is read as 7, and a file that is not an image gets an error."""
    open_draw_page(page, app_url)
    page.get_by_role("radio", name="Upload", exact=True).click()
    uploader = page.locator("[data-testid='stFileUploader'] input[type=file]")

    uploader.set_input_files(files=[{"name": "seven.jpg", "mimeType": "image/jpeg",
                                     "buffer": scan_of_seven}])
    expect_prediction(page, "7")
    save_screenshot(page, "draw-upload")

    uploader.set_input_files(files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}])
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("notes.png cannot be read",
                                                                        timeout=RESULT_TIMEOUT)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)


def _expect_shown(page, view: str) -> None:
    """Wait until the page shows the Draw canvas or Number mode's uploader, and One digit mode's uploader is gone."""
    if view == "Draw":
        expect(canvas_area(page)).to_be_visible(timeout=RESULT_TIMEOUT)
    else:
        expect(page.get_by_text("Photo or scan of a number")).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(page.get_by_text("Photo or scan of one digit")).to_have_count(0)


KEPT_SEVEN = re.compile(r"Reading seven.{1,2}jpg, uploaded before")  # the file's name is shown as typed, not as Markdown


def test_an_uploaded_photo_is_still_read_after_a_look_at_draw_and_removing_it_empties_upload(page, app_url,
                                                                                            scan_of_seven):
    """Test that a photo uploaded, then Draw (or A number) looked at, is still read as 7 under its name when the
    visitor comes back to Upload (the uploader came back empty and the reading gone), and that removing it from
    the uploader leaves Upload empty again."""
    open_draw_page(page, app_url)
    page.get_by_role("radio", name="Upload", exact=True).click()
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(
        files=[{"name": "seven.jpg", "mimeType": "image/jpeg", "buffer": scan_of_seven}])
    expect_prediction(page, "7")
    for away, back in [("Draw", "Upload"), ("A number", "One digit")]:
        page.get_by_role("radio", name=away, exact=True).click()
        _expect_shown(page, away)  # the uploader has left the page, not a click taken back before it ran
        wait_for_app_idle(page)
        page.get_by_role("radio", name=back, exact=True).click()
        expect(page.get_by_text(KEPT_SEVEN)).to_be_visible(timeout=RESULT_TIMEOUT)
        wait_for_app_idle(page)
        expect_prediction(page, "7")
        expect(page.get_by_test_id("stImageCaption").filter(has_text="seven.jpg")).to_be_visible()
    page.get_by_role("radio", name="Draw", exact=True).click()
    _expect_shown(page, "Draw")
    wait_for_app_idle(page)
    page.get_by_role("radio", name="Upload", exact=True).click()
    expect(page.get_by_text(KEPT_SEVEN)).to_be_visible(timeout=RESULT_TIMEOUT)
    wait_for_app_idle(page)
    expect_prediction(page, "7")
    # Uploading again replaces it; removing that file from the uploader leaves nothing to read.
    page.locator("[data-testid='stFileUploader'] input[type=file]").set_input_files(
        files=[{"name": "again.jpg", "mimeType": "image/jpeg", "buffer": scan_of_seven}])
    expect(page.get_by_test_id("stImageCaption").filter(has_text="again.jpg")).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(page.get_by_text("uploaded before")).to_have_count(0)
    wait_for_app_idle(page)
    page.get_by_role("button", name="Remove again.jpg").click()
    expect(page.get_by_text("Upload a PNG or JPEG photo or scan of one handwritten digit.")).to_be_visible(
        timeout=RESULT_TIMEOUT)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
