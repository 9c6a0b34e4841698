"""Explanations: saliency lands where the answer is decided, neighbours are found, any model shape works."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from digitlab.explain.explainer import Explainer
from digitlab.explain.layers import classifier_members
from digitlab.explain.neighbours import (NeighbourIndex, being_built, cached_embeddings, embeddings_cache_path,
                                        training_index, unit_rows)
from digitlab.explain.saliency import ink_neighbourhood, saliency_on_ink
from digitlab.explain.what_if import what_if_images

REPO_ROOT = Path(__file__).resolve().parents[2]
REGION = (slice(2, 9), slice(2, 9))  # rows and columns 2..8: the only pixels the region model reads


def region_model(classes: int = 10):
    """A model whose every output depends only on the 7x7 patch at REGION (its other weights are zero)."""
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                              keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(classes, activation="softmax")])
    kernel, bias = model.layers[2].get_weights()
    mask = np.zeros((28, 28), np.float32)
    mask[REGION] = 1
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 0.5, kernel.shape).astype(np.float32) * mask.reshape(-1, 1)
    model.layers[2].set_weights([np.abs(kernel), bias])
    return model


def scribble(seed: int = 1) -> np.ndarray:
    """Ink all over the image, inside the region and (far more of it) outside."""
    image = np.zeros((28, 28), np.uint8)
    rng = np.random.default_rng(seed)
    image[rng.random((28, 28)) < 0.5] = 255
    return image


def test_saliency_lands_on_the_region_the_answer_depends_on():
    """Test that a model reading only one patch gets all its saliency inside that patch, though ink is everywhere."""
    model = region_model()
    image = scribble()
    probabilities = model(image[None, ..., None].astype(np.float32)).numpy()[0]
    explanation = Explainer(model).explain(image, probabilities)
    magnitude = np.abs(explanation.saliency)
    assert magnitude.sum() > 0
    assert magnitude[REGION].sum() / magnitude.sum() > 0.99
    assert explanation.digit == int(probabilities.argmax())


def test_explains_a_conv_network_layer_by_layer(small_run, mnist, predictor):
    """Test that a CNN's explanation lists its feature maps and hidden units, and a what-if strip with readings."""
    explainer = Explainer(predictor.model)
    image = mnist.x_test[0]
    explanation = explainer.explain(image, predictor.predict_mnist(image[None])[0], predictor)
    kinds = {layer.name: (layer.kind, layer.values.shape) for layer in explanation.layers}
    assert ("conv", (26, 26, 32)) in kinds.values()  # cnn-small: Conv2D(32, 3) on 28x28
    assert ("dense", (64,)) in kinds.values()
    assert explanation.saliency.shape == (28, 28) and np.abs(explanation.saliency).max() == pytest.approx(1.0)
    assert [w.name for w in explanation.what_ifs] == [name for name, _ in what_if_images(image)]
    assert all(0 <= w.digit <= 9 for w in explanation.what_ifs)
    line = json.loads(json.dumps(explanation.to_json()))
    assert np.array(line["input"]).shape == (28, 28) and np.array(line["saliency"]).shape == (28, 28)


def test_an_ensemble_is_explained_member_by_member_and_an_eleventh_output_is_fine():
    """Test that an Average of two networks is split into its members, and an 11-class model still explains."""
    import keras

    from digitlab.training.ensemble import build_ensemble

    pair = build_ensemble([region_model(), region_model()])
    assert len(classifier_members(pair)) == 2
    explainer = Explainer(pair)
    image = scribble()
    explanation = explainer.explain(image, pair(image[None, ..., None].astype(np.float32)).numpy()[0])
    assert {layer.name.split("/")[0] for layer in explanation.layers} == {"member_1", "member_2"}
    assert explanation.embedding.shape == (32,)  # 16 units from each member, side by side
    assert np.linalg.norm(explanation.embedding) == pytest.approx(1.0, abs=1e-5)

    eleven = region_model(11)
    assert isinstance(eleven, keras.Model)
    probabilities = np.zeros(11, np.float32)
    probabilities[10] = 1.0  # "not a digit"
    assert Explainer(eleven).explain(image, probabilities).digit == 10


def test_neighbours_of_a_training_image_include_itself(predictor, mnist, tmp_path):
    """Test that the nearest training digit to a training image is that image, and that the index is cached."""
    explainer = Explainer(predictor.model)
    from digitlab.datasets.mnist import Mnist

    subset = Mnist(mnist.x_train[:400], mnist.y_train[:400], mnist.x_test, mnist.y_test, mnist.source)
    index = training_index(explainer, subset, "f" * 64, cache_dir=tmp_path)
    assert embeddings_cache_path("f" * 64, "train", tmp_path).exists()
    for position in (0, 17, 399):
        found = explainer.with_index(index).explain(subset.x_train[position],
                                                    predictor.predict_mnist(subset.x_train[position][None])[0])
        assert found.neighbours[0].index == position
        assert found.neighbours[0].similarity == pytest.approx(1.0, abs=2e-3)  # float16 on disk
        assert found.neighbours[0].label == subset.y_train[position]
        assert len(found.neighbours) == 8

    def refuse(*args, **kwargs):
        raise AssertionError("the cached embeddings should have been read, not recomputed")

    explainer.embed = refuse
    again = training_index(explainer, subset, "f" * 64, cache_dir=tmp_path)
    assert np.allclose(again.embeddings, index.embeddings)


def test_a_corrupt_cache_is_recomputed(predictor, mnist, tmp_path):
    """Test that an unreadable embeddings file is replaced rather than trusted."""
    explainer = Explainer(predictor.model)
    path = embeddings_cache_path("e" * 64, "test", tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a zip")
    embeddings = cached_embeddings(explainer, mnist.x_test[:50], "e" * 64, "test", cache_dir=tmp_path)
    assert embeddings.shape[0] == 50
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-3)  # unit rows, kept as float16


def test_nearest_orders_by_similarity():
    """Test that neighbours come most similar first, with their labels."""
    index = NeighbourIndex(np.eye(4, dtype=np.float32), np.array([3, 1, 4, 1]))
    found = index.nearest(np.array([0.1, 0.9, 0.0, 0.4], np.float32), k=3)
    assert [n.index for n in found] == [1, 3, 0]
    assert [n.label for n in found] == [1, 1, 3]
    assert index.majority_label(np.array([0.1, 0.9, 0.0, 0.4], np.float32), k=3) == 1


def test_saliency_on_ink_counts_within_two_pixels():
    """Test the sanity measure: saliency two pixels from the ink counts, three pixels away does not."""
    image = np.zeros((28, 28), np.uint8)
    image[14, 14] = 255
    assert ink_neighbourhood(image).sum() == 25
    saliency = np.zeros((28, 28), np.float32)
    saliency[14, 16] = 1.0
    saliency[14, 17] = 1.0
    assert saliency_on_ink(saliency, image) == pytest.approx(0.5)


def test_explain_cli_prints_the_fields_and_an_error_line_for_a_bad_file(models_dir, mnist, tmp_path, capsys, monkeypatch):
    """Test that `explain --json` prints digit, input, saliency, neighbours and layers, and an error for a bad file."""
    import digitlab.explain.neighbours
    from digitlab.cli.parser import main
    from PIL import Image

    def small_index(explainer, data, sha256, progress=None, cache_dir=None):  # 60,000 digits are too slow for a test
        return NeighbourIndex(explainer.embed(data.x_train[:300]), data.y_train[:300])

    monkeypatch.setattr(digitlab.explain.neighbours, "training_index", small_index)
    good = tmp_path / "seven.png"
    Image.fromarray(mnist.x_test[0]).resize((140, 140)).save(good)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG not really")
    assert main(["explain", str(good), str(bad), "--json"]) == 1
    first, second = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    assert first["digit"] == 7 and len(first["probabilities"]) == 10
    assert np.array(first["input"]).shape == (28, 28) and np.array(first["saliency"]).shape == (28, 28)
    assert len(first["neighbours"]) >= 5
    assert all(set(n) == {"index", "label", "similarity"} and 0 <= n["index"] < 300 for n in first["neighbours"])
    assert first["layers"] and all(set(layer) >= {"name", "shape"} for layer in first["layers"])
    assert second["file"].endswith("broken.png") and second["error"]


def test_neighbour_majority_accuracy_counts_majority_votes():
    """Test the sanity measure: an input counts as right when most of its nearest training digits share its label."""
    from digitlab.bench.explain_check import neighbour_majority_accuracy

    # Training digits: three of label 1 along the first axis, one of label 2 along the second.
    index = NeighbourIndex(np.array([[1, 0], [0.99, 0.14], [0.98, 0.2], [0, 1]], np.float32), np.array([1, 1, 1, 2]))
    queries = np.array([[1, 0], [0.1, 0.99]], np.float32)
    assert neighbour_majority_accuracy(index, queries, np.array([1, 1]), k=3) == 1.0  # both see mostly 1s
    assert neighbour_majority_accuracy(index, queries, np.array([1, 2]), k=3) == 0.5  # the 2 is outvoted by k=3
    assert neighbour_majority_accuracy(index, queries, np.array([1, 2]), k=1) == 1.0


class CountingEmbedder:
    """An embedder that takes a while and counts how often it is asked: what a 60,000-image index costs, in small."""

    def __init__(self, seconds: float = 0.5, record: Path | None = None):
        self.seconds, self.record, self.calls = seconds, record, 0

    def embed(self, images, progress=None):
        self.calls += 1
        if self.record is not None:
            with open(self.record, "a") as file:
                file.write("built\n")
        time.sleep(self.seconds)  # long enough for every other visitor to arrive while it builds
        return unit_rows(images.reshape(len(images), -1).astype(np.float32) + 1.0)


def test_visitors_opening_why_at_once_build_the_index_once(mnist, tmp_path):
    """Test that eight threads (eight visitors on one server) asking for a fresh model's index get one build
    between them, and all get the same neighbours."""
    from digitlab.datasets.mnist import Mnist

    subset = Mnist(mnist.x_train[:300], mnist.y_train[:300], mnist.x_test, mnist.y_test, mnist.source)
    embedder = CountingEmbedder()
    start = threading.Barrier(8)

    def visitor():
        start.wait()
        return training_index(embedder, subset, "a" * 64, cache_dir=tmp_path)

    with ThreadPoolExecutor(8) as pool:
        indexes = list(pool.map(lambda _: visitor(), range(8)))

    assert embedder.calls == 1
    assert all(np.array_equal(index.embeddings, indexes[0].embeddings) for index in indexes)
    assert not being_built("a" * 64, cache_dir=tmp_path)


BUILD_IN_ANOTHER_PROCESS = """
import sys, time
from pathlib import Path
import numpy as np
from digitlab.explain.neighbours import cached_embeddings
from tests.unit.test_explain import CountingEmbedder
cache, record, start_at = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
images = np.arange(200 * 28 * 28, dtype=np.uint8).reshape(200, 28, 28)
time.sleep(max(0.0, start_at - time.time()))
cached_embeddings(CountingEmbedder(seconds=2.0, record=record), images, "b" * 64, "train", cache_dir=cache)
"""


def test_two_server_processes_build_the_index_once(tmp_path):
    """Test that two processes sharing the cache folder build a model's index once: the second waits for the
    file lock and reads what the first wrote."""
    record = tmp_path / "builds.txt"
    start_at = time.time() + 6  # both interpreters have imported numpy and digitlab by then
    processes = [subprocess.Popen([sys.executable, "-c", BUILD_IN_ANOTHER_PROCESS, str(tmp_path / "cache"),
                                   str(record), str(start_at)], cwd=REPO_ROOT) for _ in range(2)]
    assert [process.wait(timeout=120) for process in processes] == [0, 0]

    assert record.read_text().splitlines() == ["built"]
