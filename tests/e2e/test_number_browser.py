"""Number mode in Chromium: a number written with the mouse on the wide canvas is read digit by digit."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.e2e.conftest import save_screenshot, wait_for_app_idle
from tests.e2e.drawing import FOUR, ONE, RESULT_TIMEOUT, ZERO, canvas_area, draw, open_draw_page


def shifted(strokes, dx: float):
    return [[(x + dx, y) for x, y in stroke] for stroke in strokes]


def open_number_mode(page, app_url: str) -> None:
    open_draw_page(page, app_url)
    page.get_by_text("A number", exact=True).click()
    wait_for_app_idle(page)
    expect(page.get_by_text("Write a number on the wide black strip")).to_be_visible(timeout=RESULT_TIMEOUT)
    wait_for_app_idle(page)
    expect(canvas_area(page)).to_have_count(1, timeout=RESULT_TIMEOUT)
    from digitlab.serving.number_segmentation import NUMBER_CANVAS_SIZE
    from tests.e2e.screenshots import VISIBLE_WIDTH_JS

    box = canvas_area(page).bounding_box()
    assert (round(box["width"]), round(box["height"])) == NUMBER_CANVAS_SIZE  # the wide canvas, not the square one
    # Whole beside the open sidebar: nothing of it is cut off by the page's column.
    assert canvas_area(page).evaluate(VISIBLE_WIDTH_JS) >= box["width"] - 1
    # The brush and Clear stand above the strip, as they stand above One digit mode's canvas.
    for control in (page.get_by_test_id("stSlider"), page.get_by_role("button", name="Clear")):
        control_box = control.first.bounding_box()
        assert control_box["y"] + control_box["height"] <= box["y"], "above the strip"


def test_number_written_with_the_mouse_is_read(page, app_url):
    """Test that 1, 0 and 4 written side by side on the wide canvas read as 104, with bars per digit."""
    open_number_mode(page, app_url)

    draw(page, ONE + shifted(ZERO, 200) + shifted(FOUR, 420))

    expect(page.get_by_test_id("stMetricLabel")).to_have_text("Number", timeout=RESULT_TIMEOUT)
    expect(page.get_by_test_id("stMetricValue")).to_have_text("104", timeout=RESULT_TIMEOUT)
    wait_for_app_idle(page)
    expect(page.get_by_test_id("stPlotlyChart").locator(".main-svg").first).to_be_visible(timeout=RESULT_TIMEOUT)
    expect(page.get_by_text("Least certain")).to_be_visible()
    save_screenshot(page, "draw-number")


def test_canvas_strokes_come_back_where_they_were_drawn(page, e2e_dirs):
    """Test that the strokes read from the canvas's JSON lie where the mouse drew them, in canvas pixels."""
    import json

    from tests.e2e.conftest import running_app

    drawn = [[(100, 60), (100, 220)], [(300, 100), (400, 100), (400, 200)]]
    with running_app(e2e_dirs, script="tests/e2e/stroke_probe_app.py") as url:
        page.goto(url)
        wait_for_app_idle(page)
        draw(page, drawn)
        code = page.get_by_test_id("stCode")
        expect(code).to_have_count(1, timeout=RESULT_TIMEOUT)
        expect(code).to_contain_text('], [', timeout=RESULT_TIMEOUT)  # both strokes have arrived
        wait_for_app_idle(page)
        result = json.loads(code.inner_text())
    assert result["widths"] == [12, 12]
    for stroke, bounds in zip(drawn, result["bounds"]):
        xs, ys = [x for x, _ in stroke], [y for _, y in stroke]
        expected = [min(xs), min(ys), max(xs), max(ys)]
        assert all(abs(got - want) <= 4 for got, want in zip(bounds, expected)), (bounds, expected)


def test_touching_digits_are_read_with_a_box_over_each(page, app_url):
    """Test that a held-out writer's 4-digit number whose neighbours touch, written with the mouse on the Number
    canvas, reads right, and that the boxes picture has one box per digit, one between each pair."""
    import base64
    import io

    import numpy as np
    import pytest
    from PIL import Image

    from digitlab.datasets.pen_numbers import build_numbers
    from digitlab.datasets.pendigits import read_pendigits, split_by_writer
    from digitlab.ui.figures.numbers import DIGIT_BOX_COLOR, UNSURE_BOX_COLOR
    from tests.conftest import SHARED_PENDIGITS

    if not SHARED_PENDIGITS.is_file():
        pytest.skip("needs pendigits-orig.tra")
    _, held_out = split_by_writer(read_pendigits(SHARED_PENDIGITS))
    number = build_numbers(held_out, 1, lengths=(4,), seed=21, gap_range=(-0.08, 0.0))[0]
    open_number_mode(page, app_url)

    draw(page, [[(float(x), float(y)) for x, y in stroke.points] for stroke in number.strokes])

    expect(page.get_by_test_id("stMetricValue")).to_have_text(number.text, timeout=RESULT_TIMEOUT)
    wait_for_app_idle(page)
    for ordinal, digit in zip(("first", "second", "third", "fourth"), number.text):
        expect(page.get_by_text(f"{ordinal}: {digit}", exact=True)).to_be_visible()
    overlay = page.get_by_test_id("stImage").locator("img").first
    data_url = overlay.evaluate("""img => { const c = document.createElement('canvas');
        c.width = img.naturalWidth; c.height = img.naturalHeight; c.getContext('2d').drawImage(img, 0, 0);
        return c.toDataURL('image/png'); }""")
    picture = np.asarray(Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB"), int)
    scale = picture.shape[1] / 800  # the picture is the canvas's ink at its own resolution
    is_box = np.zeros(picture.shape[:2], bool)
    for color in (DIGIT_BOX_COLOR, UNSURE_BOX_COLOR):
        is_box |= (np.abs(picture - color).sum(axis=2) < 40)
    heights = [y1 - y0 for _, y0, _, y1 in number.boxes]
    edges = np.flatnonzero(is_box.sum(axis=0) >= 0.6 * min(heights) * scale)  # the boxes' upright sides
    sides = [group for group in np.split(edges, np.flatnonzero(np.diff(edges) > 1) + 1) if len(group)]
    assert len(sides) == 2 * len(number.text), [int(group.mean() / scale) for group in sides]
    centres = [(x0 + x1) / 2 * scale for x0, _, x1, _ in number.boxes]
    for left, right in zip(centres, centres[1:]):  # a box side between every pair of neighbours
        assert any(left < group.mean() < right for group in sides)


def test_a_number_stays_on_the_strip_after_a_look_at_one_digit_mode_and_clear_empties_it(page, app_url):
    """Test that a number written, then One digit mode looked at, is still on the strip and still read as 104 when
    the visitor comes back (the strip came back empty), and that after Clear it comes back empty; the strip's
    toolbar has no Edit mode."""
    from tests.e2e.drawing import inked_pixels

    open_number_mode(page, app_url)
    draw(page, ONE + shifted(ZERO, 200) + shifted(FOUR, 420))
    expect(page.get_by_test_id("stMetricValue")).to_have_text("104", timeout=RESULT_TIMEOUT)
    drawn = inked_pixels(page)
    canvas_area(page).hover()  # the strip's toolbar, as One digit mode's: no Edit mode
    expect(page.get_by_role("button", name="Undo")).to_be_visible()
    expect(page.get_by_role("button", name="Edit")).to_be_hidden()
    _look_at_one_digit_mode_and_back(page)
    expect(page.get_by_test_id("stMetricValue")).to_have_text("104", timeout=RESULT_TIMEOUT)
    assert abs(inked_pixels(page) - drawn) <= 0.02 * drawn  # the same strokes, drawn again
    page.get_by_role("button", name="Clear").click()
    wait_for_app_idle(page)
    expect(page.get_by_text("Write a number on the wide black strip")).to_be_visible(timeout=RESULT_TIMEOUT)
    _look_at_one_digit_mode_and_back(page)
    expect(page.get_by_text("Write a number on the wide black strip")).to_be_visible(timeout=RESULT_TIMEOUT)
    assert inked_pixels(page) == 0


def _look_at_one_digit_mode_and_back(page) -> None:
    page.get_by_role("radio", name="One digit", exact=True).click()
    # The strip has left the page, not a click taken back by the next before it ran.
    expect(page.get_by_role("heading", name="Draw a digit")).to_be_visible(timeout=RESULT_TIMEOUT)
    wait_for_app_idle(page)
    page.get_by_role("radio", name="A number", exact=True).click()
    wait_for_app_idle(page)
