"""Training jobs with real `python -m digitlab train` processes: start, finish, stop, die, one at a time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from digitlab import jobs
from digitlab.settings import Settings, SettingsError, load_settings
from digitlab.train import TrainConfig

TINY = dict(arch="mlp", epochs=1, limit=2000, augment=False)
# Long enough that it is still going when the test acts on it: 18,000 images in batches of 32 per epoch.
LONG = dict(arch="mlp", epochs=20, limit=20_000, batch_size=32, augment=False)
SETTINGS = Settings(train_threads=1)


def wait_for(condition, timeout: float, what: str, interval: float = 0.2):
    """Poll condition() until it returns something truthy; fail naming `what` after timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def current(run: jobs.RunInfo) -> jobs.RunInfo:
    return jobs.refresh_run(jobs.read_run(run.dir))


def finished(run: jobs.RunInfo, timeout: float = 120) -> jobs.RunInfo:
    return wait_for(lambda: (latest := current(run)).is_active is False and latest, timeout, f"run {run.name} to end")


def training_batches(run: jobs.RunInfo, completed_epochs: int = 0) -> jobs.RunInfo:
    """Wait until the run is training, past `completed_epochs` epochs and some batches into the next."""
    def ready():
        latest = current(run)
        assert latest.state in jobs.ACTIVE_STATES, (latest.state, latest.status.get("message"), latest.log_tail())
        status = latest.status
        return (status.get("state") == "running" and status.get("batch", 0) > 0
                and status.get("completed_epochs", 0) >= completed_epochs
                and status.get("epoch", 0) > completed_epochs and latest)

    return wait_for(ready, 120, f"run {run.name} to train some batches")


@pytest.fixture
def launched(runs_dir):
    """Start runs through jobs.start_run and kill whatever is still running at the end of the test."""
    started: list[jobs.RunInfo] = []

    def start(**config) -> jobs.RunInfo:
        run = jobs.start_run(TrainConfig(**config), SETTINGS, runs_dir)
        started.append(run)
        return run

    yield start
    for run in started:
        if current(run).is_active and jobs.is_training_process(run.pid):
            os.killpg(run.pid, signal.SIGKILL)
            wait_for(lambda: not jobs.pid_alive(run.pid), 10, "cleanup kill")


def dead_pid() -> int:
    """The pid of a process that has ended and been reaped."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_tiny_run_completes_with_every_run_file(launched, runs_dir):
    """Test that a started run trains in its own process, writes every run file and frees the lock."""
    run = launched(**TINY)
    assert run.state == "starting" and run.pid != os.getpid()

    done = finished(run)

    assert done.state == "done", (done.status, done.log_tail())
    for name in ("config.json", "status.json", "history.csv", "log.txt", "model.keras", "job.json"):
        assert (done.dir / name).is_file(), name
    assert 0.3 < done.status["test_accuracy"] <= 1.0
    assert done.status["parameters"] > 0
    history = jobs.read_history(done.dir)
    assert list(history["kind"]).count("epoch") == 1 and history["val_accuracy"].notna().any()
    assert done.config["threads"] == SETTINGS.train_threads, "the run must be limited to the configured threads"
    assert jobs.active_run(runs_dir) is None
    assert not (runs_dir / jobs.LOCK_FILE).exists()
    assert [listed.name for listed in jobs.refresh_runs(runs_dir)] == [run.name]


def test_second_start_is_refused_while_a_run_is_going(launched, runs_dir):
    """Test that one run at a time is enforced, with a message naming the running run."""
    first = launched(**LONG)

    with pytest.raises(jobs.TrainingBusyError) as refusal:
        jobs.start_run(TrainConfig(**TINY), SETTINGS, runs_dir)

    assert refusal.value.run_name == first.name and first.name in str(refusal.value)
    assert [run.name for run in jobs.list_runs(runs_dir)] == [first.name], "a refused start must leave no run folder"
    assert jobs.active_run(runs_dir).name == first.name
    with pytest.raises(jobs.RunActiveError, match="stop it before deleting"):
        jobs.delete_run(first)


def test_stop_ends_the_run_within_seconds_and_keeps_the_last_epoch(launched):
    """Test that Stop ends a training run soon, marked stopped and partial, with the last completed epoch's model."""
    run = training_batches(launched(**LONG), completed_epochs=1)

    jobs.request_stop(run)
    asked = time.time()
    stopped = finished(run, timeout=20)

    assert time.time() - asked < 20
    assert stopped.state == "stopped", (stopped.status, stopped.log_tail())
    assert stopped.status["partial"] is True
    assert stopped.status["completed_epochs"] >= 1 and stopped.can_promote
    assert stopped.status["test_accuracy"] > 0.5


def test_killed_run_shows_as_failed_with_its_log(launched, runs_dir):
    """Test that a run whose process is killed -9 is shown as failed, not running, and frees the lock."""
    run = training_batches(launched(**LONG))

    os.kill(run.pid, signal.SIGKILL)
    failed = wait_for(lambda: (latest := current(run)).state == "failed" and latest, 10, "the run to show as failed")

    assert "SIGKILL" in failed.status["message"]
    assert failed.status["finished_at"] >= failed.status["started_at"]
    assert "Epoch 1/" in failed.log_tail(), "the log's last lines are there to show"
    assert json.loads((run.dir / "status.json").read_text())["state"] == "failed", "the failure is written down"
    assert jobs.active_run(runs_dir) is None
    assert not jobs.pid_alive(run.pid), "the killed child must be reaped, not left a zombie"


def test_process_that_dies_before_writing_status_is_failed(runs_dir):
    """Test that a launched run whose process never wrote a status is failed, not 'starting' forever."""
    run_dir = runs_dir / "20260101-000000-mlp"
    run_dir.mkdir()
    (run_dir / "job.json").write_text(json.dumps({"pid": dead_pid(), "launched_at": time.time() - 5,
                                                  "config": {"arch": "mlp", "epochs": 1}}))
    (run_dir / "log.txt").write_text("Traceback (most recent call last):\nImportError: no module named keras\n")

    assert jobs.read_run(run_dir).state == "starting"
    run = jobs.refresh_run(jobs.read_run(run_dir))

    assert run.state == "failed"
    assert "ImportError" in run.log_tail()
    assert run.status["arch"] == "mlp"


def test_a_zombie_child_is_not_alive():
    """Test that a child that has exited but was not waited for counts as dead."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z", 10,
             "the child to exit")

    assert not jobs.pid_alive(process.pid)


def test_stale_lock_of_a_dead_process_is_cleared(runs_dir):
    """Test that a lock left by a process that died lets the next run start, and its run shows as failed."""
    stale_run = runs_dir / "20260101-000000-cnn-small"
    stale_run.mkdir()
    pid = dead_pid()
    (stale_run / "status.json").write_text(json.dumps({"state": "running", "pid": pid, "started_at": time.time() - 60}))
    (runs_dir / jobs.LOCK_FILE).write_text(json.dumps({"pid": pid, "run": stale_run.name}))

    assert jobs.active_run(runs_dir) is None

    assert not (runs_dir / jobs.LOCK_FILE).exists()
    assert jobs.read_run(stale_run).state == "failed"


def test_lock_of_a_finished_run_is_cleared_even_if_its_pid_is_reused(runs_dir):
    """Test that a lock naming a finished run is stale although a live process now has its pid."""
    finished_run = runs_dir / "20260101-000000-mlp"
    finished_run.mkdir()
    (finished_run / "status.json").write_text(json.dumps({"state": "done", "pid": os.getpid()}))
    (runs_dir / jobs.LOCK_FILE).write_text(json.dumps({"pid": os.getpid(), "run": finished_run.name}))

    assert jobs.active_run(runs_dir) is None
    assert not (runs_dir / jobs.LOCK_FILE).exists()


def test_deployment_limits_refuse_a_run_before_it_starts(runs_dir):
    """Test that epochs or images over the deployment's limits, or training turned off, start nothing."""
    capped = Settings(max_epochs=3, max_train_images=5000)
    with pytest.raises(ValueError, match="at most 3 epochs"):
        jobs.start_run(TrainConfig(arch="mlp", epochs=4, limit=2000), capped, runs_dir)
    with pytest.raises(ValueError, match="5,000 training images"):
        jobs.start_run(TrainConfig(arch="mlp", epochs=1, limit=None), capped, runs_dir)
    with pytest.raises(ValueError, match="turned off"):
        jobs.start_run(TrainConfig(**TINY), Settings(training_enabled=False), runs_dir)
    with pytest.raises(ValueError, match="Unknown architecture"):
        jobs.start_run(TrainConfig(arch="resnet", epochs=1), SETTINGS, runs_dir)

    assert list(runs_dir.iterdir()) == []


def test_settings_come_from_env_then_secrets_and_bad_values_are_named():
    """Test that settings read env vars before secrets, default to one training thread, and name a bad value."""
    settings = load_settings({"DIGITLAB_MAX_EPOCHS": "7", "DIGITLAB_TRAINING_ENABLED": False},
                             environ={"DIGITLAB_MAX_EPOCHS": "5", "DIGITLAB_MAX_TRAIN_IMAGES": "100000"})
    assert settings == Settings(training_enabled=False, max_epochs=5, max_train_images=60_000, train_threads=1)

    with pytest.raises(SettingsError, match="DIGITLAB_TRAIN_THREADS"):
        load_settings(environ={"DIGITLAB_TRAIN_THREADS": "many"})
    with pytest.raises(SettingsError, match="DIGITLAB_TRAINING_ENABLED"):
        load_settings(environ={"DIGITLAB_TRAINING_ENABLED": "maybe"})


def test_delete_removes_a_finished_run(runs_dir):
    """Test that a deleted run disappears from the list and leaves nothing behind."""
    done = runs_dir / "20260101-000000-mlp"
    done.mkdir()
    (done / "status.json").write_text(json.dumps({"state": "done"}))

    jobs.delete_run(jobs.read_run(done))

    assert jobs.list_runs(runs_dir) == []
    assert list(runs_dir.iterdir()) == []


def test_history_skips_a_row_cut_short_by_a_concurrent_write(tmp_path):
    """Test that a half-written last history row is left out instead of breaking the chart."""
    (tmp_path / "history.csv").write_text(
        "kind,epoch,batch,step,elapsed,loss,accuracy,val_loss,val_accuracy\n"
        "batch,1,10,10,1.0,2.1,0.3,,\n"
        "epoch,1,15,15,1.5,1.9,0.4,1.7,0.55\n"
        "batch,2,10,2")

    history = jobs.read_history(tmp_path)

    assert list(history["kind"]) == ["batch", "epoch"]
    assert history["val_accuracy"].iloc[1] == pytest.approx(0.55)


RACING_START = """
import json, sys, time
from pathlib import Path
from digitlab import jobs
from digitlab.settings import Settings
from digitlab.train import TrainConfig
root, start_at = Path(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
try:
    run = jobs.start_run(TrainConfig(arch="mlp", epochs=1, limit=2000, augment=False), Settings(train_threads=1), root)
    print(json.dumps({"started": run.name}))
except jobs.TrainingBusyError as refusal:
    print(json.dumps({"refused": str(refusal)}))
"""


def test_two_servers_racing_to_start_get_exactly_one_run(runs_dir):
    """Test that two processes pressing Start at the same instant get one run and one clear refusal."""
    start_at = time.time() + 8  # both interpreters have imported everything by then
    racers = [subprocess.Popen([sys.executable, "-c", RACING_START, str(runs_dir), str(start_at)],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
              for _ in range(2)]
    answers = [json.loads(racer.communicate(timeout=120)[0].strip().splitlines()[-1]) for racer in racers]

    started = [answer["started"] for answer in answers if "started" in answer]
    refused = [answer["refused"] for answer in answers if "refused" in answer]
    assert len(started) == 1 and len(refused) == 1, answers
    assert [run.name for run in jobs.list_runs(runs_dir)] == started, "the refused start left no run folder"
    run = finished(jobs.read_run(runs_dir / started[0]))
    assert run.state == "done"
    assert not (runs_dir / jobs.LOCK_FILE).exists() or jobs.active_run(runs_dir) is None


def test_a_full_disk_while_saving_fails_the_run_and_leaves_nothing_half_written(tmp_path, monkeypatch):
    """Test that a write error while saving the model marks the run failed, with the reason, and no model file."""
    import digitlab.train as train

    def full_disk(model, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(train, "save_model_atomic", full_disk)
    status = train.run_training(TrainConfig(**TINY), tmp_path / "run")

    assert status["state"] == "failed" and "No space left on device" in status["message"]
    assert not (tmp_path / "run" / "model.keras").exists()
    assert not list((tmp_path / "run").glob(".*.tmp*")), "no temp file is left behind"
    assert jobs.refresh_run(jobs.read_run(tmp_path / "run")).is_active is False
