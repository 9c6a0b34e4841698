"""A bare page with the number canvas that prints the strokes it returns, for the browser test of strokes."""

import json

import streamlit as st

from digitlab.ui import canvas

drawn = canvas.number_canvas(12)
if drawn is not None:
    _, strokes = drawn
    bounds = [[round(float(v)) for v in (*s.points.min(axis=0), *s.points.max(axis=0))] for s in strokes]
    st.code(json.dumps({"bounds": bounds, "widths": [s.width for s in strokes]}), language=None)
