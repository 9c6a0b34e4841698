"""The browser benchmark's parts that need no browser: pen strokes on the canvas, and a server's memory."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from digitlab.bench.browser import DIGIT_SIZE, canvas_strokes, stroke_figures
from digitlab.bench.servers import process_tree_rss_mb
from digitlab.datasets.pendigits import PenDigit


def test_pen_strokes_are_centred_on_the_canvas_at_the_digit_size():
    """Test that a pen digit's strokes keep their order and shape, centred, the longer side DIGIT_SIZE of the canvas."""
    digit = PenDigit(7, 1, [np.array([[0, 0], [100, 0]], np.float32), np.array([[100, 0], [40, 200]], np.float32)])
    strokes = canvas_strokes(digit, size=280)
    assert len(strokes) == 2 and strokes[0][1] == strokes[1][0]
    points = np.array([point for stroke in strokes for point in stroke])
    height = points[:, 1].max() - points[:, 1].min()
    assert abs(height - DIGIT_SIZE * 280) < 1e-6
    assert abs((points[:, 0].max() + points[:, 0].min()) / 2 - 140) < 1e-6
    assert abs((points[:, 1].max() + points[:, 1].min()) / 2 - 140) < 1e-6


def test_server_memory_counts_its_children():
    """Test that a process's resident memory includes a child's: a child holding 200 MB counts."""
    code = ("import subprocess, sys, time; child = subprocess.Popen([sys.executable, '-c', "
            "'b = bytearray(200 * 1024 * 1024); print(1, flush=True); import time; time.sleep(60)'], "
            "stdout=sys.stdout); print(child.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(parent.stdout.readline())
        parent.stdout.readline()  # the child has filled its 200 MB
        assert process_tree_rss_mb(parent.pid) > process_tree_rss_mb(child_pid) >= 200
    finally:
        os.kill(child_pid, 9)
        parent.kill()
        parent.wait()


def test_stroke_figures_count_unanswered_strokes_apart():
    """Test that strokes never answered are counted, not averaged in as zero."""
    figures = stroke_figures([100.0, 200.0, None, 300.0])
    assert figures["strokes"] == 4 and figures["unanswered"] == 1
    assert figures["p50_ms"] == 200.0 and figures["max_ms"] == 300.0
    assert figures["first_ms"] == 100.0 and stroke_figures([None, 200.0])["first_ms"] is None


def test_memory_bench_says_whether_the_default_models_index_and_evaluation_were_cached(tmp_path):
    """Test that the memory report's cache line follows the files a warm cache holds, not the folder alone."""
    from digitlab.bench.server_memory import cached_for_default_model
    from digitlab.evaluation.metrics import cache_path
    from digitlab.explain.neighbours import embeddings_cache_path
    from digitlab.store.registry import default_entry

    sha256 = default_entry().sha256
    assert cached_for_default_model(tmp_path) == {"nearest_digit_index": False, "mnist_test_evaluation": False}
    cache_path("another-model", tmp_path).write_bytes(b"")
    cache_path(sha256, tmp_path).write_bytes(b"")
    assert cached_for_default_model(tmp_path) == {"nearest_digit_index": False, "mnist_test_evaluation": True}
    embeddings_cache_path(sha256, "train", tmp_path).write_bytes(b"")
    assert cached_for_default_model(tmp_path)["nearest_digit_index"]
