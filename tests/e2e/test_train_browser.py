"""The Train page in Chromium: a run in progress is followed live, and its end is shown without a click."""

from __future__ import annotations

import re
import shutil

from playwright.sync_api import Page, expect

from digitlab.store import run_folder as runs
from tests.e2e.conftest import running_app, save_screenshot, wait_for_app_idle
from tests.run_fixtures import HISTORY_ROWS, fake_trainer, make_run
from digitlab.store.run_config import TrainConfig
from digitlab.store.run_history import HistoryWriter


def test_a_running_run_is_followed_live_and_its_end_appears_without_a_click(page: Page, tmp_path, small_models_dir,
                                                                             small_run, browser):
    """Test that the page says a run is training in view of the Start button, and refreshes the run's progress and
    curves by itself and shows it finished."""
    dirs = {"models": shutil.copytree(small_models_dir, tmp_path / "models"), "runs": tmp_path / "runs"}
    trainer = fake_trainer(holding_lock_for=dirs["runs"] / "20260101-120000-cnn-small")
    try:
        run_dir = make_run(dirs["runs"], "20260101-120000-cnn-small", "running", pid=trainer.pid,
                           config=TrainConfig(arch="cnn-small", epochs=3, title="watched run"))
        with running_app(dirs) as url:
            page.goto(f"{url}/train")
            wait_for_app_idle(page)
            expect(page.get_by_role("heading", name="Run watched run")).to_be_visible(timeout=30_000)
            expect(page.get_by_test_id("stProgress")).to_contain_text("Epoch 2 of 3")
            expect(page.get_by_role("button", name="Start training")).to_be_disabled()
            # Said where Start is pressed, not below the form (out of view on a laptop's screen).
            expect(page.get_by_text(re.compile(r"^Run watched run is training"))).to_be_in_viewport()

            # The trainer moves on: the page follows without any click.
            runs.update_status(run_dir, epoch=3, batch=5, progress=0.7)
            expect(page.get_by_test_id("stProgress")).to_contain_text("Epoch 3 of 3", timeout=15_000)
            history = HistoryWriter(run_dir)
            for row in HISTORY_ROWS[2:]:
                history.write(row)
            history.close()
            shutil.copyfile(small_run / runs.MODEL_FILE, run_dir / runs.MODEL_FILE)
            runs.update_status(run_dir, state="done", message="Finished", completed_epochs=3, progress=1.0,
                               test_accuracy=0.93, finished_at=runs.read_status(run_dir).started_at + 90, elapsed=90.0)
            trainer.kill()

            expect(page.get_by_text(re.compile(r"^Finished\. Test accuracy.*93\.00%"))).to_be_visible(timeout=20_000)
            wait_for_app_idle(page)
            expect(page.get_by_test_id("stProgress")).to_have_count(0)
            expect(page.get_by_role("button", name="Start training")).to_be_enabled()
            page.set_viewport_size({"width": 1280, "height": 1700})  # the page scrolls inside the app: show it all
            save_screenshot(page, "train")
    finally:
        trainer.kill()
        trainer.wait()
