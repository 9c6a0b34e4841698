"""Speed benchmarks: one drawing, the Draw page after a stroke, batches, training, a cold start, many visitors.

The Draw page's own work after a prediction comes in as show_digit(prediction): the CLI hands in the
page's code from digitlab/ui/, so the figures time what users meet while bench never imports ui/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digitlab.bench.canvases import canvas_png
from digitlab.bench.machine import percentiles_ms, time_calls
from digitlab.config.paths import REPO_ROOT
from digitlab.serving.predictor import Prediction, Predictor
from digitlab.serving.preprocess import preprocess
from digitlab.store.run_config import TrainConfig
from digitlab.training.jobs import trainer_command


def latency(predictor: Predictor, keras_model, canvases: list[np.ndarray], n_fast: int = 300,
            n_predict: int = 60) -> dict:
    """Single-drawing latency: preprocessing plus the served predictor, and plus Keras's model.predict.

    keras_model is the same model loaded by Keras, for the comparison with what most digit apps do.
    """
    fast = time_calls(predictor.predict_image, canvases[:n_fast])

    def with_model_predict(canvas):
        prepared = preprocess(canvas)
        return keras_model.predict(prepared.mnist[None, :, :, None].astype(np.float32), verbose=0)

    slow = time_calls(with_model_predict, canvases[:n_predict])
    preprocess_only = time_calls(preprocess, canvases[:n_fast])
    return {"fast_path": percentiles_ms(fast), "model_predict": percentiles_ms(slow),
            "preprocess_only": percentiles_ms(preprocess_only)}


def draw_page_latency(predictor: Predictor, canvases: list[np.ndarray], show_digit: Callable[[Prediction], None],
                      n: int = 200) -> dict:
    """The Draw page's server work after a stroke, past the canvas component: decode its PNG, predict, and
    build and serialise the page's answer with the page's own code (show_digit)."""
    from digitlab.bench.load import serve_stroke

    pngs = [canvas_png(canvas) for canvas in canvases[:n]]
    return percentiles_ms(time_calls(lambda png: serve_stroke(predictor, png, show_digit), pngs))


def load_figures(predictor: Predictor, canvases: list[np.ndarray], clients_list: list[int], requests: int,
                 show_digit: Callable[[Prediction], None]) -> dict:
    """Many visitors drawing at once (digitlab/bench/load.py), each stroke ending in the page's own work."""
    from digitlab.bench.load import run_load

    payloads = [canvas_png(canvas) for canvas in canvases[:200]]
    return {str(clients): run_load(predictor, clients, requests, payloads, after_prediction=show_digit)
            for clients in clients_list}


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
    from digitlab.training.input_pipeline import TrainingImages, make_dataset

    config = TrainConfig(arch=arch, augment=True)
    data = make_dataset(TrainingImages.of(mnist.x_train[:n_images], mnist.y_train[:n_images]), config.batch_size,
                        config.seed, training=True, augment=True)
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


class BackgroundTraining:
    """A real training run in its own process (as the Train page starts one), for latency under load."""

    def __init__(self, threads: int = 1):
        from digitlab.store import run_folder as runs

        self.dir = Path(tempfile.mkdtemp(prefix="digitlab-bench-run-"))
        runs.create_run(TrainConfig(arch="cnn-deep", epochs=50, threads=threads, augment=True), run_dir=self.dir)
        self.process = subprocess.Popen(trainer_command(self.dir), cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
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
