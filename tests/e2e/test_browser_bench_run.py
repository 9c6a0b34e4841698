"""`python -m digitlab bench --browser` end to end: both apps answer every stroke, enough strokes for a p95 are drawn
when asked, and one more stroke per app is traced with Chromium (`--strokes N --trace DIR`).

One bench run checks all of it: each run starts two servers and a browser."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import SHARED_PENDIGITS
from tests.e2e.conftest import REPO_ROOT, chromium_path


def test_browser_bench_times_every_stroke_on_both_apps_and_traces_one(tmp_path):
    """Test that the browser bench draws pen digits on the app and the floor, more until each app got the strokes
    asked for, reports each stroke answered, and writes a performance trace of one more stroke on each app with its
    largest main-thread costs."""
    if chromium_path() is None:
        pytest.skip("no Chromium browser on this machine (install Debian's 'chromium' package)")
    if not SHARED_PENDIGITS.is_file():
        pytest.skip(f"pen digits not found at {SHARED_PENDIGITS}")
    # Its own process: Playwright's sync API cannot start inside the browser fixtures' running event loop.
    traces = tmp_path / "traces"
    result = subprocess.run([sys.executable, "-m", "digitlab", "bench", "--browser", "--digits", "1", "--strokes", "4",
                             "--trace", str(traces), "--json"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    app, floor = report["apps"]["app"], report["apps"]["floor"]
    assert report["digits"] >= 2  # one pen digit has at most three strokes
    for figures in (app, floor):
        assert figures["strokes"] >= 4 and figures["unanswered"] == 0, figures
        assert 0 < figures["p50_ms"] <= figures["max_ms"] and 0 < figures["first_ms"] <= figures["max_ms"]
        assert figures["rss_after_first_prediction_mb"] > 50
    read, drawn = map(int, app["pen_digits_read_correctly"].split("/"))
    assert drawn == report["digits"] and 0 <= read <= drawn
    assert report["ratios"]["stroke_p50"] > 0 and report["predict_one_file_s"] > 0
    for name in ("app", "floor"):
        traced = report["traces"][name]
        assert "error" not in traced, traced
        assert json.loads((traces / f"{name}-stroke-trace.json").read_text())["traceEvents"]
        assert 0 < traced["main_thread_busy_ms"] <= traced["settled_ms"] * 1.5, traced
        assert traced["largest_costs_ms"] and traced["script_ms_by_source"], traced


def test_memory_bench_reports_the_server_after_each_part_a_visitor_uses():
    """Test that `bench --memory` reads the server's memory after each part, and that reading a digit,
    opening Why? and Evaluate each show up in it."""
    if chromium_path() is None:
        pytest.skip("no Chromium browser on this machine (install Debian's 'chromium' package)")
    if not SHARED_PENDIGITS.is_file():
        pytest.skip(f"pen digits not found at {SHARED_PENDIGITS}")
    if not os.environ.get("DIGITLAB_MNIST") or not os.path.isfile(os.environ["DIGITLAB_MNIST"]):
        pytest.skip("needs MNIST (DIGITLAB_MNIST) for the Why? panel and the Evaluate page")
    result = subprocess.run([sys.executable, "-m", "digitlab", "bench", "--memory", "--json"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    steps = json.loads(result.stdout.strip().splitlines()[-1])["steps"]
    assert [step["step"].split(" ")[0] for step in steps] == ["server", "Draw", "a", "Why", "Evaluate", "Train",
                                                              "Drawings"]
    assert all(step["rss_mb"] > 50 for step in steps)
    by_name = {step["step"].split(" ")[0]: step for step in steps}
    assert by_name["Why"]["added_mb"] > 0 and by_name["Evaluate"]["added_mb"] > 0, steps
