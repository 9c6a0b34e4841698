"""The drawing bank in Chromium: a digit drawn and corrected on the Draw page shows up on Drawings and Evaluate."""

from __future__ import annotations

import re
import shutil

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import running_app, save_screenshot, wait_for_app_idle
from tests.e2e.drawing import ONE, RESULT_TIMEOUT, draw, expect_prediction, open_draw_page


@pytest.fixture
def fresh_app(e2e_dirs, tmp_path, browser):
    """The app on a fresh server whose drawing bank (an SQLite file beside its runs folder) starts empty."""
    models = tmp_path / "models"
    shutil.copytree(e2e_dirs["models"], models)
    runs = tmp_path / "runs"
    runs.mkdir()
    with running_app({"models": models, "runs": runs}) as url:
        yield url


def open_page(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    wait_for_app_idle(page)


def test_a_corrected_drawing_is_on_the_drawings_page_and_in_the_evaluate_dataset(page, fresh_app):
    """Test that a 1 corrected to a 7 is stored, shown in the gallery as wrong, and scored on Evaluate's bank."""
    open_draw_page(page, fresh_app)
    draw(page, ONE)
    expect_prediction(page, "1")

    page.locator(".st-key-bank_label_7 button").first.click()
    stored = page.get_by_text(re.compile(r"Stored in the drawing bank as drawing #\d+ \(a 7, read as 1\)"))
    expect(stored).to_be_visible(timeout=RESULT_TIMEOUT)
    drawing_id = re.search(r"#(\d+)", stored.inner_text()).group(1)
    save_screenshot(page, "bank-corrected")

    open_page(page, "Drawings")
    expect(page.get_by_text(f"#{drawing_id}: 7 · read 1 ✗")).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(page.get_by_text("1 drawing(s) match", exact=False)).to_be_visible()
    save_screenshot(page, "bank-drawings")

    open_page(page, "Evaluate")
    page.locator(".st-key-evaluate_dataset").get_by_text("Drawing bank").click()
    wait_for_app_idle(page)
    expect(page.get_by_text("on the 1 labelled drawings in the drawing bank")).to_be_visible(timeout=RESULT_TIMEOUT)
    accuracy = page.get_by_test_id("stMetric").filter(has_text="Accuracy").get_by_test_id("stMetricValue")
    expect(accuracy).to_have_text("0.00%")  # the model still reads the stored 28x28 as a 1
    expect(page.get_by_text(re.compile(r"^7 → 1 · [\d.]+%$"))).to_be_visible()  # the mistake gallery holds it
    save_screenshot(page, "bank-evaluate")
