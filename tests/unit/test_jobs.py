"""Training jobs: launching trainers, one run at a time, per-visitor quotas, stopping, and dead processes.

Real trainer processes only where the process is the point (a kill -9, two servers racing to start);
everything else uses run folders written in each state (tests/run_fixtures.py).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from digitlab.training import jobs
from digitlab.training.memory_budget import estimate_run_memory
from digitlab.training.run_lock import LOCK_FILE, take_training_lock
from digitlab.training.visitors import Requester, browser_token, visitor_key_path, visitor_token

from digitlab.store import run_folder as runs
from digitlab.store.run_config import TrainConfig
from digitlab.config.settings import Settings
from tests.run_fixtures import dead_pid, fake_trainer, make_run, synthetic_bank, wait_for
from digitlab.store.run_records import JobRecord

TINY = dict(arch="mlp", epochs=1, limit=2000, augment=False)
# Long enough that it is still going when the test acts on it: 18,000 images in batches of 32 per epoch.
LONG = dict(arch="mlp", epochs=20, limit=20_000, batch_size=32, augment=False)
SETTINGS = Settings(train_threads=1)


def current(run: runs.Run) -> runs.Run:
    return jobs.refresh_run(runs.read_run(run.dir))


def training_batches(run: runs.Run) -> runs.Run:
    """Wait until the run's trainer is some batches into training."""
    def ready():
        latest = current(run)
        assert latest.state in jobs.ACTIVE_STATES, (latest.state, latest.status.message, latest.log_tail())
        return latest.status.state == "running" and latest.status.batch > 0 and latest

    return wait_for(ready, 120, f"run {run.name} to train some batches")


@pytest.fixture
def running_run(runs_dir):
    """A run that is training (a live stand-in trainer) and holds the training lock, as start_run leaves it."""
    trainer = fake_trainer(holding_lock_for=runs_dir / "20260101-120000-cnn-small")
    run_dir = make_run(runs_dir, "20260101-120000-cnn-small", "running", pid=trainer.pid, started_by="local")
    yield runs.read_run(run_dir)
    trainer.kill()
    trainer.wait()


@pytest.fixture
def launched(runs_dir, mnist):
    """Start runs through jobs.start_run and kill whatever is still running at the end of the test."""
    started: list[runs.Run] = []

    def start(**config) -> runs.Run:
        run = jobs.start_run(TrainConfig(**config), SETTINGS, runs_dir)
        started.append(run)
        return run

    yield start
    for run in started:
        if current(run).is_active and jobs.trainer_is_running(current(run)):
            os.killpg(run.pid, signal.SIGKILL)
            wait_for(lambda: not jobs.pid_alive(run.pid), 10, "cleanup kill")


def test_second_start_is_refused_while_a_run_is_going(running_run, runs_dir):
    """Test that one run at a time is enforced, with a message naming the running run, and nothing is left behind."""
    with pytest.raises(jobs.TrainingBusyError) as refusal:
        jobs.start_run(TrainConfig(**TINY), SETTINGS, runs_dir)

    assert refusal.value.run_name == running_run.name and running_run.name in str(refusal.value)
    assert [run.name for run in runs.list_runs(runs_dir)] == [running_run.name], "a refused start leaves no folder"
    assert jobs.active_run(runs_dir).name == running_run.name
    with pytest.raises(jobs.RunActiveError, match="stop it before deleting"):
        jobs.delete_run(running_run, Requester.owner())


def test_stop_asks_the_trainer_and_a_finished_run_cannot_be_stopped(running_run, runs_dir, small_run):
    """Test that Stop leaves the trainer its STOP file, and Stop on a finished run says it is not running."""
    jobs.request_stop(running_run, Requester.owner())
    assert runs.read_run(running_run.dir).stop_requested

    done = runs.read_run(make_run(runs_dir, "20260101-130000-cnn-small", "done", model_from=small_run))
    with pytest.raises(jobs.RunActiveError, match="not running"):
        jobs.request_stop(done, Requester.owner())


def test_a_visitor_is_held_to_the_runs_per_hour_quota(runs_dir, small_run):
    """Test that a visitor who started as many runs as allowed this hour is refused with when to retry,
    while another visitor and the owner are not counted against it."""
    for index in range(2):
        make_run(runs_dir, f"2026010{index}-120000-mlp", "done", model_from=small_run, started_by="ip:10.0.0.7",
                 started_at=time.time() - 600 * (index + 1))
    make_run(runs_dir, "20251231-120000-mlp", "done", model_from=small_run, started_by="ip:10.0.0.7",
             started_at=time.time() - 7200)  # more than an hour ago: not counted
    settings = Settings(max_runs_per_hour=2)

    with pytest.raises(jobs.RunQuotaError, match="2 runs in the last hour.*about 4[0-9] min"):
        jobs.start_run(TrainConfig(**TINY), settings, runs_dir, started_by="ip:10.0.0.7")
    assert len(runs.list_runs(runs_dir)) == 3, "a refused start leaves no folder"
    assert jobs.quota_refusal(settings, "ip:10.0.0.8", runs_dir) is None
    assert jobs.quota_refusal(settings, jobs.LOCAL_USER, runs_dir) is None


def test_killed_run_shows_as_failed_with_its_log(launched, runs_dir):
    """Test that a run whose process is killed -9 is shown as failed, not running, and frees the lock."""
    run = training_batches(launched(**LONG))
    assert run.config.threads == SETTINGS.train_threads, "the run is limited to the deployment's threads"
    assert (run.dir / runs.CONFIG_FILE).is_file() and run.job.command[-2:] == ["--run-dir", str(run.dir)]

    os.kill(run.pid, signal.SIGKILL)
    failed = wait_for(lambda: (latest := current(run)).state == "failed" and latest, 10, "the run to show as failed")

    assert "SIGKILL" in failed.status.message
    assert failed.status.finished_at >= failed.status.started_at
    assert "Epoch 1/" in failed.log_tail(), "the log's last lines are there to show"
    assert json.loads((run.dir / "status.json").read_text())["state"] == "failed", "the failure is written down"
    assert jobs.active_run(runs_dir) is None
    assert not jobs.pid_alive(run.pid), "the killed child must be reaped, not left a zombie"


def test_process_that_dies_before_writing_status_is_failed(runs_dir):
    """Test that a launched run whose process never wrote a status is failed, not 'starting' forever."""
    run_dir = runs_dir / "20260101-000000-mlp"
    run_dir.mkdir()
    runs.create_run(TrainConfig(arch="mlp", epochs=1), run_dir=run_dir)
    runs.write_job(run_dir, JobRecord(pid=dead_pid(), launched_at=time.time() - 5))
    (run_dir / "log.txt").write_text("Traceback (most recent call last):\nImportError: no module named keras\n")

    assert runs.read_run(run_dir).state == "starting"
    run = jobs.refresh_run(runs.read_run(run_dir))

    assert run.state == "failed"
    assert "ImportError" in run.log_tail()
    assert run.config.arch == "mlp"


def test_a_trainer_killed_by_sigkill_frees_the_lock_at_once(launched, runs_dir):
    """Test that the lock dies with its trainer: right after a kill -9 the next run starts, with no stale lock."""
    first = launched(**LONG)
    recorded = pytest.approx(psutil.Process(first.pid).create_time(), abs=jobs.CREATE_TIME_TOLERANCE)
    assert first.job.create_time == recorded, "job.json records the trainer's create time"
    assert jobs.active_run(runs_dir).name == first.name, "the trainer holds the lock from its launch"
    with pytest.raises(jobs.TrainingBusyError):
        jobs.start_run(TrainConfig(**TINY), SETTINGS, runs_dir)

    os.kill(first.pid, signal.SIGKILL)
    wait_for(lambda: not jobs.pid_alive(first.pid), 10, "the killed trainer to end")
    second = launched(**LONG)

    assert jobs.active_run(runs_dir).name == second.name
    assert current(first).state == "failed" and "SIGKILL" in current(first).status.message


def test_a_zombie_child_is_not_alive():
    """Test that a child that has exited but was not waited for counts as dead."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    wait_for(lambda: psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE, 10, "the child to exit")

    assert not jobs.pid_alive(process.pid)


@pytest.mark.parametrize("created", ["before", "same"])
def test_a_reused_pid_is_not_taken_for_the_runs_trainer(runs_dir, created):
    """Test that a live process that looks like a trainer but was created after the run's trainer (it got the
    dead trainer's pid) does not keep the run alive: the run is marked failed; the real trainer does keep it."""
    process = fake_trainer()  # its command line names digitlab, so only the create time tells it apart
    try:
        run_dir = make_run(runs_dir, "20260101-000000-mlp", "running", pid=process.pid, started_by="local")
        create_time = psutil.Process(process.pid).create_time() - (600 if created == "before" else 0)
        runs.write_job(run_dir, replace(runs.read_run(run_dir).job, create_time=create_time))

        run = jobs.refresh_run(runs.read_run(run_dir))

        if created == "same":
            assert run.state == "running" and jobs.trainer_is_running(run)
        else:
            assert run.state == "failed" and "ended without finishing" in run.status.message
            assert not jobs.trainer_is_running(run)
            assert runs.read_status(run_dir).state == "failed", "the failure is written down"
        assert process.poll() is None, "the unrelated process is left alone"
    finally:
        process.kill()
        process.wait()


def test_a_job_naming_an_unrelated_live_process_is_a_dead_run(runs_dir):
    """Test that a job.json naming a live process that is not a trainer (this test's own) is a dead run."""
    run_dir = make_run(runs_dir, "20260101-000000-mlp", "running", pid=os.getpid(), started_by="local")
    runs.write_job(run_dir, replace(runs.read_run(run_dir).job, create_time=psutil.Process().create_time() - 600))

    assert jobs.refresh_run(runs.read_run(run_dir)).state == "failed"


def test_a_lock_file_left_by_a_dead_trainer_does_not_block(runs_dir):
    """Test that the lock file a trainer that died leaves behind blocks nothing, and its run shows as failed."""
    stale_run = make_run(runs_dir, "20260101-000000-cnn-small", "stale")
    (runs_dir / LOCK_FILE).write_text(stale_run.name)  # the kernel released the lock itself when the trainer died

    assert jobs.active_run(runs_dir) is None
    with take_training_lock(runs_dir) as lock:
        assert lock.fd >= 0, "the next start takes the lock"
    assert [run.state for run in jobs.refresh_runs(runs_dir)] == ["failed"]


def test_a_run_that_has_finished_is_not_active_while_its_trainer_exits(runs_dir, small_run):
    """Test that a trainer still holding the lock after writing its final status does not show its run as active."""
    trainer = fake_trainer(holding_lock_for=runs_dir / "20260101-000000-mlp")
    try:
        make_run(runs_dir, "20260101-000000-mlp", "done", pid=trainer.pid, model_from=small_run)

        assert jobs.active_run(runs_dir) is None
    finally:
        trainer.kill()
        trainer.wait()


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


def test_delete_removes_a_finished_run(runs_dir):
    """Test that a deleted run disappears from the list and leaves nothing behind."""
    done = make_run(runs_dir, "20260101-000000-mlp", "failed")

    jobs.delete_run(runs.read_run(done), Requester.owner())

    assert runs.list_runs(runs_dir) == []
    assert list(runs_dir.iterdir()) == []


RACING_START = """
import json, sys, time
from pathlib import Path
from digitlab.training import jobs
from digitlab.config.settings import Settings
from digitlab.store.run_config import TrainConfig
root, start_at = Path(sys.argv[1]), float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
try:
    run = jobs.start_run(TrainConfig(arch="mlp", epochs=1, limit=2000, augment=False), Settings(train_threads=1), root)
    print(json.dumps({"started": run.name}))
except jobs.TrainingBusyError as refusal:
    print(json.dumps({"refused": str(refusal)}))
"""


def test_two_servers_racing_to_start_get_exactly_one_run(runs_dir, mnist):
    """Test that two processes pressing Start at the same instant get one run and one clear refusal."""
    start_at = time.time() + 8  # both interpreters have imported everything by then
    racers = [subprocess.Popen([sys.executable, "-c", RACING_START, str(runs_dir), str(start_at)],
                               stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
              for _ in range(2)]
    answers = [json.loads(racer.communicate(timeout=120)[0].strip().splitlines()[-1]) for racer in racers]

    started = [answer["started"] for answer in answers if "started" in answer]
    refused = [answer["refused"] for answer in answers if "refused" in answer]
    assert len(started) == 1 and len(refused) == 1, answers
    assert [run.name for run in runs.list_runs(runs_dir)] == started, "the refused start left no run folder"
    run = runs.read_run(runs_dir / started[0])
    assert run.job is not None and run.pid
    os.killpg(run.pid, signal.SIGKILL)  # the race is over; its training is not the point
    wait_for(lambda: not jobs.trainer_is_running(runs.read_run(run.dir)), 20, "the started trainer to end")
    assert jobs.active_run(runs_dir) is None


# --- who may stop and delete a run, and what job.json says about who started it -------------------------------

VISITOR, OTHER_VISITOR = Requester("ip:10.0.0.7"), Requester("user:someone@example.com")


def started_by(runs_dir: Path, visitor: Requester) -> str:
    """What job.json records for a run this visitor started."""
    return visitor_token(visitor.visitor_id, runs_dir)


def test_a_visitor_cannot_stop_force_stop_or_delete_a_run_they_did_not_start(running_run, runs_dir, small_run):
    """Test that jobs refuses Stop, Force stop and Delete from a visitor on the owner's running run and on another
    visitor's finished run, and that nothing happened: no STOP file, the trainer alive, the folder there."""
    for action in (jobs.request_stop, jobs.force_stop):
        with pytest.raises(jobs.NotYourRunError, match="only the visitor who started it, or the owner"):
            action(running_run, VISITOR)
    assert not runs.read_run(running_run.dir).stop_requested
    assert jobs.trainer_is_running(runs.read_run(running_run.dir))

    theirs = make_run(runs_dir, "20260101-130000-cnn-small", "done", model_from=small_run,
                      started_by=started_by(runs_dir, OTHER_VISITOR))
    with pytest.raises(jobs.NotYourRunError):
        jobs.delete_run(runs.read_run(theirs), VISITOR)
    assert theirs.is_dir()


def test_the_visitor_who_started_a_run_and_the_owner_may_stop_and_delete_it(running_run, runs_dir, small_run):
    """Test that a visitor may stop and delete their own runs (their id seen again on a reload), and the owner any."""
    mine = make_run(runs_dir, "20260101-130000-cnn-small", "done", model_from=small_run,
                    started_by=started_by(runs_dir, VISITOR))
    legacy = make_run(runs_dir, "20260101-140000-cnn-small", "done", model_from=small_run,
                      started_by="ip:10.0.0.7")  # a job.json written before tokens, naming the address itself

    jobs.delete_run(runs.read_run(mine), Requester("ip:10.0.0.7"))
    jobs.delete_run(runs.read_run(legacy), Requester("ip:10.0.0.7"))
    jobs.request_stop(running_run, Requester.owner())

    assert not mine.exists() and not legacy.exists()
    assert runs.read_run(running_run.dir).stop_requested


def test_classmates_at_one_address_cannot_stop_or_delete_each_others_runs(running_run, runs_dir, small_run):
    """Test that behind one school's address, a run started in one browser is stopped and deleted from that browser
    only (after a reload too): a classmate's browser at the same address is refused, the owner is not."""
    ann, bob = Requester("ip:203.0.113.9", browser="a1" * 16), Requester("ip:203.0.113.9", browser="b2" * 16)
    anns = make_run(runs_dir, "20260101-130000-cnn-small", "done", model_from=small_run,
                    started_by=started_by(runs_dir, ann), started_in=browser_token(ann.browser, runs_dir))
    job = runs.read_run(running_run.dir).job
    runs.write_job(running_run.dir, replace(job, started_by=started_by(runs_dir, ann),
                                            started_in=browser_token(ann.browser, runs_dir)))

    for action in (jobs.request_stop, jobs.force_stop):
        with pytest.raises(jobs.NotYourRunError, match="only the visitor who started it"):
            action(runs.read_run(running_run.dir), bob)
    for no_secret in (Requester("ip:203.0.113.9"), Requester("ip:203.0.113.9", browser="")):
        with pytest.raises(jobs.NotYourRunError):  # a page that sent no secret is not the browser that did
            jobs.delete_run(runs.read_run(anns), no_secret)
    assert not runs.read_run(running_run.dir).stop_requested and anns.is_dir()
    with pytest.raises(jobs.NotYourRunError):  # the right browser at another address (the quota's key) is refused
        jobs.delete_run(runs.read_run(anns), Requester("ip:198.51.100.1", browser=ann.browser))

    jobs.request_stop(runs.read_run(running_run.dir), Requester("ip:203.0.113.9", browser="a1" * 16))  # a reload
    jobs.delete_run(runs.read_run(anns), ann)
    assert runs.read_run(running_run.dir).stop_requested and not anns.exists()


def test_job_json_names_no_visitor_yet_their_quota_still_counts(runs_dir, mnist):
    """Test that a visitor's run records neither their e-mail nor their address, only a keyed token kept outside
    the runs folder, and that the same visitor is still held to the hourly quota while another is not."""
    settings = Settings(train_threads=1, max_runs_per_hour=1)
    secret = "c3" * 16  # the browser's (config.access.browser_secret)
    run = jobs.start_run(TrainConfig(**TINY), settings, runs_dir, started_by="user:ann@example.com", started_in=secret)
    try:
        job_text = (run.dir / runs.JOB_FILE).read_text()
        assert "ann@example.com" not in job_text and "example" not in job_text and secret not in job_text
        assert run.started_by == visitor_token("user:ann@example.com", runs_dir)
        assert run.started_by.startswith("visitor:")
        assert run.started_in == browser_token(secret, runs_dir) and run.started_in.startswith("visitor:")
        key = visitor_key_path(runs_dir)
        assert key.parent != runs_dir and runs_dir not in key.parents, "the key is not in the runs folder"
        assert key.stat().st_mode & 0o077 == 0, "the key is readable by the server's user only"

        with pytest.raises(jobs.RunQuotaError, match="1 runs in the last hour"):  # the same visitor, after a reload
            jobs.start_run(TrainConfig(**TINY), settings, runs_dir, started_by="user:ann@example.com")
        assert jobs.quota_refusal(settings, "user:bob@example.com", runs_dir) is None
    finally:
        current_run = current(run)
        if current_run.is_active and jobs.trainer_is_running(current_run):
            os.killpg(run.pid, signal.SIGKILL)
            wait_for(lambda: not jobs.pid_alive(run.pid), 10, "cleanup kill")


def test_a_token_is_stable_per_deployment_and_differs_between_deployments(tmp_path):
    """Test that one viewer id gives one token on a deployment (reloads, restarts), and another deployment's key
    gives another token, so tokens cannot be matched across deployments or guessed without the key."""
    first, second = tmp_path / "a" / "runs", tmp_path / "b" / "runs"
    token = visitor_token("ip:203.0.113.9", first)

    assert token == visitor_token("ip:203.0.113.9", first) and "203.0.113.9" not in token
    assert token != visitor_token("ip:203.0.113.8", first)
    assert token != visitor_token("ip:203.0.113.9", second)
    assert visitor_token(jobs.LOCAL_USER, first) == jobs.LOCAL_USER


# --- memory -----------------------------------------------------------------------------------------------------


def test_a_bank_weight_that_would_exceed_the_memory_budget_is_refused_before_the_run_starts(runs_dir):
    """Test that the largest bank at the highest weight is refused with how much it needs and what to cut, before
    any folder or process exists, while the same bank at weight 1 fits the same budget."""
    bank = synthetic_bank(50_000)
    config = TrainConfig(arch="cnn-small", epochs=1, limit=10_000, augment=False)
    at_weight_one = estimate_run_memory(replace(config, bank_weight=1), bank_drawings=50_000).total_mb
    budget = Settings(train_threads=1, train_memory_mb=int(at_weight_one) + 50)

    with pytest.raises(jobs.RunMemoryError) as refusal:
        jobs.start_run(replace(config, bank_weight=20), budget, runs_dir, bank=bank)

    assert "drawing bank ×20" in str(refusal.value) and "lower bank weight" in str(refusal.value)
    assert f"allows a run {budget.train_memory_mb:,} MB" in str(refusal.value)
    assert list(runs_dir.iterdir()) == [], "nothing was created for a refused run"
    assert estimate_run_memory(replace(config, bank_weight=1), 50_000).refusal(budget.train_memory_mb) is None
