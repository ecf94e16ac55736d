from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.when import FURTHEST, NotATime, looks_like_a_time, parse_when

NEW_YORK, TOKYO = ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")
# 2026-11-29 14:00 UTC is 09:00 in New York (EST, UTC-5) and 23:00 in Tokyo.
NOW = datetime(2026, 11, 29, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "typed, zone, expected",
    [
        ("at 9:30", NEW_YORK, datetime(2026, 11, 29, 14, 30, tzinfo=UTC)),  # later today, New York's 9:30
        ("at 9:00", NEW_YORK, datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),  # now, so the next one: tomorrow
        ("at 8:00", NEW_YORK, datetime(2026, 11, 30, 13, 0, tzinfo=UTC)),
        ("at 9:00", TOKYO, datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),  # Tokyo's next 9:00 is in 10 hours
        ("tomorrow 9:00", NEW_YORK, datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),
        ("tomorrow at 9am", NEW_YORK, datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),
        ("at 9:00 tomorrow", NEW_YORK, datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),
        ("today 5pm", NEW_YORK, datetime(2026, 11, 29, 22, 0, tzinfo=UTC)),
        ("at 12am", NEW_YORK, datetime(2026, 11, 30, 5, 0, tzinfo=UTC)),
        ("2026-12-01 08:30", NEW_YORK, datetime(2026, 12, 1, 13, 30, tzinfo=UTC)),
        ("on 2026-12-01 at 8:30", TOKYO, datetime(2026, 11, 30, 23, 30, tzinfo=UTC)),
        ("in 2h", None, NOW + timedelta(hours=2)),
        ("in 90 min", None, NOW + timedelta(minutes=90)),
        ("in 1h 30m", NEW_YORK, NOW + timedelta(minutes=90)),
        ("In 2 Hours", NEW_YORK, NOW + timedelta(hours=2)),
        ("in 1 day", NEW_YORK, NOW + timedelta(days=1)),
        # NOW is Sunday 2026-11-29, 9:00 in New York.
        ("at noon", NEW_YORK, datetime(2026, 11, 29, 17, 0, tzinfo=UTC)),
        ("noon", NEW_YORK, datetime(2026, 11, 29, 17, 0, tzinfo=UTC)),
        ("tomorrow noon", NEW_YORK, datetime(2026, 11, 30, 17, 0, tzinfo=UTC)),
        ("at noon", TOKYO, datetime(2026, 11, 30, 3, 0, tzinfo=UTC)),  # 23:00 in Tokyo: tomorrow's noon
        ("tonight", NEW_YORK, datetime(2026, 11, 30, 1, 0, tzinfo=UTC)),  # 20:00 New York is 01:00 UTC
        ("monday 9am", NEW_YORK, datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),
        ("on Monday at 9:00", NEW_YORK, datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),
        ("9am monday", NEW_YORK, datetime(2026, 11, 30, 14, 0, tzinfo=UTC)),
        ("mon 17:30", NEW_YORK, datetime(2026, 11, 30, 22, 30, tzinfo=UTC)),
        ("friday noon", NEW_YORK, datetime(2026, 12, 4, 17, 0, tzinfo=UTC)),
        ("sunday 9:30", NEW_YORK, datetime(2026, 11, 29, 14, 30, tzinfo=UTC)),  # today, still ahead
        ("sunday 9:00", NEW_YORK, datetime(2026, 12, 6, 14, 0, tzinfo=UTC)),  # now: a week ahead
        ("monday 9am", TOKYO, datetime(2026, 11, 30, 0, 0, tzinfo=UTC)),  # Tokyo's Monday begins in an hour
    ],
)
def test_a_time_is_read_in_the_persons_own_time_zone(typed, zone, expected):
    assert parse_when(typed, NOW, zone) == expected


def test_a_clock_time_across_a_daylight_saving_change_keeps_its_local_meaning():
    # New York moves from EDT (UTC-4) to EST (UTC-5) on 2026-11-01: its 9:00 is 13:00 UTC before, 14:00 after.
    before = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)  # 8:00 in New York
    assert parse_when("at 9:00", before, NEW_YORK) == datetime(2026, 10, 31, 13, 0, tzinfo=UTC)
    assert parse_when("tomorrow 9:00", before, NEW_YORK) == datetime(2026, 11, 1, 14, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "typed, zone, reason",
    [
        ("at 9:00", None, "can only schedule with `in …`"),
        ("today 8:00", NEW_YORK, "already passed"),
        ("2026-11-01 9:00", NEW_YORK, "already passed"),
        ("2027-06-01 9:00", NEW_YORK, "more than 30 days ahead"),
        ("2026-02-30 9:00", NEW_YORK, "2026-02-30 is not a date"),
        ("at 25:00", NEW_YORK, "not a time of day"),
        ("at 13pm", NEW_YORK, "the hour is 1 to 12"),
        ("at soon", NEW_YORK, "`soon` is not a time I can read"),
        ("tonight", TOKYO, "tonight has passed"),  # 23:00 in Tokyo
        ("monday", NEW_YORK, "say at what time too"),
        ("monday 25:00", NEW_YORK, "not a time of day"),
        ("noon", None, "can only schedule with `in …`"),
        ("tomorrow", NEW_YORK, "say at what time too"),
        ("in 2 fortnights", NEW_YORK, "`fortnights` is not a unit"),
        ("in soon", NEW_YORK, "not a duration I can read"),
        ("in 0m", NEW_YORK, "already passed"),
        # Durations and dates too large for the calendar are refused as too far, never as unreadable or a crash.
        ("in " + "9999d " * 400, NEW_YORK, "more than 30 days ahead"),
        ("in 99999999d", NEW_YORK, "more than 30 days ahead"),
        ("in " + "9" * 5000 + "m", NEW_YORK, "more than 30 days ahead"),
        ("in 30d 1m", NEW_YORK, "more than 30 days ahead"),
        ("9999-12-31 23:00", NEW_YORK, "more than 30 days ahead"),
        ("0001-01-01 0:00", TOKYO, "already passed"),
    ],
)
def test_what_cannot_be_scheduled_says_why(typed, zone, reason):
    said = parse_when(typed, NOW, zone)
    assert isinstance(said, NotATime) and reason in said.reason


@given(st.text(max_size=200))
def test_whatever_is_typed_is_read_or_refused_with_a_reason_never_a_crash(typed):
    said = parse_when(typed, NOW, NEW_YORK)
    assert isinstance(said, NotATime) or NOW < said <= NOW + FURTHEST


@given(st.lists(st.tuples(st.integers(0, 10**12), st.sampled_from(["m", "h", "d", "days"])), min_size=1, max_size=30))
def test_any_duration_is_read_within_reach_or_refused(parts):
    said = parse_when("in " + " ".join(f"{amount}{unit}" for amount, unit in parts), NOW, None)
    assert isinstance(said, NotATime) or NOW < said <= NOW + FURTHEST


def test_only_what_starts_like_a_time_makes_a_command_a_schedule():
    for typed in ("at 9:00", "in 2h", "tomorrow 9", "today 5pm", "on 2026-12-01 9:00", "2026-12-01 08:30", "noon"):
        assert looks_like_a_time(typed), typed
    for typed in ("tonight", "Monday 9am", "fri 17:00", "at"):
        assert looks_like_a_time(typed), typed
    for typed in ("renewals", "batch_c3d4e5f6", "9:00", "soon", "mondays", "nooner", "atlas"):
        assert not looks_like_a_time(typed), typed
