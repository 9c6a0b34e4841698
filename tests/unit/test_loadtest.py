"""Many visitors at once: one shared Predictor gives every thread the answer it would get alone."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from digitlab.bench.load import run_load
from tests.helpers.canvases import canvas_from_digit

THREADS = 16
PER_THREAD = 12


@pytest.fixture(scope="module")
def canvases(mnist) -> list[np.ndarray]:
    return [canvas_from_digit(image) for image in mnist.x_test[: THREADS * PER_THREAD]]


def test_sixteen_threads_get_the_single_threaded_answers(predictor, canvases, mnist):
    """Test that 16 visitors predicting at once through one Predictor each get exactly the answer a lone visitor gets."""
    baseline = [predictor.predict_image(canvas) for canvas in canvases]
    assert np.mean([p.digit == label for p, label in zip(baseline, mnist.y_test)]) >= 0.9  # a real model, real digits

    results: dict[int, object] = {}
    failures: list[BaseException] = []
    start_together = threading.Barrier(THREADS)

    def visitor(thread_index: int) -> None:
        try:
            start_together.wait(timeout=60)
            # Each visitor walks the digits from a different place, so different digits overlap in time.
            for step in range(PER_THREAD):
                index = (thread_index * PER_THREAD + step * 7) % len(canvases)
                prediction = predictor.predict_image(canvases[index])
                results[(thread_index, step)] = (index, prediction)
        except BaseException as error:  # surfaced below; an exception in a thread is otherwise lost
            failures.append(error)

    threads = [threading.Thread(target=visitor, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert len(results) == THREADS * PER_THREAD
    for index, prediction in results.values():
        assert prediction.digit == baseline[index].digit
        assert np.allclose(prediction.probabilities, baseline[index].probabilities, atol=1e-5)
        assert np.array_equal(prediction.mnist, baseline[index].mnist)


def test_run_load_reports_latency_and_throughput(predictor, canvases):
    """Test that a load run of 4 visitors x 5 strokes completes every request and reports ordered latency figures."""
    seen = []
    figures = run_load(predictor, clients=4, requests_per_client=5, canvases=canvases[:8], after_prediction=seen.append)
    assert figures["requests"] == figures["completed"] == 20 and figures["errors"] == 0
    assert figures["p50_ms"] > 0, "each stroke's latency was measured"
    assert figures["throughput_per_s"] > 0 and figures["wall_s"] > 0
    assert len(seen) == 20 and all(prediction.digit is not None for prediction in seen)


def test_run_load_decodes_png_payloads_like_the_canvas_sends(predictor, canvases):
    """Test that strokes sent as PNG bytes get the answers their arrays get; a broken PNG is counted as an error."""
    from digitlab.bench.canvases import canvas_png

    seen = []
    figures = run_load(predictor, clients=2, requests_per_client=3, after_prediction=seen.append,
                       canvases=[canvas_png(canvas) for canvas in canvases[:6]])
    assert figures["completed"] == 6 and figures["errors"] == 0
    assert sorted(p.digit for p in seen) == sorted(predictor.predict_image(c).digit for c in canvases[:6])

    broken = run_load(predictor, clients=1, requests_per_client=1, canvases=[b"\x89PNG\r\n\x1a\n broken"])
    assert broken["errors"] == 1 and broken["first_error"].startswith("ImageRejectedError")


def test_run_load_counts_failures_instead_of_stopping(predictor, canvases):
    """Test that a request that fails is counted with its error while the other visitors carry on."""
    forged = np.zeros((280, 280, 7), np.uint8)
    figures = run_load(predictor, clients=2, requests_per_client=4, canvases=[canvases[0], forged])
    assert figures["completed"] == 4 and figures["errors"] == 4
    assert figures["first_error"].startswith("ValueError")


@pytest.mark.parametrize("clients, requests, canvas_list, words", [
    (0, 1, [np.zeros((280, 280, 4), np.uint8)], "clients"),
    (10_000, 1, [np.zeros((280, 280, 4), np.uint8)], "clients"),
    (4, 100_000, [np.zeros((280, 280, 4), np.uint8)], "requests"),
    (1, 1, [], "canvas"),
])
def test_run_load_refuses_unbounded_or_empty_runs(clients, requests, canvas_list, words):
    """Test that run_load refuses zero or runaway numbers of visitors or requests, and an empty canvas list."""
    with pytest.raises(ValueError, match=words):
        run_load(object(), clients, requests, canvas_list)


def test_canvas_from_digit_looks_like_the_drawing_canvas(mnist, predictor):
    """Test that the load test's canvases are 280x280 RGBA white ink on a transparent layer that reads as the digit."""
    canvas = canvas_from_digit(mnist.x_test[0])
    assert canvas.shape == (280, 280, 4) and canvas.dtype == np.uint8
    assert (canvas[:, :, :3] == 255).all() and canvas[0, 0, 3] == 0 and canvas[:, :, 3].max() > 200
    assert predictor.predict_image(canvas).digit == mnist.y_test[0]
