"""`python -m digitlab bench --memory`: what each part of the app costs the server in resident memory.

One `streamlit run app.py` server on loopback (with a throwaway runs folder and drawing bank), one
Chromium tab doing what a visitor does, in order: open the Draw page, draw a pen digit, open "Why this
answer?", open the Evaluate page, the Train page and the Drawings page. After each step, once the page
has settled, the server's resident memory (the process and its children) is read. The figures are
cumulative: a part's cost is its step's figure minus the one before. Streamlit shares cached models,
MNIST and indexes between sessions, so a second visitor costs far less than the first.

By default the server starts with an empty evaluation cache, as after a restart on Community Cloud (whose
disk is wiped): the Why? panel builds the model's index of the MNIST training digits and the Evaluate
page evaluates MNIST test in the server. warm_caches=True keeps the usual cache instead (DIGITLAB_CACHE),
as a server whose disk survived its restart; the report says which, and what the cache held.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from digitlab.bench.browser import APP_SCRIPT, PAGE_TIMEOUT_MS, DrawingTab, canvas_strokes, pick_pen_digits
from digitlab.bench.servers import CHROMIUM_FLAGS, StreamlitServer, chromium_path

SETTLE_S = 2.0  # after a page's script finished: let late work (charts, the cache writing) land in the figure
STEP_TIMEOUT_MS = 900_000  # building the Why? index or a first evaluation takes minutes on a busy 2-core machine


def _wait_until_idle(page) -> None:
    page.wait_for_function("""() => {
        const app = document.querySelector("[data-testid='stApp']");
        return app !== null && app.getAttribute('data-test-script-state') === 'notRunning';
    }""", timeout=STEP_TIMEOUT_MS, polling=100)
    page.wait_for_load_state("networkidle", timeout=STEP_TIMEOUT_MS)
    time.sleep(SETTLE_S)


def cached_for_default_model(cache_dir: Path) -> dict:
    """Whether cache_dir holds the default model's neighbour index and its MNIST test evaluation."""
    from digitlab.evaluation.metrics import cache_path
    from digitlab.explain.neighbours import embeddings_cache_path
    from digitlab.store.registry import default_entry

    sha256 = default_entry().sha256
    return {"nearest_digit_index": embeddings_cache_path(sha256, "train", cache_dir).is_file(),
            "mnist_test_evaluation": cache_path(sha256, cache_dir).is_file()}


def run_memory_bench(warm_caches: bool = False) -> dict:
    """The server's resident memory after each step a first visitor takes; MB, cumulative."""
    from playwright.sync_api import expect, sync_playwright

    from digitlab.bench.machine import machine_description
    from digitlab.evaluation.result_cache import CACHE_ENV_VAR, default_cache_dir

    executable = chromium_path()
    if executable is None:
        raise FileNotFoundError("no Chromium on this machine: install Debian's 'chromium' package")
    [digit] = pick_pen_digits(1)
    steps: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="digitlab-memory-bench-") as scratch:
        cache_dir = default_cache_dir() if warm_caches else Path(scratch) / "cache"
        caches = {"kept": warm_caches, "held_at_start": cached_for_default_model(cache_dir)}
        env = {"DIGITLAB_RUNS": str(Path(scratch) / "runs"), CACHE_ENV_VAR: str(cache_dir),
               "DIGITLAB_DATABASE_URL": f"sqlite:///{Path(scratch) / 'drawings.sqlite'}"}
        server = StreamlitServer(APP_SCRIPT, env)
        try:
            server.wait_until_healthy()
            steps.append({"step": "server started, no visitor yet", "rss_mb": round(server.rss_mb())})
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
                tab = DrawingTab(browser, server)
                page = tab.page

                def measure(step: str) -> None:
                    _wait_until_idle(page)
                    steps.append({"step": step, "rss_mb": round(server.rss_mb())})

                tab.open()
                measure("Draw page open (model loaded)")
                for stroke in canvas_strokes(digit):
                    tab.draw_stroke(stroke)
                measure("a digit drawn and read")
                page.get_by_text("Why this answer?").click()
                expect(page.get_by_text("The most similar MNIST training digits")).to_be_visible(
                    timeout=STEP_TIMEOUT_MS)
                measure("Why this answer? opened (MNIST and the nearest-digit index)")
                for path, step in (("evaluate", "Evaluate page (MNIST test evaluated, confusion matrix)"),
                                   ("train", "Train page"), ("drawings", "Drawings page (the bank opened)")):
                    page.goto(f"{server.url}/{path}", timeout=PAGE_TIMEOUT_MS)
                    measure(step)
                browser.close()
        finally:
            server.stop()
    for before, after in zip(steps, steps[1:]):
        after["added_mb"] = after["rss_mb"] - before["rss_mb"]
    return {"steps": steps, "caches": caches, "machine": machine_description()}
