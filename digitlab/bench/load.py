"""Many visitors drawing at once: the draw page's server-side work per stroke, timed under load.

Every stroke on the canvas reruns the draw page, which decodes the 280x280 PNG drawing, preprocesses it,
asks the shared Predictor for probabilities and builds the chart. Streamlit runs each visitor's script in its own thread, so
this simulates visitors with threads calling one Predictor: no browser, no network, no Streamlit.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Sequence

import numpy as np

from digitlab.serving.images import decode_image

MAX_CLIENTS = 256  # a bound on threads started, whatever a caller asks for
MAX_REQUESTS = 100_000  # a bound on the total work, whatever a caller asks for
START_TIMEOUT_S = 60.0  # visitors wait this long for each other to start, then go anyway


def serve_stroke(predictor, canvas: np.ndarray | bytes, after_prediction: Callable | None = None):
    """The draw page's work for one stroke: decode, predict, then after_prediction(prediction) if given.

    A PNG is decoded as the draw page decodes what the canvas sends (with the upload checks); an
    array goes straight in.
    """
    image = decode_image(canvas) if isinstance(canvas, bytes) else canvas
    prediction = predictor.predict_image(image)
    if after_prediction is not None:
        after_prediction(prediction)
    return prediction


def run_load(predictor, clients: int, requests_per_client: int, canvases: Sequence[np.ndarray | bytes],
             after_prediction: Callable | None = None) -> dict:
    """Run `clients` threads that each predict `requests_per_client` canvases (arrays or PNG bytes); return figures.

    after_prediction(prediction), when given, is timed as part of each request: pass the page's chart
    builder to include it. Latencies are per request, from start of preprocessing to the end of that
    work; throughput is completed requests per second of wall time. Failed requests are counted, and
    the first error is reported, rather than stopping the run.
    """
    if not 1 <= clients <= MAX_CLIENTS:
        raise ValueError(f"clients must be between 1 and {MAX_CLIENTS}, got {clients}")
    if requests_per_client < 1 or clients * requests_per_client > MAX_REQUESTS:
        raise ValueError(f"requests must be at least 1 per client and at most {MAX_REQUESTS} in all")
    if len(canvases) == 0:
        raise ValueError("give at least one canvas to draw")

    latencies = np.full((clients, requests_per_client), np.nan)
    errors: list[str] = []
    errors_lock = threading.Lock()
    start_together = threading.Barrier(clients)

    def visitor(index: int) -> None:
        try:
            start_together.wait(timeout=START_TIMEOUT_S)  # all visitors arrive at once, as in a rush
        except threading.BrokenBarrierError:
            pass  # some visitor never started; the others still run, so the run ends
        for request in range(requests_per_client):
            canvas = canvases[(index * requests_per_client + request) % len(canvases)]
            started = time.perf_counter()
            try:
                serve_stroke(predictor, canvas, after_prediction)
            except Exception as error:  # a load test reports failures; it does not stop at the first
                with errors_lock:
                    errors.append(f"{type(error).__name__}: {error}")
                continue
            latencies[index, request] = time.perf_counter() - started

    threads = [threading.Thread(target=visitor, args=(index,), name=f"visitor-{index}", daemon=True)
               for index in range(clients)]
    wall_started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - wall_started

    completed = latencies[~np.isnan(latencies)] * 1000.0
    figures = {"clients": clients, "requests": clients * requests_per_client, "completed": int(completed.size),
               "errors": len(errors), "first_error": errors[0] if errors else None, "wall_s": round(wall, 3),
               "throughput_per_s": round(completed.size / wall, 2) if wall > 0 else 0.0}
    if completed.size:
        figures.update(p50_ms=round(float(np.percentile(completed, 50)), 2),
                       p95_ms=round(float(np.percentile(completed, 95)), 2),
                       max_ms=round(float(completed.max()), 2))
    else:
        figures.update(p50_ms=None, p95_ms=None, max_ms=None)
    return figures
