"""The owner's password sign-in in Chromium across a reload: kept by a signed cookie, which nobody can forge."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from digitlab.config.access import hash_password
from digitlab.config.owner_tokens import COOKIE_NAME
from tests.e2e.conftest import running_app, wait_for_app_idle

PASSWORD = "owner's secret"
SIGNED_IN = "Signed in as the owner."


def owner_cookie(page: Page, timeout: float = 30.0) -> dict:
    """The sign-in cookie once the page has set it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cookies = [cookie for cookie in page.context.cookies() if cookie["name"] == COOKIE_NAME and cookie["value"]]
        if cookies:
            return cookies[0]
        page.wait_for_timeout(250)
    raise AssertionError(f"the page set no {COOKIE_NAME} cookie within {timeout:.0f} s")


def is_signed_in_with(browser, url: str, cookie: dict) -> bool:
    """Whether a fresh browser that presents this cookie is shown as the owner."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        context.add_cookies([{**cookie, "url": url}])
        page = context.new_page()
        page.goto(url)
        wait_for_app_idle(page)
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("Owner sign-in").or_(sidebar.get_by_text(SIGNED_IN)).first.wait_for(timeout=60_000)
        return sidebar.get_by_text(SIGNED_IN).count() > 0
    finally:
        context.close()


def test_the_owner_stays_signed_in_across_a_reload_and_a_forged_or_revoked_token_is_refused(page: Page, browser,
                                                                                            tmp_path,
                                                                                            small_models_dir):
    """Test that after the owner password a reload is still the owner; that a cookie with a forged signature or a
    later expiry written into it is not; and that after Sign out the old token no longer signs anyone in."""
    env = {"DIGITLAB_OWNER_PASSWORD_HASH": hash_password(PASSWORD, iterations=1000)}
    with running_app({"models": small_models_dir, "runs": tmp_path / "runs"}, env) as url:
        page.goto(url)
        wait_for_app_idle(page)
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text("Owner sign-in").click()
        sidebar.get_by_label("Owner password").fill(PASSWORD)
        sidebar.get_by_role("button", name="Sign in as owner").click()
        expect(sidebar.get_by_text(SIGNED_IN)).to_be_visible(timeout=60_000)
        cookie = owner_cookie(page)
        assert cookie["sameSite"] == "Strict"

        page.reload()
        wait_for_app_idle(page)
        expect(sidebar.get_by_text(SIGNED_IN)).to_be_visible(timeout=60_000)

        expiry, token_id, signature = cookie["value"].split(".")
        forged = {"name": COOKIE_NAME, "value": f"{expiry}.{token_id}.{'0' * 64}"}
        prolonged = {"name": COOKIE_NAME, "value": f"{int(expiry) + 30 * 86400}.{token_id}.{signature}"}
        assert not is_signed_in_with(browser, url, forged)
        assert not is_signed_in_with(browser, url, prolonged)
        assert is_signed_in_with(browser, url, {"name": COOKIE_NAME, "value": cookie["value"]})

        sidebar.get_by_role("button", name="Sign out").click()
        expect(sidebar.get_by_text("Owner sign-in")).to_be_visible(timeout=60_000)
        assert not is_signed_in_with(browser, url, {"name": COOKIE_NAME, "value": cookie["value"]})
        page.reload()
        wait_for_app_idle(page)
        expect(sidebar.get_by_text("Owner sign-in")).to_be_visible(timeout=60_000)
        expect(sidebar.get_by_text(SIGNED_IN)).to_have_count(0)
