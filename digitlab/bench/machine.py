"""The machine a benchmark ran on, and the timing helpers every benchmark shares: calls timed, percentiles, peak memory."""

from __future__ import annotations

import os
import platform
import resource
import time
from pathlib import Path

import numpy as np


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


def time_calls(function, inputs: list, warmup: int = 3) -> list[float]:
    """Seconds each function(item) took, after calling it on the first `warmup` items untimed."""
    for item in inputs[:warmup]:
        function(item)
    seconds = []
    for item in inputs:
        start = time.perf_counter()
        function(item)
        seconds.append(time.perf_counter() - start)
    return seconds


def percentiles_ms(seconds: list[float]) -> dict:
    values = np.asarray(seconds) * 1000.0
    return {"median_ms": round(float(np.median(values)), 3), "p95_ms": round(float(np.percentile(values, 95)), 3),
            "n": len(values)}


def peak_memory_mb() -> dict:
    """The bench process's own peak; it holds every rendered drawing at once, which no page does."""
    return {"bench_process_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}
