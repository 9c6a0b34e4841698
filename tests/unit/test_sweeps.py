"""Sweeps: real trainer processes, a real Optuna study in SQLite and PostgreSQL, a real Dask scheduler and workers.

The search space and digitnet's width are checked directly. Everything else runs `python -m digitlab sweep`
as a user would (or starts it as the Train page does), on tiny trials, and reads what it printed, the run
folders, the study and the processes left. The Dask tests run the scheduler, two workers and the sweep in a
network namespace with only loopback where `unshare -rn` works (tests/helpers/dask_cluster.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest

from digitlab.config.settings import Settings
from digitlab.store import run_folder as runs
from digitlab.store.atomic import file_sha256
from digitlab.store.run_config import TrainConfig, train_command
from digitlab.training import jobs
from digitlab.training.run_lock import holder
from digitlab.training.sweeps import launch
from digitlab.training.sweeps import study_store as store
from digitlab.training.sweeps.search_space import base_values, parse_space
from tests.databases import BACKENDS, fresh_database_url
from tests.helpers.dask_cluster import LoopbackCluster
from tests.run_fixtures import wait_for
from tests.sweep_fixtures import (LONG_RECIPE, LONG_SPACE, MEDIUM_RECIPE, TINY_RECIPE, TINY_SPACE, alive, describe_runs,
                                  json_lines, sweep_command, trainer_processes, training_runs)

REPO_ROOT = Path(__file__).resolve().parents[2]
SWEEP_TIMEOUT = 300  # seconds for four tiny trials, two at a time, on two busy cores


# The longest sweeps run on one kind of database each (ON_SQLITE_ONLY, ON_POSTGRESQL_ONLY), half on each: what they
# check (two trials at once, pruning, resuming, a cluster) is the sweep's, and each kind still stores whole sweeps
# of real trials in the other tests. Each of them on both kinds cost about three minutes of CI.
ON_SQLITE_ONLY = pytest.mark.parametrize("database", ["sqlite"], indirect=True)
ON_POSTGRESQL_ONLY = pytest.mark.parametrize("database", ["postgresql"], indirect=True)


@pytest.fixture(params=BACKENDS)
def database(request, tmp_path, monkeypatch, runs_dir, mnist) -> str:
    """A fresh database of each kind, as the sweep's (and the bank's) DIGITLAB_DATABASE_URL."""
    url = fresh_database_url(request.param, tmp_path)
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", url)
    return url


@pytest.fixture
def cluster(tmp_path, mnist):
    """`dask scheduler` and two `dask worker` processes on 127.0.0.1, killed at the end."""
    folder = tmp_path / "dask"
    folder.mkdir()
    started = LoopbackCluster(folder, workers=2, env={"PYTHONPATH": str(REPO_ROOT)})
    yield started
    started.close()


def finished(process: subprocess.Popen, timeout: float = SWEEP_TIMEOUT) -> tuple[list[dict], str]:
    """The trial lines a sweep process printed and its stderr, once it has ended (killed if it overran)."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        pytest.fail(f"the sweep did not end in {timeout} s: {err[-2000:]}")
    return json_lines(out), err


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(sweep_command(*args), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def sweep_on(cluster: LoopbackCluster, database: str, *args: str) -> subprocess.Popen:
    """`python -m digitlab sweep ... --dask` beside the cluster (in its namespace, if it has one)."""
    return cluster.popen(sweep_command(*args, "--dask", cluster.address), cwd=REPO_ROOT, text=True,
                         env={"DIGITLAB_DATABASE_URL": cluster.reachable_url(database)},
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def trainers_on_workers(count: int = 2) -> list:
    return wait_for(lambda: len(found := trainer_processes("digitlab-trial-")) == count and found, 300,
                    f"{count} trials to be training on the workers")


def assert_trained_here(line: dict, root: Path) -> runs.Run:
    """The trial's run folder is an ordinary finished run with the trial's settings and a model that checks out."""
    run = runs.find_run(line["run"], root)
    assert run is not None and run.state == "done", line
    assert run.has_model and file_sha256(run.model_path) == run.status.model_sha256
    assert run.config.extra["trial"] == line["trial"]
    for name, value in line["params"].items():
        assert getattr(run.config, name) == value
    return run


# --- the search space and the width it searches --------------------------------------------------------------


def test_param_texts_become_optuna_ranges_and_choices_with_the_defaults_inside():
    """Test that name=lo:hi[:log] and name=a,b,c become Optuna's distributions, typed as TrainConfig's fields, and
    that the default settings (digitnet's width 32 included) are found inside the space."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    base = TrainConfig(arch="digitnet")
    space = parse_space(["lr=1e-4:3e-3:log", "width=16,32,48", "batch_size=32:256", "augment=true,false"], base)

    assert space["lr"].distribution == FloatDistribution(1e-4, 3e-3, log=True)
    assert space["width"].distribution == CategoricalDistribution([16, 32, 48])
    assert space["batch_size"].distribution == IntDistribution(32, 256)
    assert space["augment"].distribution.choices == (True, False)
    assert base_values(base, space) == {"lr": 1e-3, "width": 32, "batch_size": 128, "augment": True}
    assert base_values(base, parse_space(["width=16,48"], base)) is None, "no default trial outside the space"


@pytest.mark.parametrize("texts, arch, message", [
    (["lr"], "digitnet", "not a parameter: write name=low:high"),
    (["teacher=a,b"], "digitnet", "cannot search 'teacher'. It can search: lr, width"),
    (["lr=3e-3:1e-4"], "digitnet", "low end must be below the high end"),
    (["lr=0:1e-3:log"], "digitnet", "a log range must start above 0"),
    (["lr=1e-4:2"], "digitnet", "learning rate must be between 0 and 1"),
    (["width=16,x"], "digitnet", "width takes a whole number; 'x' is not one"),
    (["width=16,32"], "mlp", "width applies to digitnet only"),
    (["width=16", "width=32"], "digitnet", "searched twice"),
    ([], "digitnet", "at least one parameter"),
])
def test_a_param_that_cannot_be_searched_is_refused_saying_why(texts, arch, message):
    """Test that each kind of bad --param is refused with a message saying what to write instead."""
    with pytest.raises(ValueError, match=message):
        parse_space(texts, TrainConfig(arch=arch))


def test_digitnet_without_a_width_is_the_shipped_network_and_a_width_scales_it():
    """Test that build_model('digitnet') builds the shipped default's network exactly (same layers, same weights
    from the same seed), that a width scales its filters, and that only digitnet takes one."""
    import keras
    import numpy as np

    from digitlab.training.architectures import build_model

    shipped = keras.models.load_model(REPO_ROOT / "models" / "default.keras", compile=False)
    classes = shipped.output_shape[-1]
    keras.utils.set_random_seed(0)
    default = build_model("digitnet", classes)
    keras.utils.set_random_seed(0)
    explicit = build_model("digitnet", classes, width=32)
    narrow = build_model("digitnet", classes, width=16)

    def filters(model):
        return [layer.filters for layer in model.layers if hasattr(layer, "filters")]

    assert filters(default) == filters(shipped) == [32, 32, 64, 64, 128]
    assert [w.shape for w in default.weights] == [w.shape for w in shipped.weights]
    assert all(np.array_equal(a, b) for a, b in zip(default.get_weights(), explicit.get_weights()))
    assert filters(narrow) == [16, 16, 32, 32, 64] and narrow.count_params() < default.count_params()
    with pytest.raises(ValueError, match="Only digitnet takes a width"):
        build_model("mlp", width=16)
    assert "--width 48" in train_command(TrainConfig(width=48)) and "--width" not in train_command(TrainConfig())
    with pytest.raises(ValueError, match="width applies to digitnet only"):
        TrainConfig(arch="mlp", width=16).validate()


@pytest.mark.parametrize("args, message", [
    (["--param", "colour=red,blue"], "error: A sweep cannot search 'colour'"),
    (["--param", "lr=1e-3:1e-2", "--dask", "127.0.0.1:8786"], "needs its protocol, e.g. tcp://127.0.0.1:8786"),
    (["--study", "../elsewhere", "--param", "lr=1e-3:1e-2"], "A sweep's name has 1 to 60 letters"),
    (["--param", "width=16,32", "--arch", "mlp"], "width applies to digitnet only"),
])
def test_the_command_refuses_bad_input_with_a_message_and_no_traceback(args, message, runs_dir, tmp_path,
                                                                       monkeypatch):
    """Test that `sweep` with input it cannot use exits with status 2 and a message, starting nothing."""
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", f"sqlite:///{tmp_path / 'drawings.sqlite'}")
    refused = subprocess.run(sweep_command(*args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)

    assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr and refused.stdout == "" and runs.list_runs(runs_dir) == []


def test_a_resumed_sweep_is_held_to_the_trials_a_new_one_may_have(runs_dir, tmp_path, monkeypatch, capsys):
    """Test that `sweep --study NAME --trials 501` on an existing sweep is refused as a new sweep's 501 trials are,
    with exit 2 and its trials unchanged (it used to be resumed for 501 trials). Nothing trains: the driver is
    replaced, so the old code's resume ends at once too."""
    from digitlab.cli.parser import main

    monkeypatch.setenv("DIGITLAB_DATABASE_URL", f"sqlite:///{tmp_path / 'sweeps.sqlite'}")
    monkeypatch.setattr("digitlab.training.sweeps.driver.drive_sweep", lambda name, storage, emit: "finished")
    spec = store.SweepSpec(base=TrainConfig(arch="mlp", epochs=1), params=["lr=1e-4:3e-3:log"], trials=4, parallel=1)
    launch.new_sweep(store.open_storage(), "capped", spec)

    assert main(["sweep", "--study", "capped", "--trials", str(launch.MAX_TRIALS + 1)]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: A sweep runs between 1 and {launch.MAX_TRIALS} trials"), error
    assert "Traceback" not in error
    assert store.load_sweep(store.open_storage(), "capped")[1].trials == 4 and runs.list_runs(runs_dir) == []


# --- local processes -------------------------------------------------------------------------------------


@ON_SQLITE_ONLY
def test_a_local_sweep_trains_its_trials_as_ordinary_runs_two_at_a_time_under_the_training_lock(database, runs_dir):
    """Test that `sweep --trials 4 --parallel 2` trains four ordinary run folders (trial 0 the default settings),
    two trainer processes at a time, prints one JSON line per finished trial, and holds the training lock so
    no single run starts beside it; the lock is free again when it ends."""
    process = start_cli("--study", "tiny", "--trials", "4", "--parallel", "2", *TINY_RECIPE, *TINY_SPACE)
    wait_for(lambda: holder(runs_dir) == "sweep tiny", 60, "the sweep to hold the training lock")
    with pytest.raises(jobs.TrainingBusyError, match="sweep tiny"):
        jobs.start_run(TrainConfig(arch="mlp", epochs=1, limit=400, augment=False), Settings(), runs_dir)
    lines, err = finished(process)

    assert process.returncode == 0, err
    assert sorted(line["trial"] for line in lines) == [0, 1, 2, 3], lines
    assert {line["outcome"] for line in lines} == {"complete"}, lines
    assert next(line for line in lines if line["trial"] == 0)["params"] == {"lr": 1e-3, "batch_size": 128}
    trained = [assert_trained_here(line, runs_dir) for line in lines]
    assert {line["where"]["host"] for line in lines} == {socket.gethostname()}
    spans = [(run.status.started_at, run.status.finished_at) for run in trained]
    at_once = max(sum(1 for start, end in spans if start <= moment < end) for moment, _ in spans)
    assert at_once == 2, f"two trials trained at a time: {spans}"
    assert holder(runs_dir) is None, "the lock is free once the sweep has ended"
    assert "sweep tiny finished" in err and "default settings" in err
    storage = store.open_storage(database)
    assert store.read_sweep(storage, "tiny").state == "finished"
    assert len(store.counted(store.read_trials(storage, "tiny"))) == 4


@ON_POSTGRESQL_ONLY
def test_a_trial_falling_behind_the_median_at_an_epoch_is_pruned_and_keeps_that_epochs_model(database, runs_dir):
    """Test that the pruner, fed each epoch's validation accuracy, stops a trial below the earlier trials' median
    after its first epoch: its trainer is killed, the study records it pruned, and its run keeps epoch 1's model.

    The trials' settings are queued in the study (Optuna's enqueue_trial), so which one falls behind is known:
    four at the default learning rate, then one at 1e-6, which learns nothing in an epoch.
    """
    storage = store.open_storage(database)
    spec = store.SweepSpec(base=TrainConfig(arch="mlp", epochs=3, limit=6000, batch_size=32, augment=False),
                           params=["lr=1e-6:1e-2:log"], trials=5, parallel=1)
    study = launch.new_sweep(storage, "pruning", spec)
    for index, lr in enumerate([1e-3, 1e-3, 1e-3, 1e-3, 1e-6]):
        study.enqueue_trial({"lr": lr}, user_attrs={store.BASELINE_ATTR: True} if index == 0 else None)
    lines, err = finished(start_cli("--study", "pruning"))

    assert [line["outcome"] for line in sorted(lines, key=lambda line: line["trial"])] == [
        "complete"] * 4 + ["pruned"], err
    pruned = next(line for line in lines if line["outcome"] == "pruned")
    assert "after epoch 1" in pruned["message"] and pruned["params"] == {"lr": 1e-6}
    run = runs.find_run(pruned["run"], runs_dir)
    assert run.state == "stopped" and run.status.partial and run.status.completed_epochs == 1 and run.has_model
    assert file_sha256(run.model_path) == run.status.model_sha256
    trial = store.read_trials(storage, "pruning")[4]
    assert trial.state.name == "PRUNED" and list(trial.intermediate_values) == [1]


def test_cancelling_a_sweep_started_as_the_page_does_leaves_no_process_behind(database, runs_dir):
    """Test that a sweep launched as the Train page launches it, when cancelled, kills its running trials'
    process groups and its driver ends: no process of it is left, its runs are not left running, its trials
    do not count, and the training lock is free."""
    storage = store.open_storage(database)
    spec = store.SweepSpec(base=TrainConfig(arch="mlp", epochs=20, limit=20000, batch_size=32, augment=False,
                                            threads=1),
                           params=["lr=1e-3:1e-2:log"], trials=4, parallel=2)
    launch.start_sweep(storage, database, "cancel-me", spec, Settings(train_memory_mb=8000), root=runs_dir)
    training = wait_for(lambda: len(training_runs(runs_dir)) == 2 and training_runs(runs_dir), 300,
                        "two trials to be training", explain=lambda: describe_runs(runs_dir))
    driver = store.read_sweep(storage, "cancel-me").driver["pid"]
    family = [driver, *(run.pid for run in training)]
    assert all(alive(pid) for pid in family)

    launch.cancel_sweep(storage, "cancel-me")
    wait_for(lambda: not any(alive(pid) for pid in family), 60, "the driver and its trainers to end")
    launch.reap_drivers()

    assert trainer_processes(str(runs_dir)) == []
    assert store.read_sweep(storage, "cancel-me").state == "cancelled"
    trials = store.read_trials(storage, "cancel-me")
    assert [trial.user_attrs[store.OUTCOME_ATTR] for trial in trials] == ["cancelled", "cancelled"]
    assert store.counted(trials) == []
    assert not any(run.is_active for run in runs.list_runs(runs_dir))
    assert holder(runs_dir) is None


def test_a_sweep_too_big_for_the_memory_budget_is_refused_before_it_starts(database, runs_dir):
    """Test that the page's start refuses a sweep whose trials at once would not fit the deployment's memory for
    training, saying how much it would need, and starts nothing."""
    storage = store.open_storage(database)
    spec = store.SweepSpec(base=TrainConfig(arch="digitnet", epochs=2, limit=10_000, threads=1),
                           params=["lr=1e-4:3e-3:log", "width=16,32,48"], trials=12, parallel=2)

    with pytest.raises(ValueError, match=r"would need about [\d,]+ MB .*2 trials at once.*DIGITLAB_TRAIN_MEMORY_MB"):
        launch.start_sweep(storage, database, "too-big", spec, Settings(train_memory_mb=1500), root=runs_dir)
    assert store.read_sweeps(storage) == [] and runs.list_runs(runs_dir) == [] and holder(runs_dir) is None
    assert launch.memory_refusal(spec, Settings(train_memory_mb=8000)) is None


@ON_SQLITE_ONLY
def test_a_resumed_sweep_goes_on_from_its_trial_numbers(database, runs_dir):
    """Test that a sweep whose driver is killed takes its trainers with it, and that resuming it by name fails
    the interrupted trials without counting them, runs the default settings again, and numbers on from there."""
    first = start_cli("--study", "again", "--trials", "3", "--parallel", "2", *MEDIUM_RECIPE, *LONG_SPACE)
    training = wait_for(lambda: len(training_runs(runs_dir)) == 2 and training_runs(runs_dir), 300,
                        "two trials to be training", explain=lambda: describe_runs(runs_dir))
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate()
    wait_for(lambda: not any(alive(run.pid) for run in training), 20, "the trainers to die with their driver")

    refused = subprocess.run(sweep_command("--study", "again", "--param", "lr=1e-4:1e-3"), cwd=REPO_ROOT,
                             capture_output=True, text=True)
    assert refused.returncode == 2 and "keeps the recipe and parameters it was made with" in refused.stderr
    lines, err = finished(start_cli("--study", "again"))

    assert sorted(line["trial"] for line in lines) == [2, 3, 4], err
    assert next(line for line in lines if line["trial"] == 2)["params"] == {"lr": 1e-3}, "the default settings again"
    storage = store.open_storage(database)
    trials = store.read_trials(storage, "again")
    assert [trial.user_attrs.get(store.OUTCOME_ATTR) for trial in trials[:2]] == ["interrupted", "interrupted"]
    assert len(store.counted(trials)) == 3 and store.read_sweep(storage, "again").state == "finished"
    assert all(runs.find_run(trial.user_attrs[store.RUN_ATTR], runs_dir).state == "failed" for trial in trials[:2])


# --- Dask ------------------------------------------------------------------------------------------------


@ON_POSTGRESQL_ONLY
def test_a_dask_sweep_trains_on_the_workers_and_streams_each_trial_back(database, runs_dir, cluster):
    """Test that with --dask every trial trains in a subprocess on a worker (both workers used), its progress
    reaches the app's run folder while it trains, and its model comes back verified into an ordinary run folder."""
    process = sweep_on(cluster, database, "--study", "on-dask", "--trials", "4", "--parallel", "2", *TINY_RECIPE,
                       *TINY_SPACE)
    streamed = wait_for(lambda: [run for run in training_runs(runs_dir) if run.job and run.job.pid is None], 180,
                        "a trial's progress to reach the app's run folder while it trains")
    lines, err = finished(process)

    assert process.returncode == 0, err
    assert sorted(line["trial"] for line in lines) == [0, 1, 2, 3] and {line["outcome"] for line in lines} == {
        "complete"}, lines
    assert len({line["where"]["worker"] for line in lines}) == 2, "both workers trained trials"
    assert all(line["where"]["worker"].startswith("tcp://127.0.0.1:") for line in lines)
    for line in lines:
        run = assert_trained_here(line, runs_dir)
        assert run.job.pid is None and "trained on" in run.log_tail(400)
        assert len(runs.read_run(run.dir).status.to_json()) and (run.dir / "history.csv").stat().st_size > 0
    assert streamed[0].name in {line["run"] for line in lines}
    assert trainer_processes("digitlab-trial-") == [], "no trainer is left on the workers"


def test_a_cluster_that_cannot_run_digitlab_is_refused_before_any_trial(runs_dir, tmp_path, monkeypatch, mnist):
    """Test that a sweep sent to a Dask cluster whose scheduler and workers cannot import DigitLab stops at once
    with a message saying what they need, instead of failing every trial."""
    monkeypatch.setenv("DIGITLAB_DATABASE_URL", f"sqlite:///{tmp_path / 'drawings.sqlite'}")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cluster = LoopbackCluster(elsewhere, workers=1, env={"PYTHONPATH": str(elsewhere)}, cwd=elsewhere)
    try:
        lines, err = finished(sweep_on(cluster, f"sqlite:///{tmp_path / 'drawings.sqlite'}", "--study", "nowhere",
                                       "--param", "lr=1e-3:1e-2", *TINY_RECIPE), timeout=120)
    finally:
        cluster.close()

    assert lines == [] and "cannot run DigitLab's trials" in err and "PYTHONPATH" in err, err
    assert runs.list_runs(runs_dir) == [], "no trial was started"


@ON_POSTGRESQL_ONLY
def test_a_killed_worker_fails_only_its_trial_and_the_sweep_goes_on(database, runs_dir, cluster):
    """Test that killing the worker that trains a trial (kill -9) fails that trial, with its trainer gone too,
    while the other trial finishes and the sweep starts and finishes its next one."""
    process = sweep_on(cluster, database, "--study", "hurt", "--trials", "3", "--parallel", "2", *MEDIUM_RECIPE,
                       *LONG_SPACE)
    trainers = trainers_on_workers()
    victim = trainers[0]
    worker = victim.parent()
    assert worker.pid in {process.pid for process in cluster.worker_processes()}
    worker.send_signal(signal.SIGKILL)
    wait_for(lambda: not alive(victim.pid), 20, "the killed worker's trainer to die with it")
    lines, err = finished(process)

    assert process.returncode == 0, err
    outcomes = sorted((line["outcome"], line["trial"]) for line in lines)
    assert [outcome for outcome, _ in outcomes] == ["complete", "complete", "failed"], lines
    failed = next(line for line in lines if line["outcome"] == "failed")
    assert "worker" in failed["message"] and "died" in failed["message"]
    assert sorted(line["trial"] for line in lines) == [0, 1, 2]
    assert trainer_processes("digitlab-trial-") == []


def test_cancelling_a_dask_sweep_kills_its_trials_on_the_workers(database, runs_dir, cluster):
    """Test that cancelling a Dask sweep kills each running trial's process group on its worker (not Future.cancel,
    which cannot stop a subprocess), and the sweep ends cancelled with its runs stopped."""
    process = sweep_on(cluster, database, "--study", "stop-dask", "--trials", "4", "--parallel", "2", *LONG_RECIPE,
                       *LONG_SPACE)
    trainers = trainers_on_workers()
    storage = store.open_storage(database)

    launch.cancel_sweep(storage, "stop-dask")
    lines, err = finished(process, timeout=120)

    assert process.returncode == 1, err
    assert not any(alive(trainer.pid) for trainer in trainers) and trainer_processes("digitlab-trial-") == []
    assert {line["outcome"] for line in lines} == {"cancelled"} and len(lines) == 2
    assert store.read_sweep(storage, "stop-dask").state == "cancelled"
    assert all(process.is_running() for process in cluster.worker_processes()), "the workers themselves live on"
    assert not any(run.is_active for run in runs.list_runs(runs_dir))
