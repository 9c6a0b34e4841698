"""The app as a visitor gets it: the shipped default model in models/, digits drawn with the mouse."""

from __future__ import annotations

import json
import shutil

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import REPO_ROOT, chromium_path, running_app, save_screenshot
from tests.e2e.drawing import (FOUR, ONE, ZERO, clear_canvas, draw, expect_empty_canvas_prompt, expect_prediction,
                                open_draw_page)


@pytest.fixture(scope="module")
def shipped_app_url(tmp_path_factory):
    """`streamlit run app.py` serving a copy of the repository's models/ (so the test never changes it)."""
    if chromium_path() is None:
        pytest.skip("no Chromium browser on this machine (install Debian's 'chromium' package)")
    root = tmp_path_factory.mktemp("shipped")
    models = root / "models"
    models.mkdir()
    for name in ("default.keras", "default.tflite", "default.json"):
        shutil.copyfile(REPO_ROOT / "models" / name, models / name)
    runs = root / "runs"
    runs.mkdir()
    with running_app({"models": models, "runs": runs}) as url:
        yield url


def test_shipped_model_reads_digits_drawn_one_after_another(page, shipped_app_url):
    """Test that the default model names each of three mouse-drawn digits, with Clear between them."""
    card = json.loads((REPO_ROOT / "models" / "default.json").read_text())
    open_draw_page(page, shipped_app_url)
    expect(page.get_by_test_id("stSidebar")).to_contain_text(card["architecture"])

    for expected, strokes in (("4", FOUR), ("1", ONE), ("0", ZERO)):
        draw(page, strokes)
        expect_prediction(page, expected)
        if expected == "4":
            save_screenshot(page, "draw-shipped-model")
        clear_canvas(page)
        expect_empty_canvas_prompt(page)
