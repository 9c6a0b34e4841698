"""`python -m digitlab bench --browser`: what a person drawing feels, measured in Chromium against a floor.

Two servers are started with `streamlit run`: DigitLab's app.py and the floor app (digitlab/ui/floor_app.py,
the same canvas component in a fragment with one st.metric). Headless Chromium, driven by Playwright,
draws real pen digits (UCI pendigits trajectories, held-out writers) stroke by stroke on each, taking
turns digit by digit so both see the same machine load. Each stroke is timed from pen-up to the page
settling: the last change to the page outside the canvas, once nothing has changed for QUIET_MS. A
fragment rerun does not flip the app's "running" state, so that state cannot be used.

Also measured: the first page view after each server starts, the servers' resident memory (process
and children) after the first prediction, and the wall time of `python -m digitlab predict` on one file.
Optionally: as many digits as it takes to reach a number of strokes (a p95 needs about 30), strokes with a
training run going (started as the Train page starts one), and a Chromium performance trace of one more
stroke on each app, summarised into its largest costs (digitlab/bench/browser_trace.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from digitlab.bench.servers import CHROMIUM_FLAGS, StreamlitServer, chromium_path
from digitlab.config.paths import REPO_ROOT

APP_SCRIPT = REPO_ROOT / "app.py"
FLOOR_SCRIPT = REPO_ROOT / "digitlab" / "ui" / "floor_app.py"
VIEWPORT = {"width": 1280, "height": 900}
QUIET_MS = 600  # a page unchanged this long has settled; longer than any gap inside one answer
STROKE_TIMEOUT_MS = 15_000  # a stroke not answered in this long is counted as unanswered
PAGE_TIMEOUT_MS = 120_000
SETTLE_AFTER_LOAD_S = 3.0  # a person looks at a new page about this long before drawing
DIGIT_SIZE = 0.7  # a drawn digit's longer side, as a share of the canvas
POINTS_PER_MOVE = 8  # canvas pixels per mouse event, about what a 60 Hz pointer gives when drawing

# Installed in each page before its first stroke. Pen-up is taken from the page's own pointerup event.
# The canvas component draws inside its own shadow root, which a MutationObserver on the page does not
# see, so every change observed is the app's answer.
SETTLE_WATCH_JS = """() => {
    if (window.__settle) return;
    const settle = window.__settle = {penUp: null, last: null};
    new MutationObserver(() => { if (settle.penUp !== null) settle.last = performance.now(); })
        .observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    window.addEventListener('pointerup', () => {
        settle.penUp = performance.now(); settle.last = null;
        performance.mark('digitlab-pen-up');  // where a performance trace of the stroke starts
    }, true);
}"""
SETTLED_JS = f"""() => window.__settle.last !== null && performance.now() - window.__settle.last >= {QUIET_MS}"""
# The canvas component renders in a shadow root (so its own changes never reach SETTLE_WATCH_JS's observer
# on the page). Just mounted, it is laid out for a moment before its stylesheet applies, with the drawing
# layer under the paper: the page is ready once the drawing layer is on top and the script has finished.
# One check, polled every 50 ms, finds the canvas itself: waiting first for a locator to appear would wait
# on Playwright's backing-off retries (up to 500 ms apart), and time those instead of the page.
CANVAS_READY_JS = """() => {
    const find = root => {
        const found = root.querySelector('.dc-container');
        if (found) return found;
        for (const element of root.querySelectorAll('*')) {
            const inner = element.shadowRoot && find(element.shadowRoot);
            if (inner) return inner;
        }
        return null;
    };
    const surface = find(document);
    if (surface === null) return false;
    const box = surface.getBoundingClientRect();
    const hit = surface.getRootNode().elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    const app = document.querySelector("[data-testid='stApp']");
    return hit !== null && hit.classList.contains('upper-canvas')
        && app !== null && app.getAttribute('data-test-script-state') === 'notRunning';
}"""


def canvas_strokes(digit, size: int = 280) -> list[list[tuple[float, float]]]:
    """A pen digit's strokes in canvas pixels: centred, its longer side DIGIT_SIZE of the canvas."""
    points = np.concatenate(digit.strokes)
    low, high = points.min(axis=0), points.max(axis=0)
    scale = DIGIT_SIZE * size / max(float((high - low).max()), 1.0)
    offset = (size - (high - low) * scale) / 2
    return [[tuple(point) for point in ((stroke - low) * scale + offset).tolist()] for stroke in digit.strokes]


class DrawingTab:
    """One browser tab on one server, drawing and timing strokes."""

    def __init__(self, browser, server: StreamlitServer):
        self.server = server
        self.context = browser.new_context(viewport=VIEWPORT)
        self.page = self.context.new_page()

    def open(self) -> float:
        """Load the page; seconds until its canvas takes strokes and the script has finished."""
        started = time.perf_counter()
        self.page.goto(self.server.url, timeout=PAGE_TIMEOUT_MS)
        self.page.wait_for_function(CANVAS_READY_JS, timeout=PAGE_TIMEOUT_MS, polling=50)
        seconds = time.perf_counter() - started
        self.page.evaluate(SETTLE_WATCH_JS)
        return seconds

    def let_settle(self) -> None:
        """Wait out what the page loads after its first view (the Draw page's charting library), so that
        neither the next server's start nor the first stroke is measured while it loads."""
        self.page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)
        time.sleep(SETTLE_AFTER_LOAD_S)

    def draw_stroke(self, stroke: list[tuple[float, float]]) -> float | None:
        """Draw one stroke; milliseconds from pen-up until the page settled, or None when it never answered."""
        box = self.page.locator(".dc-container").first.bounding_box()
        points = [(box["x"] + x, box["y"] + y) for x, y in stroke]
        mouse = self.page.mouse
        mouse.move(*points[0])
        mouse.down()
        for start, end in zip(points, points[1:]):
            distance = float(np.hypot(end[0] - start[0], end[1] - start[1]))
            mouse.move(*end, steps=max(1, int(distance // POINTS_PER_MOVE)))
        mouse.up()
        try:
            self.page.wait_for_function(SETTLED_JS, timeout=STROKE_TIMEOUT_MS, polling=20)
        except Exception:  # Playwright's TimeoutError: the stroke was not answered
            return None
        return float(self.page.evaluate("() => window.__settle.last - window.__settle.penUp"))

    def metric_value(self) -> str | None:
        values = self.page.get_by_test_id("stMetricValue")
        return values.first.inner_text() if values.count() else None

    def reset_canvas(self) -> None:
        """Empty the canvas with its own toolbar's bin (both apps have it) and let the page settle."""
        self.page.locator(".dc-container").first.hover()
        self.page.get_by_role("button", name="Reset canvas & history").click()
        self.page.evaluate("() => { window.__settle.penUp = performance.now(); window.__settle.last = null; }")
        try:
            self.page.wait_for_function(SETTLED_JS, timeout=STROKE_TIMEOUT_MS, polling=50)
        except Exception:
            pass  # nothing changed on the page: it was already showing its empty state
        self.page.mouse.move(5, 5)

    def close(self) -> None:
        self.context.close()


def stroke_figures(milliseconds: list[float | None]) -> dict:
    """Counts and percentiles of the strokes' times, and the first stroke's own: a fresh server's first
    visitor waits for whatever the server has not loaded yet (None if it was never answered)."""
    answered = np.array([ms for ms in milliseconds if ms is not None])
    figures = {"strokes": len(milliseconds), "unanswered": len(milliseconds) - len(answered),
               "first_ms": round(milliseconds[0], 1) if milliseconds and milliseconds[0] is not None else None}
    if len(answered):
        figures.update(p50_ms=round(float(np.percentile(answered, 50)), 1),
                       p95_ms=round(float(np.percentile(answered, 95)), 1),
                       max_ms=round(float(answered.max()), 1))
    return figures


def predict_one_file_s(repeats: int = 3) -> float:
    """Median wall time of `python -m digitlab predict` on one PNG, from process start to exit."""
    from PIL import Image

    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[40:240, 130:150] = 255
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "one.png"
        Image.fromarray(canvas).save(path)
        seconds = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "digitlab", "predict", str(path), "--json"], cwd=REPO_ROOT,
                           check=True, capture_output=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            seconds.append(time.perf_counter() - started)
    return round(float(np.median(seconds)), 2)


def pick_pen_digits(n_digits: int, seed: int = 0, min_strokes: int = 0) -> list:
    """At least n_digits pen digits of the held-out writers in a seeded order, more until they hold min_strokes strokes."""
    from digitlab.datasets.pendigits import pendigits_path
    from digitlab.datasets.pendigits import read_pendigits, split_by_writer

    path = pendigits_path()
    if path is None:
        raise FileNotFoundError("pendigits-orig.tra not found; set DIGITLAB_PENDIGITS")
    _, held_out = split_by_writer(read_pendigits(path))
    order = np.random.default_rng(seed).permutation(len(held_out))
    picked = [held_out[index] for index in order[:n_digits]]
    for index in order[n_digits:]:
        if sum(len(digit.strokes) for digit in picked) >= min_strokes:
            break
        picked.append(held_out[index])
    return picked


def start_background_training():
    """A real training run in its own process, at the CPU priority the Train page gives one; training when returned."""
    from digitlab.bench.speed import BackgroundTraining
    from digitlab.training.jobs import yield_to_the_page

    training = BackgroundTraining()
    yield_to_the_page(training.process.pid)
    try:
        training.wait_until_training(timeout=300)
    except BaseException:
        training.stop()
        raise
    return training


def ratio(numerator, denominator) -> float | None:
    return round(numerator / denominator, 2) if numerator and denominator else None


def run_browser_bench(n_digits: int = 20, seed: int = 0, min_strokes: int = 0, while_training: bool = False,
                      trace_dir: Path | None = None) -> dict:
    """Draw pen digits on the app and on the floor, taking turns; return the figures.

    At least n_digits digits, more until each app gets min_strokes strokes. while_training: with a real
    training run going (at the priority the Train page gives one). trace_dir: also trace one more stroke on
    each app with Chromium and write the traces there.
    """
    from playwright.sync_api import sync_playwright

    from digitlab.bench.machine import machine_description

    executable = chromium_path()
    if executable is None:
        raise FileNotFoundError("no Chromium on this machine: install Debian's 'chromium' package")
    digits = pick_pen_digits(n_digits, seed, min_strokes)
    n_digits = len(digits)
    report: dict = {"digits": n_digits, "quiet_ms": QUIET_MS, "while_training": while_training, "apps": {}}
    servers: dict[str, StreamlitServer] = {}
    training = None
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
            report["chromium"] = browser.version
            tabs, strokes, first = {}, {"app": [], "floor": []}, {}
            for name, script in (("app", APP_SCRIPT), ("floor", FLOOR_SCRIPT)):  # one at a time: no start slows another
                server = servers[name] = StreamlitServer(script)
                healthy_s = server.wait_until_healthy()
                tabs[name] = DrawingTab(browser, server)
                page_s = tabs[name].open()
                first[name] = {"server_healthy_s": round(healthy_s, 2), "page_load_s": round(page_s, 2),
                               "start_to_page_s": round(time.perf_counter() - server.started, 2)}
                tabs[name].let_settle()
            if while_training:  # started once both pages are up: it slows the strokes, not the servers' start
                training = start_background_training()
            read_correctly = 0
            for index, digit in enumerate(digits):
                for name, tab in tabs.items():
                    for stroke in canvas_strokes(digit):
                        strokes[name].append(tab.draw_stroke(stroke))
                    if index == 0:
                        first[name]["rss_after_first_prediction_mb"] = round(servers[name].rss_mb())
                    if name == "app":
                        read_correctly += tab.metric_value() == str(digit.label)
                    tab.reset_canvas()
            for name in servers:
                report["apps"][name] = {**first[name], **stroke_figures(strokes[name]), "all_ms": [None if ms is None else round(ms) for ms in strokes[name]]}
            report["apps"]["app"]["pen_digits_read_correctly"] = f"{read_correctly}/{n_digits}"
            if trace_dir is not None:
                from digitlab.bench.browser_trace import trace_stroke

                report["traces"] = {name: trace_stroke(browser, tab, canvas_strokes(digits[0])[0],
                                                       Path(trace_dir) / f"{name}-stroke-trace.json")
                                    for name, tab in tabs.items()}
            browser.close()
    finally:
        if training is not None:
            training.stop()
        for server in servers.values():
            server.stop()
    app, floor = report["apps"]["app"], report["apps"]["floor"]
    report["ratios"] = {"stroke_p50": ratio(app.get("p50_ms"), floor.get("p50_ms")),
                        "first_stroke": ratio(app.get("first_ms"), floor.get("first_ms")),
                        "stroke_p95": ratio(app.get("p95_ms"), floor.get("p95_ms")),
                        "start_to_page": ratio(app["start_to_page_s"], floor["start_to_page_s"]),
                        "page_load": ratio(app["page_load_s"], floor["page_load_s"])}
    report["predict_one_file_s"] = predict_one_file_s()
    report["machine"] = machine_description()  # last: it imports TensorFlow, which would slow the servers' start
    return report
