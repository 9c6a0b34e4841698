"""What the sweep tests share: tiny recipes, the sweep command as a user runs it, and finding its processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psutil

from digitlab.store import run_folder as runs

# One epoch of mlp on 400 MNIST images: a trial in seconds, most of them TensorFlow starting. The space holds
# the defaults (lr 1e-3, batch 128), so trial 0 trains the default settings.
TINY_RECIPE = ["--arch", "mlp", "--epochs", "1", "--limit", "400", "--no-augment"]
TINY_SPACE = ["--param", "lr=1e-3:1e-2:log", "--param", "batch_size=32,128"]
# Trials that are still training when the test acts: 20 epochs of 18,000 images in batches of 32.
LONG_RECIPE = ["--arch", "mlp", "--epochs", "20", "--limit", "20000", "--batch-size", "32", "--no-augment"]
LONG_SPACE = ["--param", "lr=1e-3:1e-2:log"]
# Between the two: about 15 s a trial on two busy cores, long enough to act on one while it trains (or to prune it
# after its first epoch, before its last).
MEDIUM_RECIPE = ["--arch", "mlp", "--epochs", "3", "--limit", "6000", "--batch-size", "32", "--no-augment"]


def sweep_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "digitlab", "sweep", *args]


def json_lines(text: str) -> list[dict]:
    """The trial lines a sweep printed (its stdout holds nothing else)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def describe_runs(root: Path) -> str:
    """Each run's state and message, and the end of each sweep driver's log under root: why a wait timed out."""
    lines = [f"{run.name}: {run.state} (epoch {run.status.epoch}, batch {run.status.batch}) {run.status.message}"
             for run in runs.list_runs(root)]
    for log in sorted((root / ".sweeps").glob("*.log")):
        lines.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:]))
    return "\n".join(lines) or "no runs"


def training_runs(root: Path) -> list[runs.Run]:
    """The runs under root whose trainer is some batches into training."""
    return [run for run in runs.list_runs(root) if run.status.state == "running" and run.status.batch > 0]


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def trainer_processes(marker: str) -> list[psutil.Process]:
    """Live trainer processes whose command line names marker (a runs folder, or a worker's temporary folders)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "--run-dir" in command and marker in command and alive(process.pid):
            found.append(process)
    return found
