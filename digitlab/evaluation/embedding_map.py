"""A 2-D map of the MNIST test set, from a model's penultimate-layer embedding, by t-SNE (scikit-learn).

t-SNE keeps images that the model embeds close together close on the map, so each digit forms an
island and a mistake shows as a point sitting on another digit's island. It takes seconds for a few
thousand points on 2 cores, so the map shows every mistake plus an even sample of the rest, and is
computed once per model file and kept on disk beside its evaluation, keyed by the file's sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.evaluation.result_cache import cache_file, read_cached_arrays, write_cached_arrays

MAP_POINTS = 3000  # t-SNE grows faster than linearly in points; 3,000 take about 10 s on 2 cores
MAP_FORMAT = "v1"
PCA_DIMENSIONS = 50  # t-SNE on 50 principal components, as scikit-learn's docs advise for wide inputs


@dataclass(frozen=True, eq=False)
class TestMap:
    indices: np.ndarray  # (m,) indices into the MNIST test set
    coordinates: np.ndarray  # (m, 2)


def map_sample(predictions: np.ndarray, labels: np.ndarray, points: int | None = None, seed: int = 0) -> np.ndarray:
    """Every mistake plus an evenly random sample of the right answers (MAP_POINTS in all), in test-set order."""
    points = MAP_POINTS if points is None else points
    wrong = np.flatnonzero(predictions != labels)
    right = np.flatnonzero(predictions == labels)
    take = max(0, min(points - wrong.size, right.size))
    chosen = np.random.default_rng(seed).choice(right, size=take, replace=False)
    return np.sort(np.concatenate([wrong, chosen]))


def layout(embeddings: np.ndarray, seed: int = 0) -> np.ndarray:
    """(n, 2) t-SNE coordinates of the rows of embeddings."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    embeddings = np.asarray(embeddings, np.float32)
    if len(embeddings) < 5:
        return np.zeros((len(embeddings), 2), np.float32)
    components = min(PCA_DIMENSIONS, *embeddings.shape)
    reduced = PCA(n_components=components, random_state=seed).fit_transform(embeddings)
    perplexity = float(min(30, (len(embeddings) - 1) / 3))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced).astype(np.float32)


def map_cache_path(model_sha256: str, cache_dir: str | Path | None = None) -> Path:
    return cache_file(model_sha256, f"test-map.{MAP_FORMAT}", cache_dir)


def read_test_map(model_sha256: str, cache_dir: str | Path | None = None) -> TestMap | None:
    """The stored map of this model, or None when there is none (or it cannot be read)."""
    stored = read_cached_arrays(map_cache_path(model_sha256, cache_dir), "indices", "coordinates")
    if stored is None:
        return None
    indices, coordinates = stored
    if indices.ndim != 1 or coordinates.shape != (indices.size, 2):
        return None
    return TestMap(indices.astype(np.int64), coordinates.astype(np.float32))


def build_test_map(embeddings: np.ndarray, predictions: np.ndarray, labels: np.ndarray,
                   model_sha256: str | None = None, cache_dir: str | Path | None = None) -> TestMap:
    """The map of a sample of the test set (see map_sample), stored on disk when the model's sha256 is given."""
    indices = map_sample(predictions, labels)
    test_map = TestMap(indices, layout(np.asarray(embeddings)[indices]))
    if model_sha256:
        write_cached_arrays(map_cache_path(model_sha256, cache_dir), indices=test_map.indices,
                            coordinates=test_map.coordinates)
    return test_map
