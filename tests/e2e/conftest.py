"""Browser tests: a real `streamlit run app.py` on a free port, driven by Playwright in Chromium."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# One copy of how to start and reach a server and a browser, shared with the browser benchmark.
from digitlab.bench.servers import CHROMIUM_FLAGS, chromium_path, free_port, wait_for_health

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def e2e_dirs(tmp_path_factory, small_models_dir) -> dict:
    """Private models/ and runs/ folders for the served app."""
    models = tmp_path_factory.mktemp("e2e") / "models"
    shutil.copytree(small_models_dir, models)
    runs = models.parent / "runs"
    runs.mkdir()
    return {"models": models, "runs": runs}


@contextlib.contextmanager
def running_app(dirs: dict, extra_env: dict | None = None, script: str = "app.py"):
    """A fresh `streamlit run <script>` on a free port with the given models/ and runs/ folders."""
    port = free_port()
    env = {**os.environ, "DIGITLAB_MODELS": str(dirs["models"]), "DIGITLAB_RUNS": str(dirs["runs"]), **(extra_env or {})}
    log_path = dirs["runs"].parent / f"streamlit-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
             "--server.headless", "true", "--browser.gatherUsageStats", "false",
             "--server.address", "127.0.0.1"],  # tests and benchmarks talk to loopback only
            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_health(url, process)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            print(log_path.read_text()[-3000:])


@pytest.fixture(scope="session")
def app_url(e2e_dirs) -> str:
    """Start `streamlit run app.py` on a free port and return its base URL."""
    if chromium_path() is None:
        pytest.skip("no Chromium browser on this machine (install Debian's 'chromium' package)")
    with running_app(e2e_dirs) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium browser on this machine (install Debian's 'chromium' package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def wait_for_app_idle(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit has finished running the script."""
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout)


def sign_in_as_owner(page, password: str, timeout: float = 60_000) -> None:
    """Sign in with the owner password from the sidebar, as an owner does, and wait until the page says so."""
    from playwright.sync_api import expect

    wait_for_app_idle(page)  # a submit made while another run is going could be lost
    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Owner sign-in").click()
    sidebar.get_by_label("Owner password").fill(password)
    sidebar.get_by_role("button", name="Sign in as owner").click()
    expect(sidebar.get_by_text("Signed in as the owner.")).to_be_visible(timeout=timeout)
    wait_for_app_idle(page)


def save_screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def select_runs_table_row(page, row: int) -> None:
    """Tick the selection box of a row (0 = newest run) in the Train page's runs table, and let the page rerun."""
    table = page.get_by_test_id("stDataFrame")
    table.wait_for(timeout=60_000)
    table.scroll_into_view_if_needed()
    page.wait_for_timeout(500)  # the grid draws its rows on a canvas once it is in view
    box = table.bounding_box()
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17 + 35 * row)  # below the header, the row's selection box
    wait_for_app_idle(page)
