"""The time a visitor is shown (the Drawings page's "can be brought back until ..."), in their own time zone."""

from __future__ import annotations

from datetime import datetime, timezone

from digitlab.ui.formatting import format_clock_time

DEADLINE = datetime(2026, 12, 7, 13, 5, tzinfo=timezone.utc)


def test_a_browser_s_time_zone_gives_its_local_time_and_none_gives_utc_said_as_such():
    """Test that the deadline is written in the zone the browser reports, and in UTC, saying so, without one."""
    assert format_clock_time(DEADLINE, "Europe/Berlin") == "14:05"
    assert format_clock_time(DEADLINE, "America/New_York") == "08:05"
    assert format_clock_time(DEADLINE, None) == "13:05 UTC"


def test_a_zone_the_server_does_not_know_falls_back_to_utc_instead_of_failing():
    """Test that a made-up or malformed zone (the browser's report is not trusted) is written as UTC."""
    assert format_clock_time(DEADLINE, "Mars/Olympus_Mons") == "13:05 UTC"
    assert format_clock_time(DEADLINE, "../../etc/passwd") == "13:05 UTC"
