"""How the pages write shares, durations and a run's settings as text (plain Python, no Streamlit)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from digitlab.store.run_config import TrainConfig
from digitlab.store.shares import percent  # noqa: F401 - the pages' one way of writing a share (the CLI's too)


def format_duration(seconds: float | None) -> str:
    """'45 s', '3 min 07 s', '1 h 02 min'; '–' when unknown."""
    if seconds is None:
        return "–"
    seconds = int(round(float(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def describe_run_settings(config: TrainConfig | None) -> str:
    """A run's training config in one line."""
    if config is None:
        return "settings unknown"
    images = config.limit
    return (f"{config.epochs} epoch{'' if config.epochs == 1 else 's'} · batch {config.batch_size} · "
            f"lr {config.lr} · {'augmented' if config.augment else 'no augmentation'} · "
            f"{(f'{images:,}' if images else 'all')} images · seed {config.seed}"
            + (f" · from {Path(config.init_from).name}" if config.init_from else "")
            + (f" · drawing bank ×{config.bank_weight}" if config.bank_weight else ""))


def format_clock_time(when: datetime, zone: str | None) -> str:
    """'14:05' in the time zone the visitor's browser reports (st.context.timezone); '13:05 UTC' without one."""
    if zone:
        try:
            return f"{when.astimezone(ZoneInfo(zone)):%H:%M}"
        except (ZoneInfoNotFoundError, ValueError):  # a zone this server does not know: say which time it is
            pass
    return f"{when.astimezone(timezone.utc):%H:%M} UTC"


# Everything Streamlit's Markdown gives a meaning: links and pictures ([ ] ( ) !), emphasis, code, headings,
# tables, colour and icon directives (:red[...], :material/...:), LaTeX ($) and HTML-looking < >.
_MARKDOWN_SPECIALS = frozenset("\\`*_{}[]()<>#+-.!|~:$")
# Streamlit's Markdown also turns bare web and mail addresses (www.example.com, me@example.com, http://…) into
# links, after escapes are read, so escaping does not stop it. An invisible word joiner before each "." and "@"
# and after each ":" breaks the patterns it looks for ("www.", "name@", "scheme://") and shows nothing.
WORD_JOINER = "\u2060"
_JOINED_BEFORE, _JOINED_AFTER = frozenset(".@"), frozenset(":")


def plain_markdown(text: str) -> str:
    """text as Markdown that shows it exactly as typed: what a visitor typed is quoted, never rendered (a link to
    another server, a picture the browser would fetch from one, or an address made into a link)."""
    quoted = []
    for character in str(text):
        escaped = f"\\{character}" if character in _MARKDOWN_SPECIALS else character
        if character in _JOINED_BEFORE:
            escaped = WORD_JOINER + escaped
        elif character in _JOINED_AFTER:
            escaped += WORD_JOINER
        quoted.append(escaped)
    return "".join(quoted)


def counted(count: int, noun: str, bold: bool = False) -> str:
    """'1 drawing', '2,345 drawings' ('**1** drawing' with bold): a count with its noun in the right number."""
    number = f"**{count:,}**" if bold else f"{count:,}"
    return f"{number} {noun}{'' if count == 1 else 's'}"


def verb(count: int, singular: str, plural: str) -> str:
    """The verb that goes with count: verb(1, "matches", "match") is "matches"."""
    return singular if count == 1 else plural


# Streamlit's tables size a column once, for the text it first shows (the first rows), so a longer text that
# comes later, or further down, is cut ("stoppe", "Macro av"): such a column is given a width for its longest.
TABLE_CHARACTER_PX = 7  # at most, in the tables' 14 px font
TABLE_CELL_PADDING_PX = 16


def table_column_px(texts) -> int:
    """The width in pixels that shows the longest of texts whole in a table's column."""
    return max(len(str(text)) for text in texts) * TABLE_CHARACTER_PX + TABLE_CELL_PADDING_PX
