"""The per-client save limit (bank/save_limits.py): a sliding minute per client, shared by the server's threads."""

from __future__ import annotations

import threading

from digitlab.bank.save_limits import SaveRateLimiter


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_its_saves_per_minute_then_waits_for_the_window_to_slide():
    """Test that the fourth save in a minute (limit 3) is refused with how long to wait, and allowed once a save ages out."""
    clock = FakeClock()
    limiter = SaveRateLimiter(clock=clock)
    for _ in range(3):
        assert limiter.reserve("ip:203.0.113.5", 3) is None
        clock.now += 10
    refusal = limiter.reserve("ip:203.0.113.5", 3)
    assert refusal and "3 drawings in the last minute" in refusal and "Wait 30 s" in refusal
    assert limiter.reserve("ip:198.51.100.1", 3) is None  # another client has its own minute
    clock.now += 30.5  # the first save is now more than a minute old
    assert limiter.reserve("ip:203.0.113.5", 3) is None
    assert limiter.reserve("ip:203.0.113.5", 3) is not None


def test_a_save_that_failed_is_given_back():
    """Test that release returns the reservation of a save that did not happen."""
    limiter = SaveRateLimiter(clock=FakeClock())
    assert limiter.reserve("user:a@example.com", 1) is None
    assert limiter.reserve("user:a@example.com", 1) is not None
    limiter.release("user:a@example.com")
    assert limiter.reserve("user:a@example.com", 1) is None


def test_sessions_saving_at_once_never_get_more_than_the_limit():
    """Test that 8 threads (sessions of one client) racing for 5 saves get exactly 5 between them."""
    limiter = SaveRateLimiter()
    granted = []
    start = threading.Barrier(8)

    def session():
        start.wait()
        for _ in range(10):
            if limiter.reserve("ip:192.0.2.9", 5) is None:
                granted.append(1)

    threads = [threading.Thread(target=session) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 5
