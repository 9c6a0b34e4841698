"""How many drawings a visitor may save a minute, counted per client across every session of the server.

A browser session's tag is new on every reload, so a limit counted per session is reset by pressing
F5. The key here is the client as the page knows it (ui.access.viewer_id: a signed-in user, else the
address), used as an opaque string and kept only in this process's memory, never in the bank.
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_SECONDS = 60.0
SWEEP_EVERY = 1_000  # reservations between sweeps of clients whose window has emptied, so memory stays small


class SaveRateLimiter:
    """A sliding one-minute window of saves per client key; safe to share between the server's threads."""

    def __init__(self, window_seconds: float = WINDOW_SECONDS, clock=time.monotonic):
        self.window_seconds, self.clock = window_seconds, clock
        self._saves: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._since_sweep = 0

    def reserve(self, client: str, per_minute: int) -> str | None:
        """Take one of client's saves for this minute; None when granted, else the message saying to wait.

        Reserved before the save is tried, so two sessions of one client saving at once cannot both
        take the last one; release gives it back when the save then fails.
        """
        now = self.clock()
        with self._lock:
            self._sweep(now)
            saves = self._saves.setdefault(client, deque())
            while saves and saves[0] <= now - self.window_seconds:
                saves.popleft()
            if len(saves) >= per_minute:
                wait = max(1, int(saves[0] + self.window_seconds - now + 0.999))
                return (f"You saved {len(saves)} drawings in the last minute, the most allowed. "
                        f"Wait {wait} s, then save again.")
            saves.append(now)
            return None

    def release(self, client: str) -> None:
        """Give back client's latest reservation: the save it was for did not happen."""
        with self._lock:
            saves = self._saves.get(client)
            if saves:
                saves.pop()

    def _sweep(self, now: float) -> None:
        self._since_sweep += 1
        if self._since_sweep < SWEEP_EVERY:
            return
        self._since_sweep = 0
        for client in [key for key, saves in self._saves.items() if not saves or saves[-1] <= now - self.window_seconds]:
            del self._saves[client]
