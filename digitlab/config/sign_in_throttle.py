"""Throttling for anything checked against a secret (the owner password, later a class's join code).

Each attempt names the keys it is made under: this session, and this client's address. Per key, the
first few wrong answers are answered at once (typos happen); after that each must wait twice as long
as the one before, from the last failure, up to a ceiling; a right answer, or a quiet spell, clears the
key. For the whole server, at most a set number of checks run in any minute, so guessing from many
addresses cannot take the CPU either (each owner-password check is a 0.3 s PBKDF2).

An attempt the throttle refuses is answered "try again in N s" at once: it runs no check, and it never
sleeps the server thread. Thread-safe; the clock is injectable for tests.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

FREE_FAILURES = 3  # wrong answers in a row per key that are answered at once
FIRST_DELAY_S = 2.0  # the wait after the first failure beyond those; it doubles with each further one
MAX_DELAY_S = 300.0  # the longest wait between two attempts under one key
FORGET_AFTER_S = 900.0  # a key with no failure for this long starts afresh
SERVER_CHECKS_PER_MINUTE = 20  # checks the whole server runs in any 60 s (about 6 s of CPU for the password)
BUSY_WAIT_S = 1.0  # a key already being checked (a double submit) waits this long
MAX_KEYS = 10_000  # failing keys remembered; beyond it the stalest are forgotten, so memory stays bounded


@dataclass(frozen=True)
class Attempt:
    """The outcome of one attempt."""

    accepted: bool  # the check ran and said yes
    wait_s: float = 0.0  # above 0: refused by the throttle without a check; try again after this many seconds

    @property
    def throttled(self) -> bool:
        return self.wait_s > 0

    def retry_message(self) -> str:
        """'Try again in N s.', rounded up, for a throttled attempt."""
        return f"Try again in {math.ceil(self.wait_s)} s."


@dataclass
class _Failures:
    count: int  # failures in a row
    last: float  # when the last of them was (the clock's seconds)


class SignInThrottle:
    """Growing delays per key after failed attempts, and a cap on checks per minute for the whole server."""

    def __init__(self, free_failures: int = FREE_FAILURES, first_delay_s: float = FIRST_DELAY_S,
                 max_delay_s: float = MAX_DELAY_S, forget_after_s: float = FORGET_AFTER_S,
                 server_checks_per_minute: int = SERVER_CHECKS_PER_MINUTE,
                 clock: Callable[[], float] = time.monotonic):
        self.free_failures = free_failures
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.forget_after_s = forget_after_s
        self.server_checks_per_minute = server_checks_per_minute
        self.clock = clock
        self._failures: dict[str, _Failures] = {}
        self._checking: set[str] = set()
        self._recent_checks: deque[float] = deque()
        self._lock = threading.Lock()

    def attempt(self, keys: Iterable[str], check: Callable[[], bool]) -> Attempt:
        """Run check() unless these keys or the server must wait; record what it said."""
        keys = tuple(dict.fromkeys(keys))
        with self._lock:
            wait = self._wait_locked(keys, self.clock())
            if wait > 0:
                return Attempt(False, wait)
            self._checking.update(keys)
            self._recent_checks.append(self.clock())
        accepted = False
        try:
            accepted = bool(check())
        finally:
            self._record(keys, accepted)
        return Attempt(accepted)

    def wait_s(self, keys: Iterable[str]) -> float:
        """How long an attempt under these keys would have to wait now (0: it would be checked)."""
        with self._lock:
            return self._wait_locked(tuple(keys), self.clock())

    def _record(self, keys: tuple[str, ...], accepted: bool) -> None:
        with self._lock:
            now = self.clock()
            self._checking.difference_update(keys)
            for key in keys:
                if accepted:
                    self._failures.pop(key, None)
                    continue
                failures = self._failures.get(key)
                if failures is None or now - failures.last >= self.forget_after_s:
                    failures = self._failures[key] = _Failures(0, now)
                failures.count += 1
                failures.last = now
            self._forget_stale(now)

    def _wait_locked(self, keys: tuple[str, ...], now: float) -> float:
        if any(key in self._checking for key in keys):
            return BUSY_WAIT_S
        waits = [self._key_wait(self._failures.get(key), now) for key in keys]
        while self._recent_checks and now - self._recent_checks[0] >= 60:
            self._recent_checks.popleft()
        if len(self._recent_checks) >= self.server_checks_per_minute:
            waits.append(60 - (now - self._recent_checks[0]))
        return max(waits, default=0.0)

    def _key_wait(self, failures: _Failures | None, now: float) -> float:
        if failures is None or failures.count < self.free_failures or now - failures.last >= self.forget_after_s:
            return 0.0
        delay = min(self.max_delay_s, self.first_delay_s * 2 ** (failures.count - self.free_failures))
        return max(0.0, failures.last + delay - now)

    def _forget_stale(self, now: float) -> None:
        stale = [key for key, failures in self._failures.items() if now - failures.last >= self.forget_after_s]
        for key in stale:
            del self._failures[key]
        surplus = len(self._failures) - MAX_KEYS
        if surplus > 0:
            for key in sorted(self._failures, key=lambda key: self._failures[key].last)[:surplus]:
                del self._failures[key]
