"""A training run started from the app yields the CPU to the page: its trainer, every thread, at the lowest priority."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from digitlab.config.settings import Settings
from digitlab.store import run_folder as runs
from digitlab.store.run_config import TrainConfig
from digitlab.training import jobs
from tests.run_fixtures import wait_for

# Long enough to be training when it is looked at: 18,000 images in batches of 32 per epoch.
LONG = dict(arch="mlp", epochs=20, limit=20_000, batch_size=32, augment=False)


def thread_niceness(pid: int) -> dict[int, int]:
    """The nice value of each thread of a process (Linux: /proc/PID/task/TID/stat, field 19)."""
    values = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except OSError:
            continue  # the thread ended while we looked
        values[int(task.name)] = int(stat.rsplit(")", 1)[1].split()[16])
    return values


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads thread priorities from /proc")
def test_a_running_trainer_and_all_its_threads_run_at_the_lowest_priority(runs_dir, mnist):
    """Test that a run started as the app starts one trains at niceness 19 in every thread, TensorFlow's included,
    so a stroke on the Draw page is served before a training step."""
    run = jobs.start_run(TrainConfig(**LONG), Settings(train_threads=1), runs_dir)
    try:
        def training():
            latest = jobs.refresh_run(runs.read_run(run.dir))
            assert latest.state in jobs.ACTIVE_STATES, (latest.state, latest.status.message, latest.log_tail())
            return latest.status.state == "running" and latest.status.batch > 0

        wait_for(training, 180, f"run {run.name} to train some batches")
        niceness = thread_niceness(run.pid)

        assert len(niceness) > 1, "TensorFlow runs its work on threads of its own"
        assert set(niceness.values()) == {jobs.TRAINER_NICENESS} == {19}
    finally:
        if jobs.pid_alive(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
            wait_for(lambda: not jobs.pid_alive(run.pid), 10, "the trainer to be killed")
