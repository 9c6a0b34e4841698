"""Offline and private: every page, and a drawn digit, ask nothing of any server but the app's own."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.e2e.conftest import wait_for_app_idle
from tests.e2e.drawing import ONE, draw, expect_prediction, open_draw_page
# The app serving a copy of the shipped default model: no model to train first.
from tests.e2e.test_shipped_model_browser import shipped_app_url  # noqa: F401 (a fixture)

# Schemes that never leave the browser: inline pictures and the page's own blob and blank frames.
LOCAL_SCHEMES = ("data", "blob", "about")
PAGES = ("train", "evaluate", "drawings")  # at least these, beside Draw


def foreign_requests(requested: list[str], app_url: str) -> list[str]:
    """The requested URLs that go anywhere but the app's own origin."""
    own = urlsplit(app_url)
    return [url for url in requested
            if urlsplit(url).scheme not in LOCAL_SCHEMES
            and (urlsplit(url).scheme, urlsplit(url).netloc) != (own.scheme, own.netloc)]


def test_every_page_and_a_drawing_request_only_the_apps_own_server(page, shipped_app_url):
    """Test that Draw (with a stroke), Train, Evaluate and Drawings make no request beyond the app's origin."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    open_draw_page(page, shipped_app_url)
    draw(page, ONE)
    expect_prediction(page, "1")
    # Every page the navigation offers, so a page added later is covered too.
    links = page.get_by_test_id("stSidebarNav").locator("a").evaluate_all("links => links.map(link => link.href)")
    assert {urlsplit(link).path.strip("/") for link in links} >= set(PAGES), links
    for link in links:
        page.goto(link)
        wait_for_app_idle(page)
        page.get_by_test_id("stSidebarNav").wait_for(timeout=30_000)
    page.wait_for_timeout(1_000)  # the tab icon is fetched after the page has drawn

    assert len(requested) > len(links), "the browser recorded no requests at all"
    assert foreign_requests(requested, shipped_app_url) == []
    # The tab still shows DigitLab's own icon, carried inline by the page.
    icon = page.locator("link[rel='shortcut icon'], link[rel='icon']").first.get_attribute("href")
    assert icon.startswith("data:image/svg+xml"), icon
