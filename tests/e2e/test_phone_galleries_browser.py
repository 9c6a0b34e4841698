"""The image galleries (and the Drawings page's filters) on a phone: several to a row on a 390 px screen, as many as
before on a laptop."""

from __future__ import annotations

import contextlib
import re
import shutil

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import REPO_ROOT, running_app, save_screenshot, wait_for_app_idle
from tests.e2e.drawing import RESULT_TIMEOUT

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 900}
DRAWINGS = 9  # three full rows of three on a phone
FILTER_LABELS = re.compile(r"^(Label|Model's reading|Read right or wrong|Writer|Source|Saved between)$")
MISTAKE_CAPTION = re.compile(r"^\d → \d · \d+\.\d\d%$")  # true → predicted · confidence


@pytest.fixture
def app_with_mislabelled_drawings(tmp_path, mnist):
    """The app over a bank of MNIST test digits each labelled one more than it is: every one a mistake to show."""
    from digitlab.bank.drawing_checks import encode_png
    from digitlab.bank.records import NewDrawing
    from digitlab.bank.repository import DrawingBank

    bank_url = f"sqlite:///{(tmp_path / 'drawings.sqlite').resolve()}"
    bank = DrawingBank(bank_url)
    bank.migrate()
    bank.add_many(NewDrawing(png=encode_png(image), mnist=image, label=(int(label) + 1) % 10, source="draw",
                             writer="ana")
                  for image, label in zip(mnist.x_test[:DRAWINGS], mnist.y_test[:DRAWINGS]))
    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models)
    with running_app({"models": models, "runs": tmp_path / "runs"}, {"DIGITLAB_DATABASE_URL": bank_url}) as url:
        yield url


def tile_rows(tiles) -> list[list[dict]]:
    """The tiles' bounding boxes, grouped into rows by their top edge, each row left to right."""
    rows: dict[int, list[dict]] = {}
    for box in tiles.evaluate_all("tiles => tiles.map(tile => tile.getBoundingClientRect().toJSON())"):
        rows.setdefault(round(box["y"]), []).append(box)
    return [sorted(row, key=lambda box: box["x"]) for _, row in sorted(rows.items())]


def settled_rows(page, tiles, expected: list[int], timeout_ms: int = 10_000) -> list[list[dict]]:
    """tile_rows once the page's layout rules have reached it: the filters can be drawn a moment before the style
    that sets them two to a row, and under load that moment was measured (six rows of one)."""
    rows = tile_rows(tiles)
    for _ in range(timeout_ms // 250):
        if [len(row) for row in rows] == expected:
            break
        page.wait_for_timeout(250)
        rows = tile_rows(tiles)
    return rows


def assert_tiles_share_rows(tiles, screen_width: int, per_row: int) -> None:
    """The first row holds per_row tiles side by side, none overlapping the next, all on the screen."""
    rows = tile_rows(tiles)
    assert len(rows[0]) == per_row, [len(row) for row in rows]
    for row in rows:
        for box, right_hand in zip(row, row[1:]):
            assert box["x"] + box["width"] <= right_hand["x"], "tiles side by side, not on top of each other"
        assert row[-1]["x"] + row[-1]["width"] <= screen_width, "the last tile of a row ends on the screen"
    assert max(box["width"] for row in rows for box in row) <= screen_width / 3


@contextlib.contextmanager
def page_on_screen(browser, viewport: dict, url: str):
    """A page at url, loaded and idle, in a browser the size of a phone (a touch screen) or a laptop."""
    phone = viewport == PHONE
    context = browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    try:
        page = context.new_page()
        page.goto(url)
        wait_for_app_idle(page)
        yield page
    finally:
        context.close()


def test_drawings_gallery_keeps_three_tiles_to_a_row_on_a_phone(browser, app_with_mislabelled_drawings):
    """Test that on a 390 px phone the Drawings page shows three drawings to a row, and that a tile's Delete and
    its "Yes, delete" still work there, inside the tile; on a laptop the row still holds six."""
    for viewport, per_row in ((LAPTOP, 6), (PHONE, 3)):
        with page_on_screen(browser, viewport, f"{app_with_mislabelled_drawings}/drawings") as page:
            expect(page.get_by_text(f"{DRAWINGS} drawings match", exact=False)).to_be_visible(timeout=RESULT_TIMEOUT)
            tiles = page.locator("[data-testid='stColumn']").filter(has=page.get_by_test_id("stImage"))
            expect(tiles).to_have_count(DRAWINGS)
            assert_tiles_share_rows(tiles, viewport["width"], per_row)
            if viewport == PHONE:
                tile = tiles.nth(1)
                tile.get_by_role("button", name="Delete").click()
                confirm = tile.get_by_role("button", name="Yes, delete")
                expect(confirm).to_be_visible(timeout=RESULT_TIMEOUT)
                wait_for_app_idle(page)
                tile_box, confirm_box = tile.bounding_box(), confirm.bounding_box()
                assert tile_box["x"] <= confirm_box["x"] <= confirm_box["x"] + confirm_box["width"] <= \
                    tile_box["x"] + tile_box["width"] + 1, "the confirmation stays inside its tile"
                save_screenshot(page, "drawings-phone")
                confirm.click()  # Playwright clicks only what is not covered by another tile
                expect(page.get_by_text(f"{DRAWINGS - 1} drawings match", exact=False)).to_be_visible(
                    timeout=RESULT_TIMEOUT)


def test_drawings_filters_stand_two_to_a_row_on_a_phone_and_still_filter(browser, app_with_mislabelled_drawings):
    """Test that on a 390 px phone the Drawings page's six filters stand two to a row (three rows, not six) and the
    first drawing shows on the first screen, that a filter set there still filters, and that a laptop keeps three to
    a row."""
    for viewport, per_row in ((LAPTOP, 3), (PHONE, 2)):
        with page_on_screen(browser, viewport, f"{app_with_mislabelled_drawings}/drawings") as page:
            expect(page.get_by_text(f"{DRAWINGS} drawings match", exact=False)).to_be_visible(timeout=RESULT_TIMEOUT)
            fields = page.get_by_test_id("stColumn").filter(has=page.get_by_test_id("stWidgetLabel").filter(
                has_text=FILTER_LABELS))
            expect(fields).to_have_count(6)
            rows = settled_rows(page, fields, [per_row] * (6 // per_row))
            assert [len(row) for row in rows] == [per_row] * (6 // per_row)
            for row in rows:
                assert row[-1]["x"] + row[-1]["width"] <= viewport["width"], "each filter ends on the screen"
            if viewport == PHONE:
                first_drawing = page.get_by_test_id("stImage").first.bounding_box()
                assert first_drawing["y"] < viewport["height"], "the first drawing is on the first screen"
                page.get_by_role("combobox", name="Label").click()
                page.get_by_role("option", name="1", exact=True).click()
                expect(page.get_by_text("1 drawing matches", exact=False)).to_be_visible(timeout=RESULT_TIMEOUT)


def test_evaluate_mistakes_gallery_keeps_three_tiles_to_a_row_on_a_phone(browser, app_with_mislabelled_drawings):
    """Test that on a 390 px phone the Evaluate page's misclassified images stand three to a row, each at most a
    third of the screen wide; on a laptop the row still holds eight."""
    for viewport, per_row in ((LAPTOP, 8), (PHONE, 3)):
        with page_on_screen(browser, viewport, f"{app_with_mislabelled_drawings}/evaluate") as page:
            page.locator(".st-key-evaluate_dataset").get_by_text("Drawing bank").click()
            # The MNIST test set's mistakes, shown first, have captions of the same form: wait for the bank's.
            expect(page.get_by_text(f"on the {DRAWINGS} labelled drawings in the drawing bank")).to_be_visible(
                timeout=RESULT_TIMEOUT)
            wait_for_app_idle(page)
            captions = page.get_by_test_id("stImageCaption").filter(has_text=MISTAKE_CAPTION)
            expect(captions.first).to_be_visible(timeout=RESULT_TIMEOUT)
            tiles = page.locator("[data-testid='stColumn']").filter(has=captions)
            assert tiles.count() >= per_row
            assert_tiles_share_rows(tiles, viewport["width"], per_row)
            if viewport == PHONE:
                tiles.first.scroll_into_view_if_needed()
                save_screenshot(page, "evaluate-mistakes-phone")
