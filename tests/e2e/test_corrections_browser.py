"""Corrections in Chromium: where the Right/Wrong bar and what an answer stored stand, and Take back, on a laptop
and on a phone."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import save_screenshot, wait_for_app_idle
from tests.e2e.drawing import ONE, RESULT_TIMEOUT, ZERO, canvas_area, draw, expect_prediction, open_draw_page
from tests.e2e.test_bank_browser import fresh_app, server_bank_url  # noqa: F401 (fresh_app is a fixture)
from tests.e2e.test_phone_browser import PHONE, touch_draw

LAPTOP = {"width": 1280, "height": 900}


def answer(page, key: str) -> None:
    """Click one of the bar's buttons (the visible one: Streamlit also keeps a hidden copy on narrow screens)."""
    page.locator(f".st-key-{key} button:visible").first.click()


def take_back_button(page):
    return page.locator(".st-key-bank_take_back button:visible").first


def stored_message(page, text: str):
    return page.get_by_test_id("stAlertContentSuccess").filter(has_text=text)


def test_right_then_7_then_take_back_on_a_laptop_keeps_one_drawing_with_take_back_above_the_fold(
        browser, fresh_app, tmp_path):
    """Test that at 1280x900, after "Right", what was stored and its Take back are on screen without scrolling,
    that "7" relabels the same drawing, and that Take back returns it to "right", then removes it."""
    from digitlab.bank.repository import DrawingBank

    bank = DrawingBank(server_bank_url(tmp_path))
    context = browser.new_context(viewport=LAPTOP)
    try:
        page = context.new_page()
        open_draw_page(page, fresh_app)
        draw(page, ONE)
        expect_prediction(page, "1")

        answer(page, "bank_right")
        stored = stored_message(page, re.compile(r"as drawing #\d+ \(right\)"))
        expect(stored).to_be_visible(timeout=RESULT_TIMEOUT)
        wait_for_app_idle(page)
        drawing_id = int(re.search(r"#(\d+)", stored.inner_text()).group(1))
        take_back = take_back_button(page)
        expect(take_back).to_have_text(re.compile("Take back"))  # not "Undo", the canvas toolbar's stroke undo
        box = take_back.bounding_box()
        assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= LAPTOP["height"], box
        assert stored.bounding_box()["y"] + stored.bounding_box()["height"] <= LAPTOP["height"]
        save_screenshot(page, "corrections-stored")

        answer(page, "bank_label_7")
        expect(stored_message(page, f"as drawing #{drawing_id} (a 7, read as 1)")).to_be_visible(timeout=RESULT_TIMEOUT)
        wait_for_app_idle(page)
        assert [(drawing.id, drawing.label) for drawing in bank.drawings()] == [(drawing_id, 7)]

        take_back_button(page).click()
        expect(page.get_by_text(f"Drawing #{drawing_id} is back to its label before: right.")).to_be_visible(
            timeout=RESULT_TIMEOUT)
        wait_for_app_idle(page)
        assert [(drawing.id, drawing.label) for drawing in bank.drawings()] == [(drawing_id, 1)]

        take_back_button(page).click()
        expect(page.get_by_text(f"Drawing #{drawing_id} was removed from the bank.")).to_be_visible(
            timeout=RESULT_TIMEOUT)
        assert bank.count() == 0
    finally:
        context.close()


def test_on_a_phone_the_bar_stands_just_under_the_canvas_and_stays_put_when_an_answer_is_stored(browser, fresh_app):
    """Test that at 390x844 the Right/Wrong bar comes right after the canvas and its brush and Clear, before the
    metric, the bars and the Why? panel (it stood two screens below the canvas, after them), and that what an answer
    stored shows under the bar without moving it (it appeared above the bar and pushed it down)."""
    context = browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True, device_scale_factor=2)
    try:
        page = context.new_page()
        open_draw_page(page, fresh_app)
        touch_draw(page, ZERO)
        expect(page.get_by_test_id("stMetricValue")).to_have_text("0", timeout=RESULT_TIMEOUT)
        wait_for_app_idle(page)

        canvas = canvas_area(page).bounding_box()
        clear = page.get_by_role("button", name="Clear").bounding_box()
        bar = page.locator(".st-key-bank_panel").bounding_box()
        reading = page.get_by_test_id("stMetric").bounding_box()
        why = page.get_by_test_id("stExpander").first.bounding_box()
        assert canvas["y"] + canvas["height"] < clear["y"] < bar["y"] < reading["y"] < why["y"], (
            canvas, clear, bar, reading, why)
        assert bar["y"] - (canvas["y"] + canvas["height"]) < PHONE["height"] / 3, "the bar is a short scroll away"
        bar_below_canvas = bar["y"] - canvas["y"]

        answer(page, "bank_label_6")
        stored = stored_message(page, "(a 6, read as 0)")
        expect(stored).to_be_visible(timeout=RESULT_TIMEOUT)
        wait_for_app_idle(page)
        canvas = canvas_area(page).bounding_box()  # measured again: the click may have scrolled the page
        bar = page.locator(".st-key-bank_panel").bounding_box()
        take_back = take_back_button(page).bounding_box()
        reading = page.get_by_test_id("stMetric").bounding_box()
        assert abs(bar["y"] - canvas["y"] - bar_below_canvas) <= 2, "the bar stayed where it was"
        assert bar["y"] + bar["height"] <= take_back["y"] < reading["y"], (bar, take_back, reading)
        page.locator(".st-key-bank_panel").scroll_into_view_if_needed()
        save_screenshot(page, "corrections-phone")
    finally:
        context.close()
