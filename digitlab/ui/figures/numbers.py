"""Figures for a number reading: the input with a box over each digit, and each digit's probabilities.

No Streamlit here, so the bench can time what the page builds after each stroke.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from PIL import Image, ImageDraw

from digitlab.serving.number_segmentation import NumberReading
from digitlab.serving.ink import ink_of_image
from digitlab.ui.figures.probabilities import OTHER_COLOR, TOP_COLOR

DIGIT_BOX_COLOR = (80, 200, 120)  # green: a digit read
UNSURE_BOX_COLOR = (255, 170, 0)  # amber: the least certain digits
OTHER_BOX_COLOR = (150, 150, 160)  # grey: ink that is not a digit
BOX_WIDTH = 3
UNSURE_COLOR = "#FFAA00"  # a least certain digit's bar, amber as its box


def reading_overlay(image, reading: NumberReading) -> np.ndarray:
    """The input as ink on black (RGB) with a labelled box over each digit and each non-digit mark."""
    ink = np.round(ink_of_image(image) * 255).astype(np.uint8)
    picture = Image.fromarray(ink).convert("RGB")
    draw = ImageDraw.Draw(picture)
    least = reading.least_certain
    label_size = max(14, picture.height // 12)
    for index, (digit, (left, top)) in enumerate(zip(reading.digits, digit_label_places(draw, reading, label_size))):
        color = UNSURE_BOX_COLOR if index in least else DIGIT_BOX_COLOR
        draw.rectangle(box_outline(digit.box), outline=color, width=BOX_WIDTH)
        draw.text((left, top), digit_label(digit), fill=color, font_size=label_size)
    for mark in reading.others:
        draw.rectangle(box_outline(mark.box), outline=OTHER_BOX_COLOR, width=1)
        draw.text((mark.box[0], mark.box[3] + 6), "?", fill=OTHER_BOX_COLOR, font_size=label_size)
    return np.asarray(picture)


def box_outline(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Where a box is drawn around the ink it boxes: a few pixels out, so the line does not cover the ink."""
    x0, y0, x1, y1 = box
    return x0 - 4, y0 - 4, x1 + 3, y1 + 3


def label_gap(size: int) -> int:
    """Clear pixels between a label and the box it names: a label right on the box's line read as part of it."""
    return max(4, size // 3)


def digit_label(digit) -> str:
    return f"{digit.digit} {digit.prediction.confidence:.0%}"


def digit_label_places(draw: ImageDraw.ImageDraw, reading: NumberReading, size: int) -> list[tuple[int, int]]:
    """Where each digit's label goes: above its box, or below it where it would overlap its neighbour's.

    Touching digits have boxes closer than a label ("7 97%") is wide; side by side the labels ran into
    each other and neither could be read. A third line, if ever needed, stacks above the first.
    """
    row_ends: list[float] = []  # per line above the boxes, where the last label on it ends
    places = []
    gap = label_gap(size)
    for digit in reading.digits:
        label = digit_label(digit)
        _, outline_top, _, outline_bottom = box_outline(digit.box)
        _, glyph_top, _, glyph_bottom = draw.textbbox((0, 0), label, font_size=size)  # offsets from where it is drawn
        x0 = digit.box[0] - 2
        width = draw.textlength(label, font_size=size)
        row = next((index for index, end in enumerate(row_ends) if x0 >= end + size // 3), len(row_ends))
        if row == len(row_ends):
            row_ends.append(0.0)
        row_ends[row] = x0 + width
        if row == 1:  # under the box
            top = outline_bottom + 1 + gap - glyph_top
        else:  # above it: the first line, then further lines stacked over the first
            line_height = glyph_bottom - glyph_top + gap
            top = outline_top - gap - glyph_bottom - line_height * max(0, row - 1)
        places.append((x0, max(0, top)))
    return places


def digit_probability_charts(reading: NumberReading) -> go.Figure:
    """One figure with a probability bar chart per digit, side by side on fixed 0-1 axes.

    One figure rather than one per digit: building a plotly figure costs about a millisecond or more,
    paid for every digit on every stroke.
    """
    count = max(1, len(reading.digits))
    least = reading.least_certain
    gap = 0.04
    width = (1 - gap * (count - 1)) / count
    traces, layout = [], {}
    for index, digit in enumerate(reading.digits):
        probabilities = np.asarray(digit.prediction.probabilities, dtype=float)
        top = int(probabilities.argmax())
        highlight = UNSURE_COLOR if index in least else TOP_COLOR
        suffix = "" if index == 0 else str(index + 1)
        traces.append(go.Bar(
            x=[str(d) for d in range(10)], y=probabilities.tolist(), xaxis=f"x{suffix}", yaxis=f"y{suffix}",
            marker_color=[highlight if d == top else OTHER_COLOR for d in range(10)],
            hovertemplate=f"digit {index + 1}: " + "%{x} %{y:.1%}<extra></extra>",
        ))
        start = index * (width + gap)
        layout[f"xaxis{suffix}"] = dict(domain=[start, start + width], type="category", fixedrange=True,
                                        title=dict(text=f"{digit.digit} ({digit.prediction.confidence:.0%})"))
        layout[f"yaxis{suffix}"] = dict(range=[0, 1], fixedrange=True, showticklabels=index == 0, tickformat=".0%",
                                        anchor=f"x{suffix}")
    return go.Figure(data=traces, layout=dict(height=220, margin=dict(l=10, r=10, t=10, b=10), showlegend=False,
                                              **layout))
