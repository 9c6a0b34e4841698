"""`python -m digitlab bench`: accuracy on MNIST and on real pen drawings, speed, memory, load.

Every figure is measured in this run on this machine; BENCHMARKS.md records the output.
"""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from digitlab.serving.predictor import Predictor
from digitlab.datasets.pendigits import PENDIGITS_ENV_VAR, pendigits_path, read_pendigits, render_on_canvas
from digitlab.serving.preprocess import preprocess
from digitlab.config.paths import REPO_ROOT



def percentiles_ms(seconds: list[float]) -> dict:
    values = np.asarray(seconds) * 1000.0
    return {"median_ms": round(float(np.median(values)), 3), "p95_ms": round(float(np.percentile(values, 95)), 3),
            "n": len(values)}


def machine_description() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import tensorflow as tf

    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "tensorflow": tf.__version__,
            "platform": platform.platform()}


def render_pendigits(path: Path, seed: int = 0, limit: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """All pen digits drawn as canvas images (seeded), with their labels."""
    digits = read_pendigits(path)
    if limit is not None:
        digits = digits[:limit]
    rng = np.random.default_rng(seed)
    return [render_on_canvas(digit, rng) for digit in digits], np.array([d.label for d in digits])


def naive_resize(canvas: np.ndarray) -> np.ndarray:
    """What most digit apps do: the whole canvas squashed to 28x28."""
    from PIL import Image

    return np.asarray(Image.fromarray(canvas[:, :, 3]).resize((28, 28), Image.Resampling.BILINEAR))


def drawing_accuracy(predictor: Predictor, canvases: list[np.ndarray], labels: np.ndarray) -> dict:
    """Accuracy on canvas drawings: DigitLab's preprocessing vs resizing the whole canvas."""
    prepared = [preprocess(canvas) for canvas in canvases]
    readable = np.array([p.has_digit for p in prepared])
    batch = np.stack([p.mnist if p.has_digit else np.zeros((28, 28), np.uint8) for p in prepared])
    predicted = predictor.predict_mnist(batch).argmax(axis=1)
    correct = (predicted == labels) & readable
    naive = predictor.predict_mnist(np.stack([naive_resize(c) for c in canvases])).argmax(axis=1)
    # The same drawings without stroke-width normalisation, to show what that step is worth.
    unnormalized = [preprocess(canvas, normalize_stroke=False) for canvas in canvases]
    plain = predictor.predict_mnist(np.stack([p.mnist if p.has_digit else np.zeros((28, 28), np.uint8)
                                              for p in unnormalized])).argmax(axis=1)
    per_digit = {int(d): round(float(correct[labels == d].mean()), 4) for d in range(10)}
    return {"accuracy": round(float(correct.mean()), 4), "n": len(labels), "no_digit": int((~readable).sum()),
            "per_digit": per_digit, "naive_resize_accuracy": round(float((naive == labels).mean()), 4),
            "without_stroke_normalization_accuracy": round(float((plain == labels).mean()), 4)}


def held_out_writers_accuracy(predictor: Predictor, path: Path, seed: int = 0, limit: int | None = None) -> dict:
    """The headline real-drawing figure: digits by writers never trained on nor used to choose a model.

    A refused digit counts as wrong. Also per-digit accuracy and the most common confusions.
    """
    from digitlab.datasets.pendigits import split_by_writer

    _, held_out = split_by_writer(read_pendigits(path))
    held_out = held_out[:limit] if limit is not None else held_out
    rng = np.random.default_rng(seed)
    labels = np.array([digit.label for digit in held_out])
    predictions = [predictor.predict_image(render_on_canvas(digit, rng)) for digit in held_out]
    read = np.array([-1 if p.digit is None else p.digit for p in predictions])
    correct = read == labels
    confusions: dict[tuple[int, int], int] = {}
    for truth, answer in zip(labels[~correct], read[~correct]):
        confusions[(int(truth), int(answer))] = confusions.get((int(truth), int(answer)), 0) + 1
    common = sorted(confusions.items(), key=lambda item: -item[1])[:8]
    return {"accuracy": round(float(correct.mean()), 4), "n": len(labels),
            "writers": sorted({digit.writer for digit in held_out}),
            "refused": int(sum(p.refused for p in predictions)),
            "per_digit": {int(d): round(float(correct[labels == d].mean()), 4) for d in range(10) if (labels == d).any()},
            "confusions": [{"digit": truth, "read_as": "not a digit" if answer == -1 else answer, "count": count}
                           for (truth, answer), count in common]}


def refusal_rates(predictor: Predictor, mnist_images: np.ndarray, n_non_digits: int = 1600, seed: int = 0) -> dict:
    """How often "not a digit" is answered: for held-out non-digit drawings (should be high) and for MNIST
    test digits (should be near zero; held_out_writers_accuracy counts refused pen digits)."""
    from digitlab.serving.predictor import NOT_A_DIGIT_THRESHOLD
    from digitlab.datasets.nondigits import non_digit_canvases

    canvases, families = non_digit_canvases(n_non_digits, seed=seed, held_out=True)
    refused = np.array([predictor.predict_image(canvas).refused for canvas in canvases])
    per_family = {family: round(float(refused[np.array(families) == family].mean()), 4)
                  for family in sorted(set(families))}
    _, mnist_not_a_digit = predictor.predict_with_refusal(mnist_images)
    return {"non_digits_refused": round(float(refused.mean()), 4), "non_digits": len(canvases),
            "non_digits_refused_per_family": per_family,
            "mnist_test_refused": round(float((mnist_not_a_digit >= NOT_A_DIGIT_THRESHOLD).mean()), 4),
            "mnist_test_images": len(mnist_images)}


def time_calls(function, inputs: list, warmup: int = 3) -> list[float]:
    for item in inputs[:warmup]:
        function(item)
    seconds = []
    for item in inputs:
        start = time.perf_counter()
        function(item)
        seconds.append(time.perf_counter() - start)
    return seconds


def latency(predictor: Predictor, canvases: list[np.ndarray], n_fast: int = 300, n_predict: int = 60) -> dict:
    """Single-drawing latency: preprocessing plus the fast path, and plus model.predict."""
    fast = time_calls(predictor.predict_image, canvases[:n_fast])

    def with_model_predict(canvas):
        prepared = preprocess(canvas)
        return predictor.model.predict(prepared.mnist[None, :, :, None].astype(np.float32), verbose=0)

    slow = time_calls(with_model_predict, canvases[:n_predict])
    preprocess_only = time_calls(preprocess, canvases[:n_fast])
    return {"fast_path": percentiles_ms(fast), "model_predict": percentiles_ms(slow),
            "preprocess_only": percentiles_ms(preprocess_only)}


def draw_page_latency(predictor: Predictor, canvases: list[np.ndarray], n: int = 200) -> dict:
    """The Draw page's server work after a stroke, past the canvas component: decode its PNG, predict, and
    build and serialise the page's answer with the page's own code (show_on_page)."""
    from digitlab.bench.load import serve_stroke

    pngs = [canvas_png(canvas) for canvas in canvases[:n]]
    return percentiles_ms(time_calls(lambda png: serve_stroke(predictor, png, show_on_page), pngs))


def canvas_png(canvas: np.ndarray) -> bytes:
    """A drawing as the canvas component sends it to the server."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, format="PNG")
    return buffer.getvalue()


def show_on_page(prediction) -> None:
    """The Draw page's own code for showing a prediction (model view, metric, chart), run in bare Streamlit.

    Outside `streamlit run`, Streamlit builds and serialises each element exactly as for a browser and
    then drops it, so this times the page's real server work after the prediction, not a stand-in.
    """
    import logging

    from digitlab.ui.digit_reading import reading_panels, show_reading

    logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").setLevel(logging.ERROR)
    _, model_view_column, result_column = reading_panels()
    show_reading(prediction, model_view_column, result_column)


def number_reading(predictor: Predictor, pen_path: Path, count: int = 500, timed: int = 100) -> dict:
    """Whole numbers by the held-out writers (digitlab/datasets/pen_numbers.py), read from pixels as
    `predict --number` reads a file and from strokes as the Draw page does; server ms per 4-digit number
    on the Draw page (with its boxes picture and bars) and for `predict --number` on a file."""
    from digitlab.serving.images import decode_image
    from digitlab.serving.number_segmentation import read_number
    from digitlab.datasets.pen_numbers import LENGTHS, OVERLAPPING_GAP_RANGE, build_numbers
    from digitlab.datasets.pendigits import split_by_writer
    from digitlab.ui.figures.numbers import digit_probability_charts, reading_overlay

    _, held_out = split_by_writer(read_pendigits(pen_path))

    def score(numbers, with_strokes: bool) -> dict:
        exact = found = total = 0
        for number in numbers:
            reading = read_number(predictor, number.canvas, number.strokes if with_strokes else None)
            exact += reading.number == number.text
            total += len(number.text)
            for label, (x0, y0, x1, y1) in zip(number.text, number.boxes):  # a digit is found when a box
                x, y = (x0 + x1) / 2, (y0 + y1) / 2  # over its centre reads it
                found += any(d.box[0] <= x < d.box[2] and d.box[1] <= y < d.box[3] and str(d.digit) == label
                             for d in reading.digits)
        return {"exact": round(exact / len(numbers), 4), "digit_accuracy": round(found / total, 4)}

    four = build_numbers(held_out, count, lengths=(4,), seed=1)
    mixed = build_numbers(held_out, count, lengths=LENGTHS, seed=2)
    # Beyond the targets: neighbours written into each other, boxes overlapping by up to 12% of the height.
    overlapping = build_numbers(held_out, count, lengths=(4,), seed=3, gap_range=OVERLAPPING_GAP_RANGE)

    def serve_number(sent) -> None:  # the Draw page's work for a stroke in Number mode, from the PNG it is sent
        png, strokes = sent
        image = decode_image(png)
        reading = read_number(predictor, image, strokes)
        reading_overlay(image, reading)
        digit_probability_charts(reading).to_plotly_json()

    def read_file(png) -> None:  # predict --number's work for one file: decode it and read it from pixels
        read_number(predictor, decode_image(png))

    # Encoded before timing: the browser makes the PNG, the server only decodes it.
    sent = [(canvas_png(number.canvas), number.strokes) for number in four[:timed]]

    return {"writers": sorted(int(w) for w in {d.writer for d in held_out}), "numbers": count,
            "four_digits_from_pixels": score(four, False), "four_digits_from_strokes": score(four, True),
            "two_to_six_digits_from_strokes": score(mixed, True),
            "overlapping_four_digits_from_pixels": score(overlapping, False),
            "overlapping_four_digits_from_strokes": score(overlapping, True),
            "server_ms_per_four_digit_number": percentiles_ms(time_calls(serve_number, sent)),
            "predict_number_ms_per_four_digit_file": percentiles_ms(time_calls(read_file, [png for png, _ in sent]))}


def batch_throughput(predictor: Predictor, images: np.ndarray, batch_size: int = 1000) -> dict:
    predictor.predict_mnist(images[:batch_size])
    start = time.perf_counter()
    for first in range(0, len(images), batch_size):
        predictor.predict_mnist(images[first : first + batch_size])
    seconds = time.perf_counter() - start
    return {"images_per_s": round(len(images) / seconds), "batch_size": batch_size}


def training_throughput(mnist, arch: str, n_images: int = 4096) -> dict:
    """Images per second of one augmented training epoch of arch (after a warm-up epoch)."""
    import keras

    from digitlab.training.architectures import build_model
    from digitlab.store.run_folder import TrainConfig
    from digitlab.training.trainer import make_dataset

    config = TrainConfig(arch=arch, augment=True)
    data = make_dataset(mnist.x_train[:n_images], mnist.y_train[:n_images], config, training=True)
    model = build_model(arch)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(data.take(4), epochs=1, verbose=0)
    start = time.perf_counter()
    model.fit(data, epochs=1, verbose=0)
    return {"arch": arch, "images_per_s": round(n_images / (time.perf_counter() - start)), "augment": True}


def cold_start(model_path: Path) -> dict:
    """Seconds (and peak memory) for a fresh interpreter to import DigitLab, load the model and predict once.

    The model is loaded as the app and `predict` load it: from its LiteRT flatbuffer where it has one.
    """
    code = (
        "import time; t=time.perf_counter(); import numpy as np; from digitlab.serving.predictor import load_serving_predictor; "
        "from digitlab.store.registry import entry_for_path; "
        f"p=load_serving_predictor(entry_for_path({str(model_path)!r})); p.predict_mnist(np.zeros((1,28,28),np.uint8)); "
        "print(time.perf_counter()-t); "
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec, so a child would report the parent's peak.
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')) / 1024)"
    )
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True)
    total = time.perf_counter() - start
    seconds, memory_mb = (float(line) for line in result.stdout.strip().splitlines()[-2:])
    return {"process_s": round(total, 2), "import_and_load_s": round(seconds, 2), "peak_memory_mb": round(memory_mb)}


def first_evaluation(predictor: Predictor, mnist, sha256: str) -> dict:
    """Seconds for the Evaluate page's first evaluation of a model (empty cache)."""
    from digitlab.evaluation.metrics import evaluate_model

    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        evaluation = evaluate_model(predictor, mnist, cache_dir=cache_dir, model_sha256=sha256)
        first = time.perf_counter() - start
        start = time.perf_counter()
        evaluate_model(predictor, mnist, cache_dir=cache_dir, model_sha256=sha256)
        cached = time.perf_counter() - start
    return {"first_s": round(first, 3), "cached_s": round(cached, 3), "accuracy": round(evaluation.accuracy, 4)}


def peak_memory_mb() -> dict:
    """The bench process's own peak; it holds every rendered drawing at once, which no page does."""
    return {"bench_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def load_figures(predictor: Predictor, canvases: list[np.ndarray], clients_list: list[int], requests: int) -> dict:
    from digitlab.bench.load import run_load

    payloads = [canvas_png(canvas) for canvas in canvases[:200]]
    return {str(clients): run_load(predictor, clients, requests, payloads, after_prediction=show_on_page)
            for clients in clients_list}


class BackgroundTraining:
    """A real training run in its own process (as the Train page starts one), for latency under load."""

    def __init__(self, threads: int = 1):
        from digitlab.store import run_folder as runs

        self.dir = Path(tempfile.mkdtemp(prefix="digitlab-bench-run-"))
        runs.create_run(runs.TrainConfig(arch="cnn-deep", epochs=50, threads=threads, augment=True), run_dir=self.dir)
        self.process = subprocess.Popen(runs.trainer_command(self.dir), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})

    def wait_until_training(self, timeout: float = 120.0) -> None:
        from digitlab.store import run_folder as runs

        deadline = time.time() + timeout
        while time.time() < deadline:
            if runs.read_status(self.dir).batch > 0:
                return
            if self.process.poll() is not None:
                raise RuntimeError("the background training run exited early")
            time.sleep(0.5)
        raise TimeoutError("the background training run did not start in time")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


def run_bench(model_path: str | Path | None, quick: bool = False, load_clients: list[int] | None = None,
              while_training: bool = False) -> dict:
    """Measure everything for one model; quick=True uses small samples (for tests, not for records)."""
    from digitlab.datasets.mnist import load_mnist
    from digitlab.training.architectures import DEFAULT_ARCHITECTURE
    from digitlab.store.registry import load_entry, resolve_model

    entry = resolve_model(model_path)
    predictor = Predictor(load_entry(entry))
    mnist = load_mnist()
    n_test = 1000 if quick else len(mnist.x_test)
    probabilities = predictor.predict_mnist(mnist.x_test[:n_test])
    report: dict = {
        "model": {"name": entry.name, "path": str(entry.path), "sha256": entry.sha256,
                  "architecture": entry.card.get("architecture"), "runtime": predictor.runtime},
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
    if "held_out_writers" in report:
        held_out = report["held_out_writers"]
        report["refusal"]["held_out_pen_digits_refused"] = round(held_out["refused"] / held_out["n"], 4)
    if not canvases:
        from digitlab.bench.load import canvas_from_digit

        canvases = [canvas_from_digit(digit) for digit in mnist.x_test[:300]]
    report["latency"] = latency(predictor, canvases, n_fast=50 if quick else 300, n_predict=10 if quick else 60)
    report["draw_page_after_stroke"] = draw_page_latency(predictor, canvases, n=30 if quick else 200)
    if pen_path is not None:
        report["numbers"] = number_reading(predictor, pen_path, count=40 if quick else 500, timed=10 if quick else 100)
    report["batch_throughput"] = batch_throughput(predictor, mnist.x_test[:n_test])
    report["training_throughput"] = training_throughput(mnist, DEFAULT_ARCHITECTURE, n_images=512 if quick else 4096)
    report["cold_start"] = cold_start(entry.path)
    report["evaluate_first_visit"] = first_evaluation(predictor, mnist, entry.sha256)
    if load_clients:
        requests = 5 if quick else 40
        report["load"] = load_figures(predictor, canvases, load_clients, requests)
    if while_training:
        training = BackgroundTraining(threads=1)
        try:
            training.wait_until_training()
            report["while_training"] = {
                "draw_page_after_stroke": draw_page_latency(predictor, canvases, n=30 if quick else 200),
                "load": load_figures(predictor, canvases, load_clients or [1], 5 if quick else 40),
                "training": "cnn-deep, full MNIST, augmented, --threads 1",
            }
        finally:
            training.stop()
    report["peak_memory"] = peak_memory_mb()
    return report
