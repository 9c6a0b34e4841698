"""Drawing on the Draw page with the mouse, as a person would, and reading what the page answers."""

from __future__ import annotations

import math

from playwright.sync_api import expect

from tests.e2e.conftest import wait_for_app_idle

RESULT_TIMEOUT = 30_000  # ms: a stroke is sent 200 ms after the mouse is released, then the page reruns

# Strokes in canvas pixels (the canvas is 280 x 280), drawn the way a person would.
ONE = [[(140, 50), (140, 230)]]
ZERO = [[(140 + 60 * math.sin(t), 140 - 90 * math.cos(t)) for t in (i * 2 * math.pi / 40 for i in range(41))]]
FOUR = [[(110, 50), (80, 160), (200, 160)], [(170, 90), (170, 240)]]


def open_draw_page(page, app_url: str) -> None:
    page.goto(app_url)
    wait_for_app_idle(page)
    canvas_area(page).wait_for(timeout=RESULT_TIMEOUT)


def canvas_area(page):
    """The drawing surface of the canvas component (rendered in the page itself, not in an iframe)."""
    return page.locator(".dc-container").first


def wait_until_canvas_takes_strokes(page) -> None:
    """Wait until the drawing layer is the topmost thing on the canvas.

    A freshly mounted canvas (on page load, after Clear) is laid out for a moment before its
    stylesheet applies: the drawing layer then sits below the black background instead of over it,
    and a stroke started there is lost. On a busy machine that moment lasts long enough to draw in.
    """
    surface = canvas_area(page).element_handle(timeout=RESULT_TIMEOUT)
    page.wait_for_function(
        """surface => {
            const box = surface.getBoundingClientRect();
            const hit = surface.getRootNode().elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
            return hit !== null && hit.classList.contains("upper-canvas");
        }""",
        arg=surface, timeout=RESULT_TIMEOUT,
    )


def draw(page, strokes, at: dict | None = None) -> None:
    """Draw strokes with the mouse, pressing and releasing it once per stroke.

    Given where the canvas is (`at`, a bounding box), draw there at once, as a person would, whatever state
    the canvas is in; otherwise wait until the canvas takes strokes.
    """
    if at is None:
        wait_until_canvas_takes_strokes(page)
    box = at or canvas_area(page).bounding_box()
    for stroke in strokes:
        points = [(box["x"] + x, box["y"] + y) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for start, end in zip(points, points[1:]):
            page.mouse.move(*end, steps=max(1, int(math.dist(start, end) // 8)))
        page.mouse.up()
    page.mouse.move(5, 5)  # leave the canvas so its hover toolbar does not cover the page


def expect_prediction(page, digit: str) -> None:
    expect(page.get_by_test_id("stMetricValue")).to_have_text(digit, timeout=RESULT_TIMEOUT)
    expect(page.get_by_test_id("stMetricLabel")).to_have_text("Prediction")
    wait_for_app_idle(page)


def expect_empty_canvas_prompt(page) -> None:
    expect(page.get_by_test_id("stMetricValue")).to_have_text("–", timeout=RESULT_TIMEOUT)
    expect(page.get_by_text("Draw a digit from 0 to 9")).to_be_visible()


def inked_pixels(page) -> int:
    """How many pixels of the canvas's drawing layer carry ink (the canvas draws white on black)."""
    return canvas_area(page).locator("canvas.dc-canvas.lower-canvas").evaluate(
        """canvas => {
            const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
            let inked = 0;
            for (let i = 0; i < pixels.length; i += 4) if (pixels[i] > 128) inked++;
            return inked;
        }""")


def clear_canvas(page) -> None:
    """Press Clear and wait until the canvas is empty (it empties in the browser, at once) and the page has run."""
    page.get_by_role("button", name="Clear").click()
    expect(page.get_by_test_id("stMetricValue")).to_have_text("–", timeout=RESULT_TIMEOUT)
    assert inked_pixels(page) == 0
    wait_for_app_idle(page)
