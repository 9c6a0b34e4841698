"""Measure explanations: speed per stroke, one-off costs per model, and the sanity targets.

    python -m digitlab.bench.explain_check [--model PATH] [--saliency-images 500] --json

- Speed: the work the open Why? panel does per stroke (saliency, layer activations, nearest training
  digits, the what-if readings, and the pictures), on real pen drawings; the index and the test-set
  map built once (first) and read back (cached).
- Sanity, on MNIST test and on the pen digits of the held-out writers (pendigits.HELD_OUT_WRITERS):
  how often the majority label of the 8 nearest training digits is the true digit, and the share of
  absolute saliency on the ink or within 2 px of it.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from digitlab.explain.explainer import Explainer
from digitlab.explain.neighbours import NEIGHBOURS, NeighbourIndex, training_index
from digitlab.explain.saliency import saliency_on_ink


def explanation_latency(explainer: Explainer, predictor, inputs: list[np.ndarray], warmup: int = 3) -> dict:
    """Per-stroke work of the open panel on 28x28 inputs: explain, then draw every picture it shows."""
    from digitlab.bench.machine import percentiles_ms
    from digitlab.explain.pictures import feature_grid, saliency_image, unit_strip

    def panel_work(mnist: np.ndarray) -> None:
        explanation = explainer.explain(mnist, predictor.predict_mnist(mnist[None])[0], predictor)
        saliency_image(explanation.mnist, explanation.saliency, 7)
        shown = explanation.layers
        first_member = shown[0].name.split("/")[0] if shown and "/" in shown[0].name else None
        for layer in shown:  # the panel shows one member network of an ensemble at a time
            if first_member is None or layer.name.startswith(f"{first_member}/"):
                feature_grid(layer.values) if layer.kind == "conv" else unit_strip(layer.values)

    for mnist in inputs[:warmup]:
        panel_work(mnist)
    seconds, cpu_seconds = [], []
    for mnist in inputs:
        start, cpu_start = time.perf_counter(), time.process_time()
        panel_work(mnist)
        seconds.append(time.perf_counter() - start)
        cpu_seconds.append(time.process_time() - cpu_start)
    # CPU time (all threads of this process) does not grow when other processes share the cores, as
    # wall time does; on idle cores the wall time is at most about this.
    cpu = percentiles_ms(cpu_seconds)
    return {**percentiles_ms(seconds), "cpu_median_ms": cpu["median_ms"], "cpu_p95_ms": cpu["p95_ms"]}


def neighbour_majority_accuracy(index: NeighbourIndex, embeddings: np.ndarray, labels: np.ndarray,
                                k: int = NEIGHBOURS, chunk: int = 1000) -> float:
    """Share of inputs whose k nearest training digits' majority label is their true digit."""
    right = 0
    for start in range(0, len(embeddings), chunk):
        similarity = embeddings[start : start + chunk] @ index.embeddings.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        votes = index.labels[nearest]
        majority = np.array([np.bincount(row, minlength=10).argmax() for row in votes])
        right += int((majority == labels[start : start + chunk]).sum())
    return right / max(len(embeddings), 1)


def saliency_share(explainer: Explainer, predictor, inputs: np.ndarray) -> dict:
    """Mean share of absolute saliency on the ink or within 2 px, and the share of inputs where it is >= 60%."""
    shares = np.array([saliency_on_ink(explainer.explain(image, predictor.predict_mnist(image[None])[0]).saliency, image)
                       for image in inputs])
    return {"mean_share_on_ink": round(float(shares.mean()), 4),
            "inputs_with_60pct_on_ink": round(float((shares >= 0.6).mean()), 4), "n": int(len(shares))}


def held_out_pen_inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """The held-out writers' pen digits as the 28x28 the model sees, with labels; None without the data."""
    from digitlab.datasets.pendigits import pendigits_path
    from digitlab.datasets.pendigits import read_pendigits, render_on_canvas, split_by_writer
    from digitlab.serving.preprocess import preprocess

    path = pendigits_path()
    if path is None:
        return None
    _, held_out = split_by_writer(read_pendigits(path))
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for digit in held_out:
        prepared = preprocess(render_on_canvas(digit, rng))
        if prepared.has_digit:
            images.append(prepared.mnist)
            labels.append(digit.label)
    return np.stack(images), np.array(labels)


def panel_explainer(predictor, entry) -> Explainer:
    """The Explainer as the Why? panel builds it beside the served Predictor: its gradients need the Keras model,
    which a Predictor serving the LiteRT flatbuffer does not hold, so it is loaded here (TensorFlow with it)."""
    from digitlab.store.registry import load_entry

    return Explainer(predictor.model if predictor.model is not None else load_entry(entry))


def served_from(predictor) -> str:
    return "flatbuffer" if predictor.serving.from_flatbuffer else ".keras file"


def run_speed_check(model_path: Path | None, speed_inputs: int = 100) -> dict:
    """Only the per-stroke figure, with the model's index from the usual cache (built there if missing)."""
    from digitlab.bench.machine import machine_description
    from digitlab.datasets.mnist import load_mnist
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import resolve_model

    entry = resolve_model(model_path)
    predictor = load_serving_predictor(entry)  # readings and what-ifs as the app makes them
    explainer = panel_explainer(predictor, entry)
    explainer = explainer.with_index(training_index(explainer, load_mnist(), entry.sha256))
    pen = held_out_pen_inputs()
    inputs = list((pen[0] if pen is not None else load_mnist().x_test)[:speed_inputs])
    return {"model": {"name": entry.name, "sha256": entry.sha256, "served_from": served_from(predictor)},
            "machine": machine_description(),
            "per_stroke_panel_open": {**explanation_latency(explainer, predictor, inputs), "steps": explainer.steps}}


def run_check(model_path: Path | None, saliency_images: int = 500, speed_inputs: int = 100) -> dict:
    from digitlab.bench.machine import machine_description
    from digitlab.datasets.mnist import load_mnist
    from digitlab.evaluation.embedding_map import build_test_map, read_test_map
    from digitlab.explain.neighbours import cached_embeddings
    from digitlab.serving.predictor import load_serving_predictor
    from digitlab.store.registry import resolve_model

    entry = resolve_model(model_path)
    mnist = load_mnist()
    report: dict = {"model": {"name": entry.name, "sha256": entry.sha256}, "machine": machine_description()}
    predictor = load_serving_predictor(entry)  # readings, what-ifs and the map's predictions as the app makes them
    report["model"]["served_from"] = served_from(predictor)
    start = time.perf_counter()
    explainer = panel_explainer(predictor, entry)
    report["explainer_setup_s"] = round(time.perf_counter() - start, 2)

    with tempfile.TemporaryDirectory(prefix="digitlab-explain-check-") as cache:  # a true first build
        start = time.perf_counter()
        index = training_index(explainer, mnist, entry.sha256, cache_dir=cache)
        first = time.perf_counter() - start
        start = time.perf_counter()
        training_index(explainer, mnist, entry.sha256, cache_dir=cache)
        report["index"] = {"first_s": round(first, 2), "cached_s": round(time.perf_counter() - start, 3),
                           "images": int(len(index.labels)), "dimensions": int(index.embeddings.shape[1])}
        start = time.perf_counter()
        test_embeddings = cached_embeddings(explainer, mnist.x_test, entry.sha256, "test", cache_dir=cache)
        evaluation_predictions = predictor.predict_mnist(mnist.x_test).argmax(axis=1)
        build_test_map(test_embeddings, evaluation_predictions, mnist.y_test, entry.sha256, cache)
        first = time.perf_counter() - start
        start = time.perf_counter()
        read_test_map(entry.sha256, cache)
        report["test_map"] = {"first_s": round(first, 2), "cached_s": round(time.perf_counter() - start, 3)}
    explainer = explainer.with_index(index)

    pen = held_out_pen_inputs()
    sets = {"mnist_test": (mnist.x_test, mnist.y_test, test_embeddings)}
    if pen is not None:
        sets["held_out_pen_writers"] = (pen[0], pen[1], explainer.embed(pen[0]))
    rng = np.random.default_rng(0)
    report["sanity"] = {}
    for name, (images, labels, embeddings) in sets.items():
        sample = np.sort(rng.choice(len(images), size=min(saliency_images, len(images)), replace=False))
        report["sanity"][name] = {
            "n": int(len(images)),
            "neighbour_majority_is_true_digit": round(neighbour_majority_accuracy(index, embeddings, labels), 4),
            "saliency": saliency_share(explainer, predictor, images[sample]),
        }
    speed_set = pen[0] if pen is not None else mnist.x_test
    report["per_stroke_panel_open"] = explanation_latency(explainer, predictor, list(speed_set[:speed_inputs]))
    report["per_stroke_panel_open"]["steps"] = explainer.steps
    return report


def main(argv: list[str] | None = None) -> int:
    from digitlab.datasets.mnist import MnistUnavailableError
    from digitlab.explain.layers import ExplainError
    from digitlab.store.registry import ModelLoadError

    parser = argparse.ArgumentParser(prog="python -m digitlab.bench.explain_check", description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--saliency-images", type=int, default=500, help="images per set whose saliency is measured")
    parser.add_argument("--speed-inputs", type=int, default=100, help="drawings timed for the per-stroke figure")
    parser.add_argument("--speed-only", action="store_true", help="only the per-stroke timing")
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    args = parser.parse_args(argv)
    try:
        if args.speed_only:
            report = run_speed_check(args.model, args.speed_inputs)
        else:
            report = run_check(args.model, args.saliency_images, args.speed_inputs)
    except (ModelLoadError, MnistUnavailableError, ExplainError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
