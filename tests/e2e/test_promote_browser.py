"""Promoting a run in Chromium, as a person in a hurry does it: name typed and boxes ticked, then Promote at once."""

from __future__ import annotations

import json
import shutil

from playwright.sync_api import Page, expect

from tests.e2e.conftest import running_app, select_runs_table_row, wait_for_app_idle
from tests.run_fixtures import make_run


def test_a_name_typed_and_the_default_box_ticked_just_before_promote_both_count(page: Page, tmp_path,
                                                                                 small_models_dir, small_run):
    """Test that typing a model name, ticking "Make it the default" and clicking Promote within a fraction of a
    second, with no Tab and no waiting, promotes the run under that name and makes it the default for everyone."""
    models = shutil.copytree(small_models_dir, tmp_path / "models")
    runs = tmp_path / "runs"
    make_run(runs, "20260101-120000-cnn-small", "done", model_from=small_run, started_by="local")
    with running_app({"models": models, "runs": runs}) as url:
        page.goto(f"{url}/train")
        wait_for_app_idle(page)
        select_runs_table_row(page, 0)
        name = page.get_by_role("textbox", name="Model name")
        expect(name).to_be_visible(timeout=30_000)

        default_box = page.get_by_text("Make it the default for everyone")
        promote = page.get_by_role("button", name="Promote to models/")
        expect(promote).to_be_enabled(timeout=30_000)
        name.fill("quick-1")  # no Tab, no waiting: straight on to the box and the button
        default_box.click()
        promote.click()

        # Whichever notice the promotion ends with (a busy machine may take a while), it must be the default one.
        notice = page.get_by_text("Model quick-1 (version 1) is now")
        expect(notice).to_be_visible(timeout=120_000)
        expect(notice).to_have_text("Model quick-1 (version 1) is now the default model for everyone.")
        assert (models / "quick-1.keras").is_file()
        assert json.loads((models / "active.json").read_text())["name"] == "quick-1"
