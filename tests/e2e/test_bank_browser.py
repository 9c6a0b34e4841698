"""The drawing bank in Chromium: a digit drawn and corrected on the Draw page shows up on Drawings and Evaluate."""

from __future__ import annotations

import csv
import io
import re
import shutil
import zipfile

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
    with running_app({"models": models, "runs": runs}, {"DIGITLAB_DATABASE_URL": server_bank_url(tmp_path)}) as url:
        yield url


def server_bank_url(tmp_path) -> str:
    """The URL of fresh_app's bank: an SQLite file of this test's own."""
    return f"sqlite:///{(tmp_path / 'drawings.sqlite').resolve()}"


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
    expect(page.get_by_text("1 drawing matches", exact=False)).to_be_visible()
    save_screenshot(page, "bank-drawings")

    open_page(page, "Evaluate")
    page.locator(".st-key-evaluate_dataset").get_by_text("Drawing bank").click()
    wait_for_app_idle(page)
    expect(page.get_by_text("on the 1 labelled drawing in the drawing bank")).to_be_visible(timeout=RESULT_TIMEOUT)
    accuracy = page.get_by_test_id("stMetric").filter(has_text="Accuracy").get_by_test_id("stMetricValue")
    expect(accuracy).to_have_text("0.00%")  # the model still reads the stored 28x28 as a 1
    expect(page.get_by_text(re.compile(r"^7 → 1 · [\d.]+%$"))).to_be_visible()  # the mistake gallery holds it
    save_screenshot(page, "bank-evaluate")


@pytest.fixture
def page_in_kolkata(browser):
    """A browser whose clock is in Asia/Kolkata (UTC+05:30): a time written in UTC cannot pass for it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Asia/Kolkata")
    yield context.new_page()
    context.close()


def test_an_export_downloads_from_its_file_and_a_confirmed_delete_can_be_undone(page_in_kolkata, fresh_app, tmp_path,
                                                                                  mnist):
    """Test that the Drawings page's zip downloads whole, that a delete asks first and Undo brings the drawing back,
    and that the time until which it can be brought back is in the visitor's own time zone."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from digitlab.bank.repository import BIN_TIME
    from tests.databases import bank_of_mnist_digits

    page = page_in_kolkata
    bank = bank_of_mnist_digits(server_bank_url(tmp_path), mnist, 3, ["ana"])
    ids = sorted(drawing.id for drawing in bank.drawings())
    page.goto(fresh_app)
    wait_for_app_idle(page)
    open_page(page, "Drawings")
    expect(page.get_by_text("3 drawings match", exact=False)).to_be_visible(timeout=RESULT_TIMEOUT)

    page.locator(".st-key-drawings_prepare_export button").click()
    download_button = page.locator(".st-key-drawings_download button")
    expect(download_button).to_contain_text("3 drawings", timeout=RESULT_TIMEOUT)
    with page.expect_download(timeout=RESULT_TIMEOUT) as download:
        download_button.click()
    with zipfile.ZipFile(download.value.path()) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
        assert sorted(int(row["id"]) for row in rows) == ids
        assert all(archive.read(row["file"]).startswith(b"\x89PNG") for row in rows)

    page.locator(f".st-key-delete_{ids[0]} button").first.click()
    wait_for_app_idle(page)
    expect(page.get_by_text(f"Delete drawing #{ids[0]}?")).to_be_visible(timeout=RESULT_TIMEOUT)
    assert bank.count() == 3  # nothing goes on the first click
    page.locator(f".st-key-confirm_delete_{ids[0]} button").first.click()
    deleted = page.get_by_text(f"Drawing #{ids[0]} was deleted.", exact=False)
    expect(deleted).to_be_visible(timeout=RESULT_TIMEOUT)
    until = re.search(r"brought back until (\d\d:\d\d)\.", deleted.inner_text()).group(1)
    deadline = datetime.now(ZoneInfo("Asia/Kolkata")) + BIN_TIME
    assert until in {f"{deadline + timedelta(minutes=shift):%H:%M}" for shift in (-1, 0)}, until
    expect(page.get_by_text("2 drawings match", exact=False)).to_be_visible()
    save_screenshot(page, "bank-delete-undo")
    wait_for_app_idle(page)
    page.locator(f".st-key-undo_delete_{ids[0]} button").first.click()
    expect(page.get_by_text(f"Drawing #{ids[0]} is back.")).to_be_visible(timeout=RESULT_TIMEOUT)
    assert sorted(drawing.id for drawing in bank.drawings()) == ids
