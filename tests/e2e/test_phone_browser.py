"""The Draw page on a phone: a digit drawn with a finger on a 390 x 844 touch screen, answer in sight."""

from __future__ import annotations

import math
import shutil

from playwright.sync_api import expect

from tests.e2e.conftest import REPO_ROOT, running_app, save_screenshot, wait_for_app_idle
from tests.e2e.drawing import RESULT_TIMEOUT, ZERO, canvas_area, wait_until_canvas_takes_strokes

PHONE = {"width": 390, "height": 844}


def touch_draw(page, strokes) -> None:
    """Draw strokes with one finger: touch down, slide, lift, as the phone's touch screen sends them."""
    wait_until_canvas_takes_strokes(page)
    box = canvas_area(page).bounding_box()
    touch = page.context.new_cdp_session(page)
    for stroke in strokes:
        points = [(box["x"] + x, box["y"] + y) for x, y in stroke]
        touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": points[0][0], "y": points[0][1]}]})
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            steps = max(1, int(math.dist((x0, y0), (x1, y1)) // 8))
            for step in range(1, steps + 1):
                share = step / steps
                touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [
                    {"x": x0 + (x1 - x0) * share, "y": y0 + (y1 - y0) * share}]})
        touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def on_screen(box: dict | None) -> bool:
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"] \
        and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]


def test_a_digit_drawn_with_a_finger_on_a_phone_is_read_with_the_answer_on_screen(browser, tmp_path):
    """Test that on a 390x844 touch screen a finger-drawn 0 is read, the reading and the whole canvas are
    on screen together without scrolling, and the canvas does not move when the first reading appears."""
    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models)
    with running_app({"models": models, "runs": tmp_path / "runs"}) as url:
        context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
        try:
            page = context.new_page()
            page.goto(url)
            wait_for_app_idle(page)
            canvas_area(page).wait_for(timeout=RESULT_TIMEOUT)
            wait_until_canvas_takes_strokes(page)
            canvas_before = canvas_area(page).bounding_box()

            touch_draw(page, ZERO)

            reading = page.get_by_test_id("stMarkdown").filter(has_text="Reading:")
            expect(reading).to_contain_text("Reading: 0", timeout=RESULT_TIMEOUT)
            wait_for_app_idle(page)
            assert on_screen(reading.bounding_box()), "the answer is in sight while drawing"
            assert on_screen(canvas_area(page).bounding_box()), "the whole canvas is in sight"
            canvas_after = canvas_area(page).bounding_box()
            assert abs(canvas_after["y"] - canvas_before["y"]) < 1, "the canvas stays put under the finger"
            save_screenshot(page, "draw-phone")
        finally:
            context.close()


def test_number_mode_on_a_phone_says_the_strip_goes_beyond_the_screen(browser, tmp_path):
    """Test that on a 390 px phone Number mode shows a note that the wide strip is wider than the screen,
    and that the note is hidden on a laptop screen."""
    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models)
    with running_app({"models": models, "runs": tmp_path / "runs"}) as url:
        for viewport, shown in ((PHONE, True), ({"width": 1280, "height": 900}, False)):
            context = browser.new_context(viewport=viewport, has_touch=shown, is_mobile=shown)
            try:
                page = context.new_page()
                page.goto(url)
                wait_for_app_idle(page)
                page.get_by_text("A number", exact=True).click()
                wait_for_app_idle(page)
                expect(canvas_area(page)).to_have_count(1, timeout=RESULT_TIMEOUT)
                note = page.get_by_text("The strip is wider than this screen")
                if shown:
                    expect(note).to_be_visible()
                    assert canvas_area(page).bounding_box()["width"] > PHONE["width"]
                else:
                    expect(note).to_be_hidden()
            finally:
                context.close()
