"""The command line given what it cannot use: each refused at once with one error line and a nonzero exit.

A file, a count or an input that the command would misread is refused before any work or any folder, as a
user sees it: a real `python -m digitlab` process, or main() where argparse itself refuses (as in test_cli.py).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from digitlab.cli.parser import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def digitlab(*args, tmp_path: Path, timeout=120) -> subprocess.CompletedProcess:
    """`python -m digitlab ARGS` with its runs in tmp_path/runs, no terminal and an empty standard input.

    A new session has no controlling terminal, so a password prompt reads standard input as it does under a
    pipe, instead of waiting on the terminal of whoever runs the tests.
    """
    env = {**os.environ, "DIGITLAB_RUNS": str(tmp_path / "runs"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "digitlab", *args], capture_output=True, text=True, cwd=REPO_ROOT,
                          env=env, stdin=subprocess.DEVNULL, start_new_session=True, timeout=timeout)


def refused_by_argparse(capsys, *args: str) -> str:
    """The error line argparse gives for `python -m digitlab ARGS`, after checking it exits with status 2."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    assert exited.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("content", [b"root:x:0:0:root:/root:/bin/bash\n", b"\x89PNG\r\n\x1a\n\x00\xff", b""],
                         ids=["passwd-text", "binary", "empty"])
@pytest.mark.parametrize("command", ["train", "recipe", "number-reader"])
def test_a_pen_digits_file_with_no_pen_digits_is_refused_before_any_run_folder(tmp_path, command, content):
    """Test that `train --pen-digits /etc/passwd` (or recipe's, or number-reader's), or any file with no pendigits
    digit in it, is refused naming the file, with exit 2 and no run folder (it used to train on MNIST alone, as if
    with pen digits)."""
    not_pen_digits = tmp_path / "passwd"
    not_pen_digits.write_bytes(content)
    out_folder = tmp_path / "recipe"
    options = {"train": ["--arch", "mlp", "--epochs", "1", "--limit", "200"],
               "recipe": ["default", "--tiny", "--out", str(out_folder),
                          "--unipen", str(tmp_path / "unipen-dev.tar.gz")],
               "number-reader": ["--out", str(out_folder), "--numbers", "64", "--epochs", "1", "--mnist-numbers", "0"],
               }[command]
    done = digitlab(command, *options, "--pen-digits", str(not_pen_digits), tmp_path=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.splitlines() == [f"error: {not_pen_digits} holds no pen digits in the pendigits format "
                                        "(UNIPEN text of .SEGMENT digits with pen strokes); give pendigits-orig.tra "
                                        "(see ../shared/data/README.md)."]
    assert not (tmp_path / "runs").exists() and not out_folder.exists()


@pytest.mark.parametrize("options, words", [
    (["--trials", "0", "--parallel", "0"], "argument --trials: must be at least 1, not 0"),
    (["--parallel", "0"], "argument --parallel: must be at least 1, not 0"),
    (["--trials", "-3"], "argument --trials: must be at least 1, not -3"),
    (["--parallel", "two"], "argument --parallel: 'two' is not a whole number"),
], ids=["both-zero", "parallel-zero", "trials-negative", "parallel-not-a-number"])
def test_sweep_refuses_no_trials_or_none_at_once(capsys, options, words):
    """Test that `sweep --trials 0 --parallel 0` is refused with exit 2 (it used to become 12 trials, 2 at once),
    and so is a negative or unreadable count."""
    assert refused_by_argparse(capsys, "sweep", *options) == f"python -m digitlab sweep: error: {words}"


def test_sweep_without_trials_or_parallel_keeps_the_defaults_and_a_resumed_sweeps_own(tmp_path, monkeypatch,
                                                                                      capsys):
    """Test that a new sweep given neither option still gets 12 trials, 2 at once, and that resuming one without
    them keeps what it has."""
    from digitlab.training.sweeps import study_store as store

    monkeypatch.setenv("DIGITLAB_DATABASE_URL", f"sqlite:///{tmp_path / 'sweeps.sqlite'}")
    monkeypatch.setattr("digitlab.training.sweeps.driver.drive_sweep", lambda name, storage, emit: "finished")

    def spec_after(*options: str):
        assert main(["sweep", "--study", "plain", *options]) == 0, capsys.readouterr().err
        return store.load_sweep(store.open_storage(), "plain")[1]

    made = spec_after("--epochs", "1", "--param", "lr=1e-4:3e-3:log")
    assert (made.trials, made.parallel) == (12, 2)
    assert (spec_after("--trials", "5").trials, spec_after().trials, spec_after().parallel) == (5, 5, 2)


@pytest.mark.parametrize("load", ["abc", "1,,4", "0", "4,-1", "1,4,100000"])
def test_bench_load_takes_only_counts_of_clients(capsys, load):
    """Test that `bench --load abc` (or an empty, zero, negative or too large count) is refused with exit 2 and
    says what --load takes, instead of a ValueError traceback."""
    assert refused_by_argparse(capsys, "bench", "--load", load) == (
        f"python -m digitlab bench: error: argument --load: give client counts from 1 to 256 separated by "
        f"commas, e.g. 1,4,16, not {load!r}")


def test_bench_load_reads_counts_of_clients():
    """Test that `bench --load 1,4,16` still gives the load test its three counts."""
    from digitlab.cli.parser import build_parser

    assert build_parser().parse_args(["bench", "--load", "1,4,16"]).load == [1, 4, 16]


@pytest.mark.parametrize("options", [[], ["--stdin"]], ids=["prompt", "stdin"])
def test_owner_password_with_no_input_says_no_password_was_given(tmp_path, options):
    """Test that `owner-password < /dev/null`, at the prompt or with --stdin, says no password was given and exits
    2 with no hash and no EOFError traceback."""
    done = digitlab("owner-password", *options, tmp_path=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == "error: no password was given: the input ended before a line was read."
