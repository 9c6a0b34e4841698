"""The Draw page's two switches in Chromium: One digit / A number and Draw / Upload always show what is on the page."""

from __future__ import annotations

import re

from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

from tests.e2e.conftest import wait_for_app_idle
from tests.e2e.drawing import (FOUR, ONE, canvas_area, clear_canvas, draw, expect_empty_canvas_prompt,
                               expect_prediction, inked_pixels, open_draw_page)

CHECKED_JS = "() => [...document.querySelectorAll('[role=radio]')].filter(b => b.getAttribute('aria-checked') === 'true')" \
             ".map(b => b.innerText.trim())"
UPLOADERS = {"One digit": "Photo or scan of one digit", "A number": "Photo or scan of a number"}


def test_both_switches_show_the_mode_and_input_on_the_page_through_any_order_of_clicks(app_url, page):
    """Test that through mode changes with Upload chosen (which left neither Draw nor Upload selected when each mode
    had a switch of its own) exactly one of Draw and Upload is selected, that it is what the page shows (the
    canvas, or that mode's uploader), and that the choice holds across modes."""
    open_draw_page(page, app_url)
    expected = {"mode": "One digit", "input": "Draw"}
    for click in ["A number", "Upload", "One digit", "A number", "Draw", "One digit", "Upload", "A number"]:
        page.get_by_role("radio", name=click, exact=True).click()
        expected["mode" if click in UPLOADERS else "input"] = click
        wait_for_app_idle(page)
        page.wait_for_timeout(1_000)  # what the page settles on, not a passing state on the way
        assert page.evaluate(CHECKED_JS) == [expected["mode"], expected["input"]], click
        uploader = page.get_by_test_id("stFileUploader")
        if expected["input"] == "Upload":
            expect(uploader).to_contain_text(UPLOADERS[expected["mode"]])
        else:
            expect(uploader).to_have_count(0)
            expect(page.locator(".dc-container").first).to_be_visible()


def test_an_evaluate_image_opens_on_the_draw_page_in_one_digit_mode_even_after_number_mode(app_url, page):
    """Test that "Open it on the Draw page" on Evaluate shows the MNIST image read under Upload in One digit mode,
    though the Draw page was last left in Number mode (which showed no image at all)."""
    open_draw_page(page, app_url)
    page.get_by_role("radio", name="A number", exact=True).click()
    wait_for_app_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Evaluate", exact=True).click()  # the same session
    closer = page.get_by_role("combobox", name="Look closer at one of them")
    expect(closer).to_be_visible(timeout=120_000)
    wait_for_app_idle(page)
    first_mistake = page.get_by_role("option", name=re.compile(r"^test image")).first
    for _ in range(5):  # a click while the page is still being redrawn can be lost: open the list again
        page.get_by_test_id("stSelectbox").filter(has_text="Look closer at one of them").click()
        try:
            first_mistake.wait_for(timeout=5_000)
            break
        except PlaywrightTimeoutError:
            wait_for_app_idle(page)
    first_mistake.click()
    page.get_by_role("button", name="Open it on the Draw page").click()
    expect(page.get_by_test_id("stImageCaption").filter(has_text="MNIST test image")).to_be_visible(timeout=60_000)
    wait_for_app_idle(page)
    assert page.evaluate(CHECKED_JS) == ["One digit", "Upload"]
    expect(page.get_by_test_id("stMetricLabel").filter(has_text="Prediction")).to_be_visible()


def _go_away_and_back(page, away: str, back: str) -> None:
    if away == "Drawings":  # another page of the app, in the same session
        page.get_by_test_id("stSidebarNav").get_by_text(away, exact=True).click()
        expect(page.get_by_role("heading", name=away)).to_be_visible(timeout=30_000)
        wait_for_app_idle(page)
        page.get_by_test_id("stSidebarNav").get_by_text(back, exact=True).click()
    else:
        page.get_by_role("radio", name=away, exact=True).click()
        # The digit's canvas has left the page, not a click taken back by the next before it ran.
        if away == "Upload":
            expect(page.get_by_test_id("stFileUploader")).to_be_visible(timeout=30_000)
            expect(page.locator(".dc-container")).to_have_count(0)
        else:
            expect(page.get_by_text("Write a number on the wide black strip")).to_be_visible(timeout=30_000)
        wait_for_app_idle(page)
        page.get_by_role("radio", name=back, exact=True).click()
    wait_for_app_idle(page)


def test_a_drawing_stays_on_the_canvas_after_a_look_at_upload_or_number_mode(app_url, page):
    """Test that a digit drawn, then Upload, A number or another page looked at, is still on the canvas and still
    read when the visitor comes back (the canvas came back empty and the reading gone), that it takes more strokes,
    and that a cleared canvas comes back empty."""
    open_draw_page(page, app_url)
    draw(page, FOUR)
    expect_prediction(page, "4")
    drawn = inked_pixels(page)
    assert drawn > 1_000
    for away, back in [("Upload", "Draw"), ("A number", "One digit"), ("Drawings", "Draw")]:
        _go_away_and_back(page, away, back)
        expect_prediction(page, "4")
        page.wait_for_timeout(1_000)  # what the page settles on, not a passing state on the way
        expect_prediction(page, "4")
        assert abs(inked_pixels(page) - drawn) <= 0.02 * drawn, away  # the same strokes, drawn again
    clear_canvas(page)
    draw(page, ONE)
    expect_prediction(page, "1")
    _go_away_and_back(page, "Upload", "Draw")
    expect_prediction(page, "1")
    clear_canvas(page)
    _go_away_and_back(page, "Upload", "Draw")
    page.wait_for_timeout(1_000)
    expect_empty_canvas_prompt(page)
    assert inked_pixels(page) == 0
    # The canvas toolbar's reset on a canvas mounted again empties it too (its reset went back to the redrawn strokes).
    draw(page, FOUR)
    expect_prediction(page, "4")
    _go_away_and_back(page, "Upload", "Draw")
    expect_prediction(page, "4")
    canvas_area(page).hover()
    page.get_by_role("button", name="Reset canvas & history").click()
    expect_empty_canvas_prompt(page)
    wait_for_app_idle(page)
    page.wait_for_timeout(1_000)
    expect_empty_canvas_prompt(page)
    assert inked_pixels(page) == 0
