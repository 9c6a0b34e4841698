"""A stroke drawn right after Clear is never lost, even with a training run slowing the server down."""

from __future__ import annotations

import os
import random
import shutil
import signal

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import running_app
from tests.e2e.drawing import (ONE, RESULT_TIMEOUT, ZERO, canvas_area, clear_canvas, draw, expect_prediction,
                                inked_pixels)
from tests.run_fixtures import wait_for

TRIES = 20
DELAY_AFTER_CLEAR_S = (0.0, 1.0)  # how soon after Clear a person starts the next digit: at once, or up to 1 s
# Long enough to keep training through every try: digitnet with augmentation on 20,000 images, 20 epochs.
BUSY_RUN = dict(epochs=20, limit=20_000, augment=True)


@pytest.fixture(scope="module")
def busy_app(tmp_path_factory, small_models_dir, mnist):
    """The app, serving its own models/ and runs/, with a real training run going in its runs/ folder."""
    from digitlab.config.settings import Settings
    from digitlab.store import run_folder as runs
    from digitlab.store.run_config import TrainConfig
    from digitlab.training import jobs

    folder = tmp_path_factory.mktemp("busy")
    dirs = {"models": folder / "models", "runs": folder / "runs"}
    shutil.copytree(small_models_dir, dirs["models"])
    dirs["runs"].mkdir()
    run = jobs.start_run(TrainConfig(**BUSY_RUN), Settings(train_threads=1), dirs["runs"])
    try:
        def training():
            latest = jobs.refresh_run(runs.read_run(run.dir))
            assert latest.state in jobs.ACTIVE_STATES, (latest.state, latest.status.message, latest.log_tail())
            return latest.status.state == "running" and latest.status.batch > 0

        wait_for(training, 300, "the training run to start training")
        with running_app(dirs) as url:
            yield url, run
    finally:
        if jobs.pid_alive(run.pid):
            os.killpg(run.pid, signal.SIGKILL)


def test_strokes_drawn_right_after_clear_are_never_lost_while_a_run_trains(page, busy_app):
    """Test that, 20 times over with a training run going, a 1 drawn at once or up to 1 s after pressing Clear on a 0
    stays on the canvas and is read as 1: Clear took the 0 away and the new stroke was kept."""
    from digitlab.store import run_folder as runs
    from digitlab.training import jobs

    url, run = busy_app
    page.goto(url)
    canvas_area(page).wait_for(timeout=RESULT_TIMEOUT)
    where = canvas_area(page).bounding_box()  # the hand stays over the canvas, which does not move
    delays = random.Random(0)
    for attempt in range(TRIES):
        if attempt:
            clear_canvas(page)  # waits until the page shows the empty canvas
        draw(page, ZERO)
        expect_prediction(page, "0")
        page.get_by_role("button", name="Clear").click()
        page.wait_for_timeout(1000 * delays.uniform(*DELAY_AFTER_CLEAR_S))
        draw(page, ONE, at=where)

        expect(page.get_by_test_id("stMetricValue")).to_have_text("1", timeout=RESULT_TIMEOUT)
        assert inked_pixels(page) > 0, f"try {attempt + 1}: the stroke drawn after Clear vanished"
    assert jobs.trainer_is_running(jobs.refresh_run(runs.read_run(run.dir))), "the training run ended before the tries did"
