"""`python -m digitlab bench`: every figure for one model, measured in this run on this machine.

Accuracy on MNIST and on real pen drawings (bench/accuracy.py), on held-out UNIPEN institutions' hands
(bench/unipen.py), speed and memory (bench/speed.py), whole numbers (bench/numbers.py), photos of digits and
numbers in uneven light (bench/photos.py); BENCHMARKS.md records the output. The pages' own server work is
handed in as a DrawPageWork by the CLI, the one place allowed to import digitlab/ui/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digitlab.bench.accuracy import drawing_accuracy, held_out_writers_accuracy, refusal_rates
from digitlab.bench.canvases import mnist_digit_canvas, render_pendigits
from digitlab.bench.machine import machine_description, peak_memory_mb
from digitlab.bench.numbers import number_reading
from digitlab.serving.number_reading import load_number_reader
from digitlab.bench.photos import photo_reading
from digitlab.bench.unipen import unipen_figures
from digitlab.bench.speed import (BackgroundTraining, batch_throughput, cold_start, draw_page_latency,
                                  first_evaluation, latency, load_figures, training_throughput)
from digitlab.datasets.pendigits import PENDIGITS_ENV_VAR, pendigits_path
from digitlab.datasets.unipen import UNIPEN_ENV_VAR, unipen_path
from digitlab.serving.number_segmentation import NumberReading
from digitlab.serving.predictor import Prediction, load_serving_predictor


@dataclass(frozen=True)
class DrawPageWork:
    """The Draw page's own server work after a reading, timed as part of each stroke."""

    show_digit: Callable[[Prediction], None]  # model view, metric and chart for one digit
    show_number: Callable[[np.ndarray, NumberReading], None]  # boxes picture and bars for a number


def run_bench(model_path: str | Path | None, page: DrawPageWork, quick: bool = False,
              load_clients: list[int] | None = None, while_training: bool = False) -> dict:
    """Measure everything for one model; quick=True uses small samples (for tests, not for records)."""
    from digitlab.datasets.mnist import load_mnist
    from digitlab.store.registry import load_entry, resolve_model
    from digitlab.store.run_config import DEFAULT_ARCHITECTURE

    entry = resolve_model(model_path)
    # What the app and `predict` serve: the model's verified LiteRT flatbuffer where it has one.
    predictor = load_serving_predictor(entry)
    mnist = load_mnist()
    n_test = 1000 if quick else len(mnist.x_test)
    probabilities = predictor.predict_mnist(mnist.x_test[:n_test])
    report: dict = {
        "model": {"name": entry.name, "path": str(entry.path), "sha256": entry.sha256,
                  "architecture": entry.card.get("architecture"), "runtime": predictor.runtime,
                  "served_from": "flatbuffer" if predictor.serving.from_flatbuffer else ".keras file",
                  **({"serving_note": predictor.serving.note} if predictor.serving.note else {})},
        "machine": machine_description(),
        "quick": quick,
        "mnist_test_accuracy": round(float((probabilities.argmax(1) == mnist.y_test[:n_test]).mean()), 4),
        "mnist_test_images": n_test,
    }
    pen_path = pendigits_path()
    if pen_path is None:
        report["pendigits"] = {"error": f"pendigits-orig.tra not found; set {PENDIGITS_ENV_VAR}"}
        canvases = []
    else:
        canvases, labels = render_pendigits(pen_path, limit=300 if quick else None)
        report["pendigits"] = drawing_accuracy(predictor, canvases, labels)
        report["held_out_writers"] = held_out_writers_accuracy(predictor, pen_path, limit=300 if quick else None)
    report["refusal"] = refusal_rates(predictor, mnist.x_test[:n_test], n_non_digits=160 if quick else 1600)
    if unipen_path() is None:
        report["unipen"] = {"error": f"unipen-dev.tar.gz not found; set {UNIPEN_ENV_VAR}"}
    else:  # hands from institutions never trained on, their styled digits, and real letters (bench/unipen.py)
        report["unipen"] = unipen_figures(predictor, unipen_path(), pen_path, quick=quick)
    if "held_out_writers" in report:
        held_out = report["held_out_writers"]
        report["refusal"]["held_out_pen_digits_refused"] = round(held_out["refused"] / held_out["n"], 4)
    if not canvases:
        canvases = [mnist_digit_canvas(digit) for digit in mnist.x_test[:300]]
    report["latency"] = latency(predictor, load_entry(entry), canvases, n_fast=50 if quick else 300,
                                n_predict=10 if quick else 60)
    report["draw_page_after_stroke"] = draw_page_latency(predictor, canvases, page.show_digit, n=30 if quick else 200)
    if pen_path is not None:
        reader, why_not = load_number_reader()  # what `predict --number` and Number mode serve
        report["numbers"] = number_reading(predictor, pen_path, page.show_number, count=40 if quick else 500,
                                           timed=10 if quick else 100, reader=reader, unipen=unipen_path(),
                                           mnist=mnist)
        if reader is None:
            report["numbers"]["reader_note"] = why_not
        report["photos"] = photo_reading(predictor, pen_path, singles=60 if quick else 600,
                                         numbers=20 if quick else 300, reader=reader)
    report["batch_throughput"] = batch_throughput(predictor, mnist.x_test[:n_test])
    report["training_throughput"] = training_throughput(mnist, DEFAULT_ARCHITECTURE, n_images=512 if quick else 4096)
    report["cold_start"] = cold_start(entry.path)
    report["evaluate_first_visit"] = first_evaluation(predictor, mnist, entry.sha256)
    if load_clients:
        requests = 5 if quick else 40
        report["load"] = load_figures(predictor, canvases, load_clients, requests, page.show_digit)
    if while_training:
        training = BackgroundTraining(threads=1)
        try:
            training.wait_until_training()
            report["while_training"] = {
                "draw_page_after_stroke": draw_page_latency(predictor, canvases, page.show_digit,
                                                            n=30 if quick else 200),
                "load": load_figures(predictor, canvases, load_clients or [1], 5 if quick else 40, page.show_digit),
                "training": "cnn-deep, full MNIST, augmented, --threads 1",
            }
        finally:
            training.stop()
    report["peak_memory"] = peak_memory_mb()
    return report
