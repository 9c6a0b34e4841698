"""A Chromium performance trace of one stroke, summarised into where the page's main thread spent its time.

`bench --browser --trace DIR` records one stroke on the app and one on the floor with Chromium's own
tracing (the events DevTools' Performance panel shows) and writes each trace to DIR, to open in DevTools
or https://ui.perfetto.dev. The summary adds up the self time of each kind of event on the page's main
thread from pen-up until the page settled: scripting, style, layout, paint and garbage collection, by
the names Chromium gives them, so the largest costs of a stroke can be read off and compared. Chromium's
sampling profiler then says whose script that was: JavaScript time by the file it came from (Streamlit's
own bundle, plotly.min.js, the canvas component).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "blink.user_timing", "v8.execute",
                    "toplevel", "v8", "disabled-by-default-v8.cpu_profiler"]
PEN_UP_MARK = "digitlab-pen-up"  # performance.mark the page sets at each pointerup (browser.SETTLE_WATCH_JS)
MAIN_THREAD = "CrRendererMain"
# Wrappers whose time is all in what runs inside them: counted through their children, not on their own.
CONTAINERS = {"RunTask", "ThreadControllerImpl::RunTask", "ThreadController active", "TaskQueueManager::ProcessTaskFromWorkQueue"}


def _main_thread(events: list[dict], pen_up: dict) -> tuple[int, int]:
    """(pid, tid) of the renderer main thread that set the pen-up mark."""
    names = {(event["pid"], event["tid"]): event["args"]["name"] for event in events
             if event.get("ph") == "M" and event.get("name") == "thread_name"}
    key = (pen_up["pid"], pen_up["tid"])
    if names.get(key) == MAIN_THREAD:
        return key
    same_process = [k for k, name in names.items() if k[0] == pen_up["pid"] and name == MAIN_THREAD]
    return same_process[0] if same_process else key


def self_times(events: list[dict], start_us: float, end_us: float) -> dict[str, float]:
    """Self time in ms of each event name among complete events on one thread, clipped to [start_us, end_us]."""
    spans = sorted(((e["ts"], e["ts"] + e.get("dur", 0), e["name"]) for e in events
                    if e.get("ph") == "X" and e.get("dur") is not None),
                   key=lambda span: (span[0], -span[1]))
    totals: dict[str, float] = defaultdict(float)
    stack: list[list] = []  # [start, end, name, time taken by children]

    def close(span) -> None:
        begin, end, name, children = span
        clipped = max(0.0, min(end, end_us) - max(begin, start_us))
        own = max(0.0, clipped - children)
        totals[name] += own / 1000
        if stack:
            stack[-1][3] += clipped

    for begin, end, name in spans:
        while stack and stack[-1][1] <= begin:
            close(stack.pop())
        stack.append([begin, end, name, 0.0])
    while stack:
        close(stack.pop())
    return dict(totals)


def script_time_by_source(events: list[dict], pid: int, start_us: float, end_us: float) -> dict[str, float]:
    """Sampled JavaScript time in ms of one renderer process, by the file name of the script sampled."""
    frames: dict[tuple, str] = {}
    totals: dict[str, float] = defaultdict(float)
    clocks: dict[str, float] = {}
    for event in sorted((e for e in events if e.get("pid") == pid and e.get("name") in ("Profile", "ProfileChunk")),
                        key=lambda e: e["ts"]):
        data = event.get("args", {}).get("data", {})
        profile = event.get("id")
        if event["name"] == "Profile":
            clocks[profile] = data.get("startTime", event["ts"])
            continue
        cpu = data.get("cpuProfile", {})
        for node in cpu.get("nodes", []):
            url = node.get("callFrame", {}).get("url") or f"({node.get('callFrame', {}).get('functionName') or 'native'})"
            frames[(profile, node["id"])] = url.rsplit("/", 1)[-1].split("?")[0] or url
        clock = clocks.get(profile, event["ts"])
        for node_id, delta in zip(cpu.get("samples", []), data.get("timeDeltas", [])):
            clock += delta
            if start_us <= clock <= end_us:
                totals[frames.get((profile, node_id), "(unknown)")] += max(delta, 0) / 1000
        clocks[profile] = clock
    return dict(totals)


def summarise_trace(trace: dict, settled_ms: float, top: int = 8) -> dict:
    """The largest costs on the page's main thread from the last pen-up until settled_ms after it."""
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    marks = [e for e in events if e.get("name") == PEN_UP_MARK and e.get("ph") in ("R", "I", "i", "n", "b", "X")]
    if not marks:
        return {"error": f"no {PEN_UP_MARK} mark in the trace"}
    pen_up = max(marks, key=lambda e: e["ts"])
    pid, tid = _main_thread(events, pen_up)
    start, end = pen_up["ts"], pen_up["ts"] + settled_ms * 1000
    on_main = [e for e in events if e.get("pid") == pid and e.get("tid") == tid]
    totals = self_times(on_main, start, end)
    costs = sorted(((name, ms) for name, ms in totals.items() if name not in CONTAINERS and ms >= 0.05),
                   key=lambda item: -item[1])
    busy = sum(ms for name, ms in totals.items())
    scripts = sorted(script_time_by_source(events, pid, start, end).items(), key=lambda item: -item[1])
    return {"settled_ms": round(settled_ms, 1), "main_thread_busy_ms": round(busy, 1),
            "largest_costs_ms": {name: round(ms, 1) for name, ms in costs[:top]},
            "script_ms_by_source": {name: round(ms, 1) for name, ms in scripts[:top] if ms >= 0.05}}


def trace_stroke(browser, tab, stroke, path: Path) -> dict:
    """Draw one stroke on tab while Chromium traces it; write the trace to path and return its summary."""
    path.parent.mkdir(parents=True, exist_ok=True)
    browser.start_tracing(page=tab.page, path=str(path), categories=TRACE_CATEGORIES)
    try:
        settled_ms = tab.draw_stroke(stroke)
    finally:
        browser.stop_tracing()
    if settled_ms is None:
        return {"error": "the traced stroke was not answered", "trace": str(path)}
    return {**summarise_trace(json.loads(path.read_text()), settled_ms), "trace": str(path)}
