"""Sign-in throttling (config/sign_in_throttle.py): growing waits per key, a cap per minute for the server."""

from __future__ import annotations

import math
import threading

from digitlab.config.sign_in_throttle import SignInThrottle


class FakeClock:
    def __init__(self):
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class CountingCheck:
    """A secret check that counts how often it ran (each run of the real one is a 0.3 s PBKDF2)."""

    def __init__(self, answer: bool = False):
        self.answer, self.runs = answer, 0

    def __call__(self) -> bool:
        self.runs += 1
        return self.answer


def test_the_seventh_wrong_password_in_a_minute_waits_without_being_checked():
    """Test that six wrong passwords, each made as soon as allowed, are all checked within a minute, the
    first three at once and the next after growing waits, and that a seventh made at once is refused with
    a wait and never checked; after the wait it is checked again."""
    clock, wrong = FakeClock(), CountingCheck(False)
    throttle = SignInThrottle(clock=clock)
    keys, start, waits = ("session:a", "client:203.0.113.9"), clock.now, []
    for _ in range(6):
        waits.append(throttle.wait_s(keys))
        clock.now += waits[-1]
        assert throttle.attempt(keys, wrong).accepted is False
    assert waits[:3] == [0, 0, 0] and 0 < waits[3] < waits[4] < waits[5], waits
    assert clock.now - start < 60 and wrong.runs == 6

    seventh = throttle.attempt(keys, wrong)
    assert seventh.throttled and not seventh.accepted and wrong.runs == 6
    assert seventh.retry_message() == f"Try again in {math.ceil(seventh.wait_s)} s."
    clock.now += seventh.wait_s
    assert throttle.attempt(keys, CountingCheck(True)).accepted


def test_a_new_session_from_the_same_client_still_waits():
    """Test that reloading the page (a new session key) does not reset the client's wait."""
    clock, wrong = FakeClock(), CountingCheck(False)
    throttle = SignInThrottle(clock=clock)
    for attempt in range(4):
        clock.now += throttle.wait_s(["client:x"])
        throttle.attempt([f"session:{attempt}", "client:x"], wrong)
    assert throttle.attempt(["session:new", "client:x"], wrong).throttled
    assert not throttle.attempt(["session:other", "client:y"], wrong).throttled, "other clients are not held"


def test_the_right_password_clears_the_wait_and_a_quiet_spell_forgets():
    """Test that success resets a key's failures, and failures long past no longer count."""
    clock, wrong, right = FakeClock(), CountingCheck(False), CountingCheck(True)
    throttle = SignInThrottle(clock=clock, forget_after_s=900)
    for _ in range(3):
        throttle.attempt(["k"], wrong)
    assert throttle.wait_s(["k"]) > 0
    clock.now += throttle.wait_s(["k"])
    assert throttle.attempt(["k"], right).accepted and throttle.wait_s(["k"]) == 0
    for _ in range(3):
        throttle.attempt(["k"], wrong)
    clock.now += 900
    assert throttle.wait_s(["k"]) == 0


def test_the_whole_server_checks_at_most_its_cap_a_minute():
    """Test that guesses from many clients, one each, stop being checked at the server's cap until the minute
    has passed."""
    clock, wrong = FakeClock(), CountingCheck(False)
    throttle = SignInThrottle(clock=clock, server_checks_per_minute=20)
    results = [throttle.attempt([f"client:{n}"], wrong) for n in range(25)]
    assert wrong.runs == 20 and all(result.throttled for result in results[20:])
    assert 0 < results[-1].wait_s <= 60
    clock.now += 60
    assert not throttle.attempt(["client:late"], wrong).throttled


def test_concurrent_attempts_under_one_key_run_one_check_at_a_time():
    """Test that a double submit while a check is running is refused instead of running a second check."""
    throttle, started, release = SignInThrottle(), threading.Event(), threading.Event()

    def slow_check() -> bool:
        started.set()
        release.wait(5)
        return False

    worker = threading.Thread(target=throttle.attempt, args=(["session:a"], slow_check))
    worker.start()
    started.wait(5)
    second = CountingCheck(False)
    assert throttle.attempt(["session:a"], second).throttled and second.runs == 0
    release.set()
    worker.join(5)
    assert not throttle.attempt(["session:a"], second).throttled and second.runs == 1
