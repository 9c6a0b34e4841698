"""The one-training-run-at-a-time lock: an OS file lock on <runs root>/.training.lock, held by the trainer process.

Why an OS lock (flock): the kernel releases it when the process holding it dies, however it dies (kill -9,
out of memory), so there is no stale lock to judge by age or pid and nothing to clear by hand.

The hand-over from the app to the trainer, with no moment when the lock is free:
  1. start_run opens the lock file and takes an exclusive flock on it (TrainingBusyError when a trainer holds it);
  2. it creates the run folder and writes the run's name into the lock file, so others can say who holds it;
  3. it launches the trainer with that descriptor passed on (pass_fds, its number in LOCK_FD_VARIABLE). An flock
     belongs to the open file, not to a process, so parent and trainer now hold the same lock;
  4. the parent closes its copy: from then on the lock is held exactly as long as the trainer keeps the
     descriptor open, until train_run has written the final status (it closes it then, so the next run need not
     wait for the interpreter to exit) or until the trainer dies.
The file itself is never deleted: removing a locked file would let a second starter lock a new file of the
same name while the trainer still holds the old one.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCK_FILE = ".training.lock"
LOCK_FD_VARIABLE = "DIGITLAB_TRAINING_LOCK_FD"  # tells the trainer which inherited descriptor holds the lock
PROBE_PATIENCE_SECONDS = 1.0  # holder() takes a shared lock for an instant: a start waits that out, no more


class TrainingBusyError(RuntimeError):
    """Another run holds the training lock; .run_name says which."""

    def __init__(self, run_name: str | None):
        self.run_name = run_name
        where = f"run {run_name}" if run_name else "another run"
        super().__init__(f"A training run is already going ({where}). "
                         "Stop it or wait for it to finish, then start again.")


class HeldLock:
    """The training lock while start_run holds it: name the run it is for, then pass `fd` to its trainer."""

    def __init__(self, fd: int):
        self.fd = fd  # the open lock file: whoever has a copy of it holds the lock

    def name_holder(self, run_name: str) -> None:
        """Write which run holds the lock, for holder() to report (only read while the lock is held)."""
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, run_name.encode("utf-8"), 0)

    def child_environment(self, env: dict[str, str]) -> dict[str, str]:
        """env plus the variable that tells the trainer which descriptor to keep and close."""
        return {**env, LOCK_FD_VARIABLE: str(self.fd)}


def _lock_path(root: Path) -> Path:
    return root / LOCK_FILE


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _holder_name(root: Path) -> str:
    try:
        return _lock_path(root).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


@contextmanager
def take_training_lock(root: Path) -> Iterator[HeldLock]:
    """Hold the training lock for the block, or raise TrainingBusyError naming the run whose trainer holds it.

    On leaving the block only this process's descriptor is closed: a trainer launched with it keeps the lock.
    """
    # Not inheritable (PEP 446): no other process this server launches meanwhile gets it, only pass_fds passes it.
    fd = os.open(_lock_path(root), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + PROBE_PATIENCE_SECONDS
        while not _try_flock(fd, fcntl.LOCK_EX):
            if time.monotonic() >= deadline:
                raise TrainingBusyError(_holder_name(root) or None)
            time.sleep(0.02)  # a trainer holds it for minutes; a probe for microseconds
        yield HeldLock(fd)
    finally:
        os.close(fd)


def holder(root: Path) -> str | None:
    """The name of the run whose trainer holds the lock; "" while a start has it but not yet named the run;
    None when nobody holds it."""
    try:
        fd = os.open(_lock_path(root), os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _try_flock(fd, fcntl.LOCK_SH):  # shared, so probes from many page sessions do not refuse each other
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
    finally:
        os.close(fd)
    return _holder_name(root)


@contextmanager
def inherited_training_lock() -> Iterator[None]:
    """In the trainer: keep the lock start_run passed on for the block, then release it (no-op without one)."""
    fd_text = os.environ.pop(LOCK_FD_VARIABLE, None)  # popped: nothing this trainer launches should think it has it
    fd = int(fd_text) if fd_text and fd_text.isdigit() else None
    if fd is not None:
        try:
            os.set_inheritable(fd, False)  # a process the trainer starts must not keep the lock after it dies
        except OSError:
            fd = None  # not open: the launcher's lock is not ours to manage
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)
