"""`bench --browser --strokes N --trace DIR`: enough strokes for a p95, and a Chromium trace of one stroke per app."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import SHARED_PENDIGITS
from tests.e2e.conftest import REPO_ROOT, chromium_path


def test_browser_bench_draws_until_it_has_the_strokes_asked_and_summarises_a_traced_stroke(tmp_path):
    """Test that the browser bench draws more digits until each app got the strokes asked for, and writes a
    performance trace of one more stroke on each app with its largest main-thread costs."""
    if chromium_path() is None:
        pytest.skip("no Chromium browser on this machine (install Debian's 'chromium' package)")
    if not SHARED_PENDIGITS.is_file():
        pytest.skip(f"pen digits not found at {SHARED_PENDIGITS}")
    traces = tmp_path / "traces"
    # Its own process: Playwright's sync API cannot start inside the browser fixtures' running event loop.
    result = subprocess.run([sys.executable, "-m", "digitlab", "bench", "--browser", "--digits", "1", "--strokes", "4",
                             "--trace", str(traces), "--json"],
                            cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])

    assert report["digits"] >= 2  # one pen digit has at most three strokes
    for name in ("app", "floor"):
        figures, traced = report["apps"][name], report["traces"][name]
        assert figures["strokes"] >= 4 and figures["unanswered"] == 0, figures
        assert "error" not in traced, traced
        assert json.loads((traces / f"{name}-stroke-trace.json").read_text())["traceEvents"]
        assert 0 < traced["main_thread_busy_ms"] <= traced["settled_ms"] * 1.5, traced
        assert traced["largest_costs_ms"] and traced["script_ms_by_source"], traced
