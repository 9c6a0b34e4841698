"""Class: the owner's view of a class sharing DigitLab: its link, live counts, confusion, hardest digits, fine-tune."""

from digitlab.ui.class_view import class_page
from digitlab.ui.frame import ensure_app_frame

ensure_app_frame()
class_page()
