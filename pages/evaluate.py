"""Evaluate: how the model chosen in the sidebar does on the MNIST test set, and where it goes wrong."""

from digitlab.ui.evaluate_view import evaluate_page
from digitlab.ui.frame import ensure_app_frame

ensure_app_frame()
evaluate_page()
