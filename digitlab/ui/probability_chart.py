"""The probability bars as one chart that stays on the page: each stroke hands it ten new numbers.

`st.plotly_chart` gives a changed figure a new element id, so every stroke mounted a new chart. This
component (browser_assets/probability_chart.js) keeps one plotly chart under a fixed key and calls
`Plotly.react` with each new figure; plotly's script is served by the app (ui/browser_components.py).

Before the first stroke (and after Clear) the bars stand empty, so a stroke only changes their heights.
On the first view the chart loads plotly's script once the page is idle: neither the first view of the page
nor the first stroke waits for it.
"""

from __future__ import annotations

import numpy as np

from digitlab.ui.browser_components import mounting_command
from digitlab.ui.figures.probabilities import probability_figure

CHART_HTML = '<div class="digitlab-probability-chart"></div>'


def chart_data(probabilities: np.ndarray | None) -> dict:
    """What the chart is sent: the figure and the ten probabilities; before a reading, empty bars and None."""
    if probabilities is None:
        return {"figure": probability_figure(np.zeros(10)), "probabilities": None}
    figure = probability_figure(probabilities)
    return {"figure": figure, "probabilities": figure["data"][0]["y"]}


def probability_bars(probabilities: np.ndarray | None, key: str) -> None:
    """The probability chart under key; None shows empty bars, so the first stroke changes only their heights.

    Keep the call at the same place on the page from one run to the next, so the chart updates in place.
    """
    data = chart_data(probabilities)
    mount = mounting_command("probability_chart", CHART_HTML)
    if mount is not None:
        mount(key=key, data=data, width="stretch", height="content")
