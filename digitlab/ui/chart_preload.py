"""Fetch the browser's charting library once the page is idle, instead of with the page or on the first stroke.

Streamlit loads plotly's script (a 4.7 MB chunk) only when the first chart appears. With a chart on
the empty Draw page, that script held up the first view of the page by about a second on two cores;
with none, the first stroke waited for it instead. So the empty page shows no chart, and this asks
the browser to load the chunk a moment after the page has settled, while the visitor reaches for the
pen. The chunk is imported by the same URL Streamlit's own code imports it by, so the chart then uses
the module already loaded.
"""

from __future__ import annotations

import functools
from pathlib import Path

import streamlit as st

IDLE_DELAY_MS = 800  # after the page's own work: the first view is not held up
PRELOAD_JS = """<script>
(() => {
  if (window.__digitlabChartPreload) return;
  window.__digitlabChartPreload = true;
  const entry = document.querySelector('script[type="module"][src*="static/js/index."]');
  if (!entry) return;
  const url = new URL("%(chunk)s", entry.src).href;
  const idle = window.requestIdleCallback || (run => setTimeout(run, 1));
  setTimeout(() => idle(() => import(url).catch(() => {}), {timeout: 2000}), %(delay)d);
})();
</script>"""


@functools.cache
def plotly_chunk_name() -> str | None:
    """The file name of Streamlit's plotly chunk in this install (it carries a content hash), or None."""
    chunks = sorted((Path(st.__file__).parent / "static" / "static" / "js").glob("PlotlyChart.*.js"))
    return chunks[0].name if len(chunks) == 1 else None


def preload_chart_library() -> None:
    """Have the browser load the charting library shortly after this page is shown (once per tab)."""
    chunk = plotly_chunk_name()
    if chunk is not None:
        st.html(PRELOAD_JS % {"chunk": chunk, "delay": IDLE_DELAY_MS}, unsafe_allow_javascript=True)
