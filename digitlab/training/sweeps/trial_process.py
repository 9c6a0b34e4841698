"""A trial's trainer process: launched in a session of its own, killed as a group, and never outliving its parent.

The same `python -m digitlab train --run-dir` process as a run started from the Train page
(digitlab.training.jobs.trainer_command), with two differences:
  - it dies with the process that launched it (Linux's parent-death signal, set by a small exec wrapper
    rather than a preexec_fn, which is unsafe in the threaded Dask worker): a sweep's driver or a Dask
    worker that is killed takes its trials with it instead of leaving them training for nobody;
  - it may share the training lock the sweep holds (see digitlab.training.sweeps.driver).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

from digitlab.config.paths import REPO_ROOT
from digitlab.store import run_folder as runs
from digitlab.training.jobs import trainer_command, yield_to_the_page
from digitlab.training.run_lock import LOCK_FD_VARIABLE

# Runs `argv[2:]` after asking the kernel for SIGKILL when the parent (argv[1]) goes; exits at once if it
# has gone already. The signal survives exec, so it applies to the trainer itself.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))\n"  # 1: PR_SET_PDEATHSIG
    "os.getppid() == int(sys.argv[1]) or sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


def trial_environment(threads: int | None) -> dict[str, str]:
    """The trainer's environment: unbuffered output, DigitLab importable, its thread count set before TensorFlow."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    env.pop(LOCK_FD_VARIABLE, None)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS="1")
    return env


def launch_trial(run_dir: Path, threads: int | None, lock_fd: int | None = None) -> tuple[subprocess.Popen, list[str]]:
    """Start the trainer for run_dir in its own session, its output in the run's log; (process, trainer command)."""
    command = trainer_command(run_dir)
    launched = command
    if sys.platform.startswith("linux"):
        launched = [sys.executable, "-c", _DIE_WITH_PARENT, str(os.getpid()), *command]
    env = trial_environment(threads)
    if lock_fd is not None:
        env[LOCK_FD_VARIABLE] = str(lock_fd)
    with runs.open_log(run_dir) as log:
        process = subprocess.Popen(launched, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                                   pass_fds=(lock_fd,) if lock_fd is not None else ())
    yield_to_the_page(process.pid)  # the priority of every trainer the Train page starts
    return process, command


def kill_trial(process: subprocess.Popen, timeout: float = 10.0) -> int | None:
    """Kill the trial's whole process group (the trainer leads it) and reap it; its exit status."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def machine_description() -> dict:
    """Where this process runs: the host's name and its GPUs (names from nvidia-smi; none listed when it has none)."""
    gpus: list[str] = []
    smi = shutil.which("nvidia-smi")
    if smi and os.environ.get("CUDA_VISIBLE_DEVICES") != "":
        try:
            listed = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                                    text=True, timeout=10, check=False)
            gpus = [line.strip() for line in listed.stdout.splitlines() if line.strip()]
        except (OSError, subprocess.SubprocessError):
            gpus = []
    return {"host": socket.gethostname(), "gpu": ", ".join(gpus) or None}
