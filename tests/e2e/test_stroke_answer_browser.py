"""What a stroke costs the browser: no HTTP request, one chart updated in place showing what `predict` reads."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys

from playwright.sync_api import expect

from tests.e2e.conftest import REPO_ROOT, wait_for_app_idle
from tests.e2e.drawing import FOUR, ONE, RESULT_TIMEOUT, ZERO, draw, expect_prediction, open_draw_page

CHART = ".digitlab-probability-chart"
# The canvas sends its drawing as a PNG data URL inside the websocket message of each change.
SENT_PNG = re.compile(rb"data:image/png;base64,([A-Za-z0-9+/=]+)")
CHART_DRAWN_JS = f"""() => {{
    const chart = document.querySelector("{CHART}");
    return chart !== null && chart.dataset.probabilities !== undefined && Array.isArray(chart.data)
        && JSON.stringify(chart.data[0].y) === chart.dataset.probabilities;
}}"""


def wait_for_chart(page) -> None:
    """Wait until plotly has drawn the chart with the probabilities the page last sent it."""
    page.wait_for_function(CHART_DRAWN_JS, timeout=RESULT_TIMEOUT)


def chart_probabilities(page) -> tuple[list[float], list[float]]:
    """The ten probabilities as sent to the chart, and as plotly draws them (its bars' heights)."""
    sent = json.loads(page.locator(CHART).get_attribute("data-probabilities"))
    drawn = page.evaluate(f"() => document.querySelector('{CHART}').data[0].y")
    return sent, drawn


def test_a_stroke_sends_no_http_request(page, app_url):
    """Test that once the first reading is shown, further strokes are answered over the websocket alone:
    no image, script or chart is fetched."""
    open_draw_page(page, app_url)
    draw(page, ONE)
    expect_prediction(page, "1")
    page.wait_for_load_state("networkidle")  # the first reading has loaded all it needs

    requests = []
    page.on("request", lambda request: requests.append(f"{request.method} {request.url}"))
    draw(page, FOUR)
    expect_prediction(page, "4")
    page.wait_for_timeout(1500)  # anything the answer would fetch has been asked for by now

    assert requests == []


def test_the_chart_shows_what_predict_reads_from_the_same_drawing(page, app_url, e2e_dirs, tmp_path):
    """Test that the bars show the same ten probabilities as `python -m digitlab predict --json` gives for the
    very PNG the canvas sent the server."""
    sent_pngs: list[bytes] = []

    def watch(websocket) -> None:
        def frame(payload) -> None:
            data = payload if isinstance(payload, bytes) else payload.encode()
            sent_pngs.extend(base64.b64decode(match) for match in SENT_PNG.findall(data))

        websocket.on("framesent", frame)

    page.on("websocket", watch)
    open_draw_page(page, app_url)
    draw(page, ZERO)
    expect_prediction(page, "0")
    wait_for_chart(page)
    wait_for_app_idle(page)
    sent, drawn = chart_probabilities(page)

    assert sent_pngs, "the canvas's drawing was not seen on the websocket"
    drawing = tmp_path / "zero.png"
    drawing.write_bytes(sent_pngs[-1])
    result = subprocess.run(
        [sys.executable, "-m", "digitlab", "predict", str(drawing), "--json",
         "--model", str(e2e_dirs["models"] / "default.keras")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "DIGITLAB_MODELS": str(e2e_dirs["models"]), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    predicted = json.loads(result.stdout.strip().splitlines()[-1])

    assert predicted["digit"] == 0
    assert len(sent) == len(drawn) == len(predicted["probabilities"]) == 10
    for shown in (sent, drawn):
        assert all(abs(a - b) <= 1e-6 for a, b in zip(shown, predicted["probabilities"])), (shown, predicted)
    expect(page.locator(CHART)).to_have_attribute("aria-label", re.compile(r"^Probability of each digit: 0 \d+%"))


# Each bar as plotly drew it in the page: its height in probability units (its pixels over the axis's), and
# its fill; the grey bars are the first trace, the top digit's red bar the second.
DRAWN_BARS_JS = f"""() => {{
    const chart = document.querySelector("{CHART}");
    const axisLength = chart._fullLayout.yaxis._length;
    return [...chart.querySelectorAll(".barlayer .trace")].map((trace) =>
        [...trace.querySelectorAll(".point path")].map((bar) => ({{
            height: bar.getBBox().height / axisLength, fill: getComputedStyle(bar).fill }})));
}}"""


def test_the_bars_drawn_follow_each_new_reading(page, app_url):
    """Test that after each of two readings the bars on screen stand at the probabilities the page was sent,
    with only the read digit's bar in red: a stroke moves the bars plotly already drew, and they must end where
    a fresh drawing would put them."""
    open_draw_page(page, app_url)
    for strokes, digit in ((ONE, 1), (FOUR, 4)):
        draw(page, strokes)
        expect_prediction(page, str(digit))
        wait_for_chart(page)
        wait_for_app_idle(page)
        page.wait_for_timeout(300)  # plotly moves its bars on the next animation frame
        sent, _ = chart_probabilities(page)
        grey, red = page.evaluate(DRAWN_BARS_JS)

        assert max(range(10), key=sent.__getitem__) == digit
        assert len(grey) == 10 and all(abs(bar["height"] - p) < 0.01 for bar, p in zip(grey, sent)), (grey, sent)
        red_bars = [index for index, bar in enumerate(red) if bar["height"] > 0.001]
        assert red_bars == [digit] and abs(red[digit]["height"] - sent[digit]) < 0.01
        assert red[digit]["fill"] != grey[digit]["fill"]
