"""The Draw page's Why? panel in Chromium: opened after drawing, it explains the reading."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import ARTIFACTS, save_screenshot, wait_for_app_idle
from tests.e2e.drawing import ONE, ZERO, clear_canvas, draw, expect_prediction, open_draw_page

PANEL_TIMEOUT = 180_000  # ms: the first opening embeds the 60,000 training digits for this model


def test_why_panel_opens_and_explains_the_drawing(page, app_url):
    """Test that opening Why? after drawing shows saliency, similar training digits, what-ifs and feature maps, and
    that while it is open it follows the drawing: cleared, it asks for a digit; redrawn, it explains the new one."""
    page.goto(app_url)
    wait_for_app_idle(page, timeout=PANEL_TIMEOUT)  # the first visit loads the model: slow on a busy machine
    open_draw_page(page, app_url)
    draw(page, ZERO)
    expect_prediction(page, "0")

    page.get_by_text("Why this answer?").click()
    panel = page.get_by_test_id("stExpander").filter(has_text="Why this answer?")
    expect(panel.get_by_text("Where the ink counted", exact=True)).to_be_visible(timeout=PANEL_TIMEOUT)
    expect(panel.get_by_text("The most similar MNIST training digits", exact=True)).to_be_visible(timeout=PANEL_TIMEOUT)
    expect(panel.get_by_text("What each layer sees", exact=True)).to_be_visible(timeout=PANEL_TIMEOUT)
    wait_for_app_idle(page, timeout=PANEL_TIMEOUT)
    expect(panel.get_by_text("shifted 4 px left:")).to_be_visible()
    # saliency, 8 neighbours, 7 what-ifs and at least one feature map
    assert panel.locator("img").count() >= 1 + 8 + 7 + 1
    save_screenshot(page, "draw-why-panel")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    panel.screenshot(path=str(ARTIFACTS / "draw-why-panel-open.png"))

    # The panel stands outside the per-stroke fragment: while open, a change of drawing reruns the page for it.
    clear_canvas(page)
    expect(panel.get_by_text("Draw a digit: this panel then shows why")).to_be_visible(timeout=PANEL_TIMEOUT)
    expect(panel.get_by_text("Where the ink counted", exact=True)).not_to_be_visible()
    draw(page, ONE)
    expect_prediction(page, "1")
    expect(panel.get_by_text("Red ink argued for 1")).to_be_visible(timeout=PANEL_TIMEOUT)

    page.get_by_text("Why this answer?").click()  # closing it hides the explanation again
    expect(panel.get_by_text("Where the ink counted", exact=True)).not_to_be_visible(timeout=PANEL_TIMEOUT)
