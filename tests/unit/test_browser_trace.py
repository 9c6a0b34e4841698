"""The browser benchmark's trace summary: self time per event on the page's main thread, pen-up to settled."""

from __future__ import annotations

from digitlab.bench.browser_trace import PEN_UP_MARK, self_times, summarise_trace

MAIN, OTHER = (1, 10), (1, 11)


def event(name, ts, dur, thread=MAIN):
    return {"name": name, "ph": "X", "ts": ts, "dur": dur, "pid": thread[0], "tid": thread[1]}


def trace(*events):
    names = [{"name": "thread_name", "ph": "M", "pid": 1, "tid": 10, "args": {"name": "CrRendererMain"}},
             {"name": "thread_name", "ph": "M", "pid": 1, "tid": 11, "args": {"name": "Compositor"}}]
    return {"traceEvents": names + list(events)}


def test_self_time_leaves_out_what_children_took():
    """Test that a parent's self time is its duration less its children's, by hand: 10 ms task, 6 ms script in it
    of which 2 ms style."""
    times = self_times([event("RunTask", 0, 10_000), event("FunctionCall", 1_000, 6_000),
                        event("UpdateLayoutTree", 2_000, 2_000)], 0, 20_000)
    assert times == {"RunTask": 4.0, "FunctionCall": 4.0, "UpdateLayoutTree": 2.0}


def test_summary_counts_the_main_thread_from_the_last_pen_up_until_settled():
    """Test that work before pen-up, after the page settled, or on another thread is left out, and task
    wrappers are not listed as costs."""
    mark = {"name": PEN_UP_MARK, "ph": "R", "ts": 100_000, "pid": 1, "tid": 10}
    summary = summarise_trace(trace(
        {**mark, "ts": 10_000},  # an earlier stroke's pen-up
        event("FunctionCall", 50_000, 5_000),  # before the last pen-up
        mark,
        event("RunTask", 110_000, 30_000), event("FunctionCall", 110_000, 20_000), event("Layout", 130_000, 8_000),
        event("Paint", 195_000, 10_000),  # half of it after the page settled at 200 ms
        event("FunctionCall", 120_000, 50_000, thread=OTHER)), settled_ms=100)

    assert summary["largest_costs_ms"] == {"FunctionCall": 20.0, "Layout": 8.0, "Paint": 5.0}
    assert summary["main_thread_busy_ms"] == 35.0
    assert summary["settled_ms"] == 100


def test_a_trace_without_the_pen_up_mark_says_so():
    """Test that a trace the page never marked is reported, not summarised as an empty stroke."""
    assert "error" in summarise_trace(trace(event("FunctionCall", 0, 1_000)), settled_ms=50)


def test_script_time_is_credited_to_the_file_each_sample_was_in():
    """Test that sampled JavaScript time is added up by script file, inside the stroke's window only: by hand,
    samples every 1 ms from 100 ms, three in plotly.min.js, one in Streamlit's bundle, one after the window."""
    from digitlab.bench.browser_trace import script_time_by_source

    frames = [{"id": 1, "callFrame": {"functionName": "(root)", "url": ""}},
              {"id": 2, "callFrame": {"functionName": "react", "url": "http://h/_stcore/bidi-components/x/plotly.min.js"}},
              {"id": 3, "callFrame": {"functionName": "render", "url": "http://h/static/js/index.abc.js?v=1"}}]
    events = [{"name": "Profile", "ph": "P", "id": "0x1", "pid": 1, "tid": 10, "ts": 99_000,
               "args": {"data": {"startTime": 99_000}}},
              {"name": "ProfileChunk", "ph": "P", "id": "0x1", "pid": 1, "tid": 12, "ts": 106_000,
               "args": {"data": {"cpuProfile": {"nodes": frames, "samples": [2, 2, 3, 2, 3]},
                                 "timeDeltas": [1_000, 1_000, 1_000, 1_000, 10_000]}}}]

    assert script_time_by_source(events, 1, 100_000, 105_000) == {"plotly.min.js": 3.0, "index.abc.js": 1.0}
    assert script_time_by_source(events, 2, 100_000, 105_000) == {}
