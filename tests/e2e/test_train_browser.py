"""The Train page in Chromium: start a tiny run from the form, watch it live, see it finish."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import save_screenshot, wait_for_app_idle

RUN_TIMEOUT_MS = 150_000  # a 2,000-image, one-epoch mlp run, on a busy two-core machine


def choose_option(page: Page, label: str, option: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text=label).click()
    page.get_by_role("option", name=option, exact=True).click()


def set_number(page: Page, label: str, value: int) -> None:
    field = page.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Tab")


def test_tiny_run_started_in_the_browser_shows_live_curves_and_finishes(app_url, page, e2e_dirs):
    """Test that a run started from the form shows its progress and chart live and ends marked done."""
    # In through the front page and its navigation, as a visitor would.
    page.goto(app_url)
    wait_for_app_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=re.compile("Train")).click()
    expect(page.get_by_role("heading", name="Train a model")).to_be_visible(timeout=30_000)
    wait_for_app_idle(page)

    choose_option(page, "Architecture", "mlp")
    set_number(page, "Epochs", 1)
    set_number(page, "Training images", 2000)
    page.get_by_role("button", name="Start training").click()

    # The live view appears at once, and the page keeps refreshing it without any click.
    expect(page.get_by_test_id("stProgress")).to_be_visible(timeout=30_000)
    expect(page.get_by_test_id("stPlotlyChart").first).to_be_visible(timeout=RUN_TIMEOUT_MS)
    expect(page.get_by_text(re.compile(r"^Finished\. Test accuracy"))).to_be_visible(timeout=RUN_TIMEOUT_MS)
    wait_for_app_idle(page)

    runs = [path for path in e2e_dirs["runs"].iterdir() if path.is_dir()]
    assert len(runs) == 1 and (runs[0] / "model.keras").is_file()
    expect(page.get_by_test_id("stProgress")).to_have_count(0)
    expect(page.get_by_test_id("stDataFrame")).to_be_visible()
    expect(page.get_by_role("button", name="Start training")).to_be_enabled()
    page.set_viewport_size({"width": 1280, "height": 1700})  # the page scrolls inside the app: show it all
    save_screenshot(page, "train")
