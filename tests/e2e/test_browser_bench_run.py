"""`python -m digitlab bench --browser` end to end, on one pen digit: both apps answer every stroke."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_PENDIGITS
from tests.e2e.conftest import chromium_path


def test_browser_bench_times_every_stroke_on_both_apps():
    """Test that the browser bench draws a pen digit on the app and the floor and reports each stroke answered."""
    if chromium_path() is None:
        pytest.skip("no Chromium browser on this machine (install Debian's 'chromium' package)")
    if not SHARED_PENDIGITS.is_file():
        pytest.skip(f"pen digits not found at {SHARED_PENDIGITS}")
    from digitlab.browser_bench import run_browser_bench

    report = run_browser_bench(n_digits=1)

    app, floor = report["apps"]["app"], report["apps"]["floor"]
    for figures in (app, floor):
        assert figures["strokes"] >= 1 and figures["unanswered"] == 0, figures
        assert 0 < figures["p50_ms"] <= figures["max_ms"]
        assert figures["rss_after_first_prediction_mb"] > 50
    assert app["pen_digits_read_correctly"] in ("0/1", "1/1")
    assert report["ratios"]["stroke_p50"] > 0 and report["predict_one_file_s"] > 0
