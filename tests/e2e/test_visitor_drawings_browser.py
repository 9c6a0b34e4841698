"""A visitor's drawings in the bank: what they type is shown as typed (a writer tag that looks like a web or mail
address is no link for anyone), and what they stored stays theirs across a reload."""

from __future__ import annotations

import shutil

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import REPO_ROOT, running_app, wait_for_app_idle
from tests.e2e.drawing import ONE, RESULT_TIMEOUT, draw, expect_prediction, open_draw_page

ADDRESS_TAGS = ["www.evil.com", "me@evil.com", "see WWW.Evil.Com now"]  # tags the bank accepts (. @ and spaces)
LINKS_TO_THEM_JS = """() => [...document.querySelectorAll("a[href]")]
    .map((link) => link.href).filter((href) => href.toLowerCase().includes("evil"))"""
SHOWN_TEXT_JS = "() => document.body.innerText.replaceAll('\\u2060', '')"  # as read: the joiners are invisible


@pytest.fixture
def app_with_address_tags(tmp_path, mnist):
    """The app over a bank holding one drawing by each writer whose tag looks like an address."""
    from digitlab.bank.drawing_checks import encode_png
    from digitlab.bank.records import NewDrawing
    from digitlab.bank.repository import DrawingBank

    bank_url = f"sqlite:///{(tmp_path / 'drawings.sqlite').resolve()}"
    bank = DrawingBank(bank_url)
    bank.migrate()
    bank.add_many(NewDrawing(png=encode_png(image), mnist=image, label=int(label), source="draw", writer=writer)
                  for image, label, writer in zip(mnist.x_test, mnist.y_test, ADDRESS_TAGS))
    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models)
    with running_app({"models": models, "runs": tmp_path / "runs"}, {"DIGITLAB_DATABASE_URL": bank_url}) as url:
        yield url


def test_address_like_writer_tags_are_shown_as_text_not_links(page, app_with_address_tags):
    """Test that the Drawings page shows writer tags such as www.evil.com and me@evil.com in its captions as plain
    text, which another visitor cannot click, and that a visitor typing one as their own writer tag on the Draw
    page sees it quoted, not linked."""
    page.goto(f"{app_with_address_tags}/drawings")
    wait_for_app_idle(page)
    expect(page.get_by_test_id("stImage")).to_have_count(len(ADDRESS_TAGS), timeout=RESULT_TIMEOUT)
    expect(page.get_by_test_id("stImage").last).to_contain_text("#1:")
    shown = page.evaluate(SHOWN_TEXT_JS)
    assert all(tag in shown for tag in ADDRESS_TAGS), "each tag reads as it was typed"
    assert page.evaluate(LINKS_TO_THEM_JS) == []

    page.goto(app_with_address_tags)
    wait_for_app_idle(page)
    page.get_by_role("button", name="Writer").click()
    box = page.get_by_label("Writer tag (optional)", exact=True)
    box.fill("me@evil.com")
    box.press("Enter")
    wait_for_app_idle(page)
    page.keyboard.press("Escape")  # close the popover: the caption under the bar names the tag in use
    # The caption names the new tag once the page has rerun with it (it named the browser's own tag before).
    page.wait_for_function(f"() => ({SHOWN_TEXT_JS})().includes('under the writer tag me@evil.com')",
                           timeout=RESULT_TIMEOUT)
    assert page.evaluate(LINKS_TO_THEM_JS) == []


def test_a_visitor_keeps_their_drawings_across_a_reload_and_another_browser_gets_none(browser, tmp_path, mnist):
    """Test that on a deployment with an owner, a visitor who stored a drawing can still delete it after reloading
    the page (the same browser, a new session), while a visitor in another browser cannot."""
    from digitlab.config.access import hash_password

    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models)
    env = {"DIGITLAB_OWNER_PASSWORD_HASH": hash_password("teacher's secret", iterations=1000),
           "DIGITLAB_DATABASE_URL": f"sqlite:///{(tmp_path / 'drawings.sqlite').resolve()}"}
    with running_app({"models": models, "runs": tmp_path / "runs"}, env) as url:
        drawer, other = (browser.new_context(viewport={"width": 1280, "height": 1000}).new_page() for _ in range(2))
        open_draw_page(drawer, url)
        draw(drawer, ONE)
        expect_prediction(drawer, "1")
        drawer.locator(".st-key-bank_right button:visible").first.click()
        expect(drawer.get_by_text("Stored in the drawing bank", exact=False)).to_be_visible(timeout=RESULT_TIMEOUT)

        for page in (drawer, other):
            page.goto(f"{url}/drawings")
            wait_for_app_idle(page)
        drawer.reload()  # a new session of the same browser
        wait_for_app_idle(drawer)
        for page in (drawer, other):
            expect(page.get_by_text("1 drawing matches", exact=False)).to_be_visible(timeout=RESULT_TIMEOUT)
        expect(drawer.get_by_role("button", name="Delete your 1 matching drawing")).to_be_visible()
        expect(drawer.get_by_role("button", name="Delete", exact=True)).to_have_count(1)
        expect(other.get_by_role("button", name="Delete", exact=True)).to_have_count(0)
        expect(other.get_by_role("button", name="Delete your 1 matching drawing")).to_have_count(0)


def test_a_refused_writer_tag_closes_its_popover_and_is_said_in_the_bar_uncovered(page, tmp_path):
    """Test that a visitor who types another's writer tag (pen-01) and presses Enter sees the popover close and the
    refusal under the bar, with nothing over it (the open popover covered half of it), and that a good tag typed
    next closes it too and is named in the bar's caption."""
    from digitlab.config.access import hash_password

    models = tmp_path / "models"
    shutil.copytree(REPO_ROOT / "models", models)
    env = {"DIGITLAB_OWNER_PASSWORD_HASH": hash_password("teacher's secret", iterations=1000),
           "DIGITLAB_DATABASE_URL": f"sqlite:///{(tmp_path / 'drawings.sqlite').resolve()}"}
    with running_app({"models": models, "runs": tmp_path / "runs"}, env) as url:
        page.set_viewport_size({"width": 1280, "height": 1000})
        open_draw_page(page, url)
        for typed in ("pen-01", "Class 4B"):
            page.get_by_role("button", name="Writer").click()
            box = page.get_by_label("Writer tag (optional)", exact=True)
            expect(box).to_be_visible(timeout=RESULT_TIMEOUT)
            wait_for_app_idle(page)  # opening the popover reruns the bar; a person types after it has opened
            box.fill(typed)
            box.press("Enter")
            expect(box).to_be_hidden(timeout=RESULT_TIMEOUT)
            wait_for_app_idle(page)
            if typed == "pen-01":
                refusal = page.get_by_test_id("stAlertContentError").filter(has_text="is the form kept for")
                expect(refusal).to_be_visible(timeout=RESULT_TIMEOUT)
                assert refusal.evaluate("""(alert) => { const box = alert.getBoundingClientRect();
                    const found = document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2);
                    return alert.contains(found); }"""), "nothing covers the refusal"
        page.wait_for_function(f"() => ({SHOWN_TEXT_JS})().includes('under the writer tag Class 4B')",
                               timeout=RESULT_TIMEOUT)
        expect(page.get_by_test_id("stAlertContentError").filter(has_text="is the form kept for")).to_have_count(0)
