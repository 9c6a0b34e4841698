"""Figures for a single prediction: the ten class probabilities, and the 28x28 image the model saw."""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go
from PIL import Image

TOP_COLOR = "#FF4B4B"  # Streamlit's primary red: the digit the model picked
OTHER_COLOR = "#A3A8B8"
GRID_SHADE = 0.6  # grid lines are pixels darkened to this share, so ink and paper both show them


def probability_figure(probabilities: np.ndarray) -> dict:
    """The probability bars as a plain plotly figure dict: one bar per digit 0-9 on a fixed 0-1 axis, the top
    digit highlighted. Plain lists and numbers, so the browser's chart component takes it as it is.

    The highlight is a second trace, the top digit's bar alone in TOP_COLOR, laid over the grey bars: every
    bar keeps its colour from one reading to the next, so the Draw page's chart moves only bar heights after a
    stroke (plotly animates those without a full redraw; ui/browser_assets/probability_chart.js).
    """
    probabilities = [float(p) for p in np.asarray(probabilities, dtype=float)]
    top = int(np.argmax(probabilities)) if max(probabilities) > 0 else None  # all zeros: nothing read yet
    digits = [str(digit) for digit in range(len(probabilities))]
    return {
        "data": [{
            "type": "bar",
            "x": digits,
            "y": probabilities,
            "marker": {"color": OTHER_COLOR},
            "text": [f"{p:.0%}" if p >= 0.01 else "" for p in probabilities],
            "textposition": "outside",
            "textfont": {"size": 12},
            "constraintext": "none",  # plotly would otherwise shrink the label to the bar's width
            "cliponaxis": False,
            "hovertemplate": "digit %{x}: %{y:.1%}<extra></extra>",
        }, {
            "type": "bar",
            "x": digits,
            "y": [p if digit == top else 0.0 for digit, p in enumerate(probabilities)],
            "marker": {"color": TOP_COLOR},
            "hoverinfo": "skip",  # the grey bar under it answers the pointer
        }],
        # A fixed axis keeps a 40% bar looking like 40% instead of filling the chart.
        "layout": {
            "height": 260,
            "margin": {"l": 10, "r": 10, "t": 24, "b": 10},
            "xaxis": {"title": {"text": "digit"}, "type": "category", "fixedrange": True, "automargin": True},
            "yaxis": {"title": {"text": "probability"}, "range": [0, 1], "tickformat": ".0%", "fixedrange": True,
                      "automargin": True},
            "barmode": "overlay",
            "showlegend": False,
        },
    }


def probability_chart(probabilities: np.ndarray, validate: bool = False) -> go.Figure:
    """probability_figure as a plotly Figure, for st.plotly_chart."""
    # Built unvalidated from plain values: plotly's validation of every property costs about 8 ms on 2 busy
    # cores. The structure is fixed and tests/unit/test_figures.py checks it builds the same figure as
    # plotly's validated constructor.
    spec = probability_figure(probabilities)
    return go.Figure(data=[go.Bar(**trace, _validate=validate) for trace in spec["data"]], layout=spec["layout"],
                     _validate=validate)


def pixel_image(mnist: np.ndarray, scale: int = 8, grid: bool = True) -> np.ndarray:
    """Enlarge a 28x28 uint8 image by whole pixels (nearest neighbour), with a faint grid between them.

    Smooth resizing would hide what the model gets: a coarse 28x28 grid of grey levels. Small
    thumbnails in a gallery read better without the grid.
    """
    enlarged = np.repeat(np.repeat(np.asarray(mnist, dtype=np.uint8), scale, axis=0), scale, axis=1)
    if grid and scale >= 4:
        shaded = (enlarged.astype(np.float32) * GRID_SHADE + 40).astype(np.uint8)
        enlarged[::scale, :] = shaded[::scale, :]
        enlarged[:, ::scale] = shaded[:, ::scale]
    return enlarged


def png_data_url(image: np.ndarray) -> str:
    """A small uint8 image as a data: URL, which st.image puts in the page itself.

    An array given to st.image is stored on the server and fetched by the browser in a second
    request after the page update arrives; for a 4 kB image that round trip is most of its cost.
    """
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)  # fastest: the image is tiny anyway
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


CHECKER_SIDE = 16  # screen pixels per square of the chequerboard behind a see-through upload
CHECKER_LEVELS = (96, 160)  # two mid greys: white ink and black ink both show against them


def on_checkerboard(rgba: np.ndarray) -> np.ndarray:
    """An RGBA image as RGB over a grey chequerboard where it is see-through, as image editors show it.

    White ink on a transparent PNG reads well for the model (transparent is paper) but would vanish on a white
    page; opaque images come back unchanged.
    """
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or rgba[..., 3].min() == 255:
        return rgba
    rows, columns = np.indices(rgba.shape[:2]) // CHECKER_SIDE
    board = np.where((rows + columns) % 2 == 0, *CHECKER_LEVELS).astype(np.float32)[..., None]
    alpha = rgba[..., 3:4].astype(np.float32) / 255
    return (rgba[..., :3] * alpha + board * (1 - alpha)).round().astype(np.uint8)

