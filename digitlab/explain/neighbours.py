"""The training digits a reading resembles: embeddings of labelled images, kept on disk, searched by cosine similarity.

The 60,000 MNIST training images are embedded once per model and kept on disk next to the
evaluations, keyed by the model file's sha256 (digitlab/evaluation/result_cache.py). Embedding them
takes a minute of CPU and a few hundred MB, so it happens once however many visitors open "Why?" at
the same moment: a lock per cache file within the process (Streamlit serves every session from threads
of one process) and an OS file lock beside it across processes. Whoever waited then reads the cache.
"""

from __future__ import annotations

import fcntl
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from digitlab.evaluation.result_cache import cache_file, read_cached_arrays, write_cached_arrays

NEIGHBOURS = 8
INDEX_FORMAT = "v1"  # part of the cache file names: bump it when what is stored changes

Progress = Callable[[int, int], None]  # progress(done, total)


class Embedder(Protocol):
    """What embeds images: an Explainer (digitlab/explain/explainer.py)."""

    def embed(self, images: np.ndarray, progress: Progress | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class Neighbour:
    index: int  # into the MNIST training set
    label: int
    similarity: float  # cosine similarity of the embeddings, 1.0 for the same embedding

    def to_json(self) -> dict:
        return {"index": self.index, "label": self.label, "similarity": round(self.similarity, 4)}


@dataclass(frozen=True, eq=False)
class NeighbourIndex:
    """Embeddings of labelled images; nearest() finds the most similar ones by cosine similarity."""

    embeddings: np.ndarray  # (n, d) float32, unit rows
    labels: np.ndarray  # (n,)

    def nearest(self, embedding: np.ndarray, k: int = NEIGHBOURS) -> list[Neighbour]:
        similarity = self.embeddings @ np.asarray(embedding, np.float32)
        k = min(k, similarity.shape[0])
        top = np.argpartition(-similarity, k - 1)[:k]
        top = top[np.argsort(-similarity[top], kind="stable")]
        return [Neighbour(int(i), int(self.labels[i]), float(similarity[i])) for i in top]

    def majority_label(self, embedding: np.ndarray, k: int = NEIGHBOURS) -> int:
        labels = [n.label for n in self.nearest(embedding, k)]
        return int(np.bincount(labels).argmax())


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled to length 1 (a zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def embeddings_cache_path(model_sha256: str, which: str, cache_dir: str | Path | None = None) -> Path:
    """Where a model's embeddings of one MNIST split ("train" or "test") are kept."""
    return cache_file(model_sha256, f"embeddings-{which}.{INDEX_FORMAT}", cache_dir)


def cached_embeddings(explainer: Embedder, images: np.ndarray, model_sha256: str | None, which: str,
                      progress: Progress | None = None, cache_dir: str | Path | None = None) -> np.ndarray:
    """The model's embeddings of an MNIST split: from disk when this model file was seen, else computed and kept.

    Computed once: a caller that finds another building them waits, then reads what it wrote.
    """
    if not model_sha256:
        return _embed(explainer, images, progress)
    path = embeddings_cache_path(model_sha256, which, cache_dir)
    stored = _stored_embeddings(path, len(images))
    if stored is not None:
        return stored
    with _building(path):
        stored = _stored_embeddings(path, len(images))  # built by whoever held the lock before us
        if stored is not None:
            return stored
        embeddings = _embed(explainer, images, progress)
        # float16 halves the file; similarities move by under 1e-3, which never reorders neighbours that matter
        write_cached_arrays(path, embeddings=embeddings.astype(np.float16))
        return embeddings


def _embed(explainer: Embedder, images: np.ndarray, progress: Progress | None) -> np.ndarray:
    # Rounded as the disk copy is, so a fresh index and a cached one give the very same neighbours.
    return explainer.embed(images, progress).astype(np.float16).astype(np.float32)


def _stored_embeddings(path: Path, count: int) -> np.ndarray | None:
    stored = read_cached_arrays(path, "embeddings")
    if stored is not None and stored[0].ndim == 2 and stored[0].shape[0] == count:
        return stored[0].astype(np.float32)
    return None


_build_locks: dict[Path, threading.Lock] = {}
_build_locks_guard = threading.Lock()


def _thread_lock(path: Path) -> threading.Lock:
    with _build_locks_guard:
        return _build_locks.setdefault(path, threading.Lock())


def being_built(model_sha256: str, which: str = "train", cache_dir: str | Path | None = None) -> bool:
    """Whether this process is embedding a model's split right now (a page may say it waits for another visitor)."""
    return _thread_lock(embeddings_cache_path(model_sha256, which, cache_dir)).locked()


@contextmanager
def _building(path: Path) -> Iterator[None]:
    """Held while one thread of one process builds the cache file at path; others wait here."""
    with _thread_lock(path):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            lock_file = open(path.with_name(path.name + ".lock"), "a+b")
        except OSError:
            yield  # a read-only cache: each process builds for itself, as it can keep nothing anyway
            return
        with lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)  # released when the file is closed, or the process dies
            yield


def training_index(explainer: Embedder, mnist, model_sha256: str | None, progress: Progress | None = None,
                   cache_dir: str | Path | None = None) -> NeighbourIndex:
    """The nearest-neighbour index over the 60,000 MNIST training digits for this model."""
    embeddings = cached_embeddings(explainer, mnist.x_train, model_sha256, "train", progress, cache_dir)
    return NeighbourIndex(embeddings, np.asarray(mnist.y_train))
