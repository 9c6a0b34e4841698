"""Safe files: atomic writes (readers see the old file or the new one, never half of one) and checksums."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable


def write_atomic(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call write(temp_path) for a temp file in the same folder, then rename it over path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(handle)
    temp = Path(temp_name)
    try:
        # mkstemp makes the file readable by its owner alone; the file it becomes is an ordinary one (a
        # model, a card, a run's metrics), so it gets the mode open() would give it: a server running as
        # another user, or a copy of models/ to commit, reads it like the shipped files.
        os.chmod(temp, 0o666 & ~process_umask())
        write(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return path


def process_umask() -> int:
    """This process's umask, read without changing it (os.umask can only be read by setting it, which would
    race with other threads creating files); 0o022 where /proc does not say."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def write_text_atomic(path: str | Path, text: str) -> Path:
    def write(temp: Path) -> None:
        with open(temp, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())

    return write_atomic(path, write)


def write_json_atomic(path: str | Path, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path, default: Any = None) -> Any:
    """Read a JSON file, or return default when it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's bytes, as model cards and run statuses record it."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_model_atomic(model, path: str | Path) -> Path:
    """Save to a temp file beside path, reload it with safe_mode to prove it is whole, then rename."""
    import keras

    def write(temp: Path) -> None:
        # Keras insists on the .keras suffix, which write_atomic's temp name keeps.
        model.save(temp)
        keras.models.load_model(temp, safe_mode=True, compile=False)

    return write_atomic(path, write)
