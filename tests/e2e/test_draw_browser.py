"""The Draw page in Chromium: digits drawn with the mouse on the real canvas are read by the model."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import save_screenshot, wait_for_app_idle

RESULT_TIMEOUT = 30_000  # ms: a stroke is sent 200 ms after the mouse is released, then the page reruns

# Strokes in canvas pixels (the canvas is 280 x 280), drawn the way a person would.
ONE = [[(140, 50), (140, 230)]]
ZERO = [[(140 + 60 * math.sin(t), 140 - 90 * math.cos(t)) for t in (i * 2 * math.pi / 40 for i in range(41))]]
FOUR = [[(110, 50), (80, 160), (200, 160)], [(170, 90), (170, 240)]]


def jpeg_of_ink_on_paper(digit: np.ndarray) -> bytes:
    """A JPEG that looks like a scan: an MNIST digit enlarged, dark ink on white paper."""
    paper = 255 - np.asarray(Image.fromarray(digit).resize((224, 224), Image.Resampling.BILINEAR))
    buffer = io.BytesIO()
    Image.fromarray(paper).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def open_draw_page(page, app_url: str) -> None:
    page.goto(app_url)
    wait_for_app_idle(page)
    canvas_area(page).wait_for(timeout=RESULT_TIMEOUT)


def canvas_area(page):
    """The drawing surface of the canvas component (rendered in the page itself, not in an iframe)."""
    return page.locator(".dc-container").first


def draw(page, strokes) -> None:
    """Draw strokes with the mouse, pressing and releasing it once per stroke."""
    box = canvas_area(page).bounding_box()
    for stroke in strokes:
        points = [(box["x"] + x, box["y"] + y) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for start, end in zip(points, points[1:]):
            page.mouse.move(*end, steps=max(1, int(math.dist(start, end) // 8)))
        page.mouse.up()
    page.mouse.move(5, 5)  # leave the canvas so its hover toolbar does not cover the page


def expect_prediction(page, digit: str) -> None:
    expect(page.get_by_test_id("stMetricValue")).to_have_text(digit, timeout=RESULT_TIMEOUT)
    expect(page.get_by_test_id("stMetricLabel")).to_have_text("Prediction")
    wait_for_app_idle(page)


def expect_empty_canvas_prompt(page) -> None:
    expect(page.get_by_test_id("stMetric")).to_have_count(0, timeout=RESULT_TIMEOUT)
    expect(page.get_by_text("Draw a digit from 0 to 9")).to_be_visible()


def clear_canvas(page) -> None:
    """Press Clear and wait for the fresh canvas it mounts: strokes drawn on the old one are lost."""
    old_surface = canvas_area(page).element_handle()
    page.get_by_role("button", name="Clear").click()
    page.wait_for_function("surface => !surface.isConnected", arg=old_surface, timeout=RESULT_TIMEOUT)
    canvas_area(page).locator("canvas.upper-canvas").wait_for(timeout=RESULT_TIMEOUT)
    wait_for_app_idle(page)


@pytest.mark.parametrize("name, strokes", [("1", ONE), ("0", ZERO), ("4", FOUR)])
def test_drawn_digit_is_recognised(page, app_url, name, strokes):
    """Test that a digit drawn with the mouse is named by the Prediction metric, with chart and model view."""
    open_draw_page(page, app_url)
    expect_empty_canvas_prompt(page)

    draw(page, strokes)

    expect_prediction(page, name)
    expect(page.get_by_test_id("stPlotlyChart").locator(".main-svg").first).to_be_visible(timeout=RESULT_TIMEOUT)
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


@pytest.fixture(scope="module")
def scan_of_seven(mnist, e2e_dirs) -> bytes:
    """A JPEG scan of an MNIST test 7 that the served model reads surely when decoded offline."""
    from digitlab.images import decode_image
    from digitlab.inference import Predictor
    from digitlab.registry import entry_for_path

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
    page.get_by_role("tab", name="Upload").click()
    uploader = page.locator("[data-testid='stFileUploader'] input[type=file]")

    uploader.set_input_files(files=[{"name": "seven.jpg", "mimeType": "image/jpeg",
                                     "buffer": scan_of_seven}])
    expect_prediction(page, "7")
    save_screenshot(page, "draw-upload")

    uploader.set_input_files(files=[{"name": "notes.png", "mimeType": "image/png", "buffer": b"not an image"}])
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("notes.png cannot be read",
                                                                        timeout=RESULT_TIMEOUT)
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
