"""Markdown source as a person reads it on the page, for tests that read what AppTest gives them (the source)."""

from __future__ import annotations

import re

from digitlab.ui.formatting import WORD_JOINER


def as_read(source: str) -> str:
    """The text without Markdown's backslash escapes and the invisible word joiners (formatting.plain_markdown)."""
    return re.sub(r"\\(.)", r"\1", str(source)).replace(WORD_JOINER, "")
