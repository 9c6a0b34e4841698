"""history.csv of a run: one row every few batches and one per epoch, flushed as written, read while it grows."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas

HISTORY_FILE = "history.csv"
HISTORY_COLUMNS = ["kind", "epoch", "batch", "step", "elapsed", "loss", "accuracy", "val_loss", "val_accuracy"]


class HistoryWriter:
    """Appends rows to history.csv, flushing each so a reader sees it at once."""

    def __init__(self, run_dir: Path):
        self._file = open(Path(run_dir) / HISTORY_FILE, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, HISTORY_COLUMNS)
        if self._file.tell() == 0:
            self._writer.writeheader()

    def write(self, row: dict) -> None:
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read_history(run_dir: Path) -> "pandas.DataFrame":
    """history.csv as a table with numeric columns; rows still being written are left out."""
    import pandas as pd

    path = Path(run_dir) / HISTORY_FILE
    try:
        table = pd.read_csv(path, on_bad_lines="skip")
    except (OSError, ValueError):
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    if not set(HISTORY_COLUMNS) <= set(table.columns):
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    numeric = [column for column in HISTORY_COLUMNS if column != "kind"]
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce")
    # A row the trainer is writing as we read may be cut short: it lacks its step or its loss.
    table = table[table["kind"].isin(["batch", "epoch"]) & table["step"].notna() & table["loss"].notna()]
    return table.reset_index(drop=True)


def read_history_rows(run_dir: Path) -> list[dict]:
    """history.csv's complete rows as written (text values), to copy a run's history to another folder."""
    try:
        text = (Path(run_dir) / HISTORY_FILE).read_text(encoding="utf-8")
    except OSError:
        return []
    complete = text[: text.rfind("\n") + 1]  # a row the trainer is writing has no newline yet
    return list(csv.DictReader(io.StringIO(complete)))
