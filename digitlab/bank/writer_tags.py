"""The forms of the writer tags the app gives people itself: an imported pen-digit writer's and a browser's.

Drawings are grouped by writer tag on the Drawings, Evaluate and Class pages, so a tag of one of these forms
typed by someone else would pool their drawings with that writer's. This module owns both forms; it imports
no SQLAlchemy, so the Draw page can check a typed tag before the bank is opened.
"""

from __future__ import annotations

import re

PEN_WRITER_PREFIX = "pen-"  # an imported pen-digit writer: pen-07 is pendigits writer 7
SESSION_TAG_PREFIX = "visitor-"  # a browser session: visitor- and SESSION_TAG_DIGITS hex digits
SESSION_TAG_DIGITS = 10

# Any number of digits (pen-1000 too) and any letter case: PEN-01 and pen-01 read as one writer in a list of tags.
_PEN_WRITER_FORM = re.compile(rf"{re.escape(PEN_WRITER_PREFIX)}[0-9]+", re.IGNORECASE)
_SESSION_TAG_FORM = re.compile(rf"{re.escape(SESSION_TAG_PREFIX)}[0-9a-f]+", re.IGNORECASE)


def pen_writer_tag(writer: int) -> str:
    """The tag an import gives pen-digit writer `writer`."""
    return f"{PEN_WRITER_PREFIX}{writer:02d}"


def session_tag_from(hex_digits: str) -> str:
    """A browser session's tag made from hex digits (the last SESSION_TAG_DIGITS of them)."""
    return f"{SESSION_TAG_PREFIX}{hex_digits[-SESSION_TAG_DIGITS:]}"


def reserved_tag_form(tag: str) -> str | None:
    """Whose tags have the form of tag, when it is one the app gives someone else; None for a name anyone may use."""
    trimmed = tag.strip()
    if _PEN_WRITER_FORM.fullmatch(trimmed):
        return f"an imported pen-digit writer ({pen_writer_tag(7)} is pen-digit writer 7)"
    if _SESSION_TAG_FORM.fullmatch(trimmed):
        return f"another visitor's browser session ({session_tag_from('1a2b3c4d5e')})"
    return None
