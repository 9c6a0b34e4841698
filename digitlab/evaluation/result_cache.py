"""The evaluation cache: what is slow to compute for a model file (probabilities, embeddings, a map), kept on disk.

Each entry is one .npz file named by the model file's sha256, so a model file that changed is a
different key and is computed afresh. An entry that is missing or unreadable is computed again; one
that cannot be written (a read-only or full disk) costs the next visit a recomputation, nothing more.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from digitlab.store.atomic import write_atomic

CACHE_ENV_VAR = "DIGITLAB_CACHE"


def default_cache_dir() -> Path:
    """Where evaluations are kept: $DIGITLAB_CACHE, else ~/.cache/digitlab/evaluations."""
    configured = os.environ.get(CACHE_ENV_VAR)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "digitlab" / "evaluations"


def cache_file(model_sha256: str, kind: str, cache_dir: str | Path | None = None) -> Path:
    """The file of one kind of result ("v1", "embeddings-train.v1", ...) for a model file."""
    return Path(cache_dir or default_cache_dir()) / f"{model_sha256}.{kind}.npz"


def read_cached_arrays(path: Path, *names: str) -> tuple[np.ndarray, ...] | None:
    """The named arrays of a cache file, or None when it is missing, unreadable or lacks one of them."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            return tuple(stored[name] for name in names)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None


def write_cached_arrays(path: Path, **arrays: np.ndarray) -> None:
    """Keep arrays in a cache file, written whole or not at all."""
    def write(temp: Path) -> None:
        with open(temp, "wb") as file:  # a file object, so numpy cannot append a second .npz suffix
            np.savez_compressed(file, **arrays)

    try:
        write_atomic(path, write)
    except OSError:
        pass  # a read-only or full disk costs the next visit a recomputation, nothing more
