"""Drawings: the drawing bank's gallery, with filters, delete, export and import."""

from digitlab.ui.bank_browser import drawings_page
from digitlab.ui.frame import ensure_app_frame

ensure_app_frame()
drawings_page()
