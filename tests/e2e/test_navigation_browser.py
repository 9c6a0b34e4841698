"""Navigation in a real browser: deep links land inside the app's frame."""

from playwright.sync_api import expect

from tests.e2e.conftest import running_app, wait_for_app_idle


def test_deep_link_on_a_fresh_server_shows_the_app_frame(browser, e2e_dirs):
    """Test that a first visit straight to /train gets the navigation and the model sidebar."""
    with running_app(e2e_dirs) as url:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        try:
            page.goto(f"{url}/train")
            wait_for_app_idle(page)
            navigation = page.get_by_test_id("stSidebarNav")
            navigation.wait_for(timeout=30_000)
            for title in ("Draw", "Train", "Evaluate"):
                assert navigation.get_by_text(title, exact=True).count() == 1
            # The first visit reruns through app.py: wait for the sidebar's model picker, not just for idle.
            expect(page.get_by_test_id("stSidebar").get_by_text("Model", exact=True)).to_be_visible(timeout=30_000)
        finally:
            page.close()
