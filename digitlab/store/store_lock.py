"""One change at a time to a models/ folder, across the app's sessions and the command line's processes.

A promotion reads the name's card, picks the next free version, copies the model and writes the card. Two at
once (the owner's Train page and a `promote` in a terminal, or two owners' tabs) both picked the same version:
one model silently overwrote the other, and the card of a kept version no longer matched its file.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator
from pathlib import Path

LOCK_FILE = ".registry.lock"  # in the models folder; hidden, so no listing of models takes it for one

_held = threading.local()  # the folders this thread holds: a restore registers anew inside its own lock


@contextlib.contextmanager
def store_lock(directory: Path) -> Iterator[None]:
    """Hold the folder's lock (an flock: released by the kernel if the process dies) while the block runs."""
    folders = getattr(_held, "folders", None)
    if folders is None:
        folders = _held.folders = set()
    key = str(Path(directory).resolve())
    if key in folders:
        yield
        return
    Path(directory).mkdir(parents=True, exist_ok=True)
    with open(Path(directory) / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        folders.add(key)
        try:
            yield
        finally:
            folders.discard(key)
            fcntl.flock(handle, fcntl.LOCK_UN)
