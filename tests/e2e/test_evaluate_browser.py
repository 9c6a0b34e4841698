"""The Evaluate page in Chromium: the confusion matrix draws, and clicking a cell filters the gallery."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import save_screenshot, wait_for_app_idle

CAPTION_PATTERN = re.compile(r"^(\d) → (\d) · (\d+\.\d\d)%$")  # true → predicted · confidence


def confusion_chart(page):
    """The Plotly chart whose plot holds a heatmap: the confusion matrix."""
    return page.locator("[data-testid='stPlotlyChart']").filter(has=page.locator(".hm, .heatmaplayer")).first


def gallery_captions(page) -> list[str]:
    captions = page.locator("[data-testid='stImageCaption']").all_inner_texts()
    return [caption.strip() for caption in captions if CAPTION_PATTERN.match(caption.strip())]


def selectbox_value(page, label: str) -> str:
    """The option a select box shows as chosen."""
    return page.get_by_role("combobox", name=label).input_value()


def click_cell(page, true_digit: int, predicted_digit: int) -> None:
    """Click the centre of one cell of the 10x10 matrix, as a user would."""
    chart = confusion_chart(page)
    chart.scroll_into_view_if_needed()
    plot_area = chart.locator(".nsewdrag").first.bounding_box()
    page.mouse.click(plot_area["x"] + (predicted_digit + 0.5) / 10 * plot_area["width"],
                     plot_area["y"] + (true_digit + 0.5) / 10 * plot_area["height"])


def wait_for_captions(page, predicate, timeout_s: float = 30) -> list[str]:
    """Poll the gallery until its captions satisfy predicate (the rerun after a click takes a moment)."""
    deadline = page.evaluate("Date.now()") + timeout_s * 1000
    captions = gallery_captions(page)
    while not (captions and predicate(captions)):
        if page.evaluate("Date.now()") > deadline:
            raise AssertionError(f"gallery never matched; captions were {captions}")
        page.wait_for_timeout(250)
        captions = gallery_captions(page)
    return captions


def test_evaluate_page_draws_matrix_and_gallery_and_a_cell_click_filters_it(app_url, page):
    """Test that /evaluate shows the metrics, the matrix and the mistakes, and clicking a cell shows only that pair,
    still chosen after a look at the Draw page."""
    page.set_viewport_size({"width": 1280, "height": 2000})  # tall enough to show matrix and gallery together
    page.goto(f"{app_url}/evaluate")
    wait_for_app_idle(page, timeout=120_000)

    # A first visit straight to /evaluate reruns through app.py once: wait for the page, not just for idle.
    expect(page.get_by_test_id("stMetricLabel").filter(has_text="Accuracy")).to_be_visible(timeout=60_000)
    confusion_chart(page).wait_for(timeout=30_000)
    assert confusion_chart(page).locator(".annotation-text").count() == 100  # every cell labelled
    captions = wait_for_captions(page, lambda found: len(found) > 0)
    true_digit, predicted_digit = (int(d) for d in CAPTION_PATTERN.match(captions[0]).groups()[:2])
    assert true_digit != predicted_digit

    # The most confident mistake names a confusion; click its cell in the matrix.
    click_cell(page, true_digit, predicted_digit)
    filtered = wait_for_captions(
        page, lambda found: all(c.startswith(f"{true_digit} → {predicted_digit} ·") for c in found))
    wait_for_app_idle(page)

    assert filtered
    assert selectbox_value(page, "True digit") == str(true_digit)
    assert selectbox_value(page, "Predicted as") == str(predicted_digit)
    summary = page.get_by_text(re.compile(r"misclassified images? match")).inner_text()
    assert f"true {true_digit}, predicted as {predicted_digit}" in summary
    page.get_by_text("Confusion matrix", exact=True).scroll_into_view_if_needed()
    save_screenshot(page, "evaluate")

    # A look at another page and back keeps the cell chosen (Streamlit forgot the boxes of a page not shown, and
    # the gallery went back to every mistake).
    page.get_by_test_id("stSidebarNav").get_by_text("Draw", exact=True).click()
    expect(page.locator(".dc-container").first).to_be_visible(timeout=30_000)
    wait_for_app_idle(page)
    page.get_by_test_id("stSidebarNav").get_by_text("Evaluate", exact=True).click()
    expect(page.get_by_test_id("stMetricLabel").filter(has_text="Accuracy")).to_be_visible(timeout=60_000)
    wait_for_app_idle(page)
    assert (selectbox_value(page, "True digit"), selectbox_value(page, "Predicted as")) == (
        str(true_digit), str(predicted_digit))
    assert wait_for_captions(page, lambda found: all(c.startswith(f"{true_digit} → {predicted_digit} ·")
                                                     for c in found))
