"""When a scheduled resume should run, from what a person typed after the campaign id: `at 9:00`,
`tomorrow 9:00`, `in 2h`, `2026-12-01 08:30`, `at noon`, `tonight` (20:00), `monday 9am`. Clock times are read
in the person's own time zone (Slack's `users.info` gives it); the answer is a moment in UTC.

A weekday names the next day of that name whose time is still ahead: `monday 9am` typed on a Monday at 8:00 is
in an hour, typed at 10:00 it is a week ahead. `tonight` is today's 20:00, refused once it has passed (a
person who types it at 21:00 means something else, and is asked to say when).

A clock time that a daylight-saving change skips (02:30 on the night clocks go forward) is read with the
offset before the change, as `zoneinfo` does: it runs an hour after it would have, never before.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Far enough for "after the holidays", near enough that a typo in the year is caught.
FURTHEST = timedelta(days=30)
_FURTHEST_MINUTES = FURTHEST // timedelta(minutes=1)
_UNITS = {"m": 1, "min": 1, "mins": 1, "minute": 1, "minutes": 1, "h": 60, "hr": 60, "hrs": 60, "hour": 60}
_UNITS |= {"hours": 60, "d": 1440, "day": 1440, "days": 1440}
# Any number of digits: a huge amount is refused as too far ahead, not as unreadable.
_DURATION_PART = re.compile(r"(\d+)\s*([a-z]+)")
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A weekday by its name or its first three letters (`mon`): the day of the week, Monday 0.
_WEEKDAY_NUMBERS = {name: number for number, day in enumerate(_WEEKDAYS) for name in (day, day[:3])}
# Clock times that have names.
_NAMED_CLOCKS = {"noon": time(12, 0), "midday": time(12, 0), "midnight": time(0, 0)}
TONIGHT = time(20, 0)
# What may follow a campaign id to make it a schedule (the first word of the time).
_STARTS_A_TIME = re.compile(
    rf"^(at|in|on|today|tomorrow|tonight|noon|{'|'.join(_WEEKDAY_NUMBERS)}|\d{{4}}-\d{{2}}-\d{{2}})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NotATime:
    """Why what was typed is not a time we can schedule at, said so that the person can fix it."""

    reason: str


_TOO_FAR = NotATime(f"that is more than {FURTHEST.days} days ahead; schedule it nearer the time")
_PASSED = NotATime("that time has already passed")


def looks_like_a_time(text: str) -> bool:
    return bool(_STARTS_A_TIME.match(text.strip()))


def parse_when(text: str, now: datetime, zone: ZoneInfo | None) -> datetime | NotATime:
    """The moment (UTC) `text` names, after `now` and at most FURTHEST ahead; else why not. `zone`: the
    person's time zone, None when Slack did not say (then only `in …` can be read)."""
    words = " ".join(text.lower().split())
    if words.startswith("in "):
        return within_reach(_after(words[3:], now), now)
    if zone is None:
        return NotATime("Slack did not tell me your time zone, so I can only schedule with `in …` (e.g. `in 2h`)")
    *clock_words, last = words.split(" ") or [""]
    if clock_words and (last in ("today", "tomorrow") or last in _WEEKDAY_NUMBERS):
        words = f"{last} {' '.join(clock_words)}"  # `9:00 tomorrow`, as `tomorrow 9:00`
    local_now = now.astimezone(zone)
    if words == "tonight":
        moment = datetime.combine(local_now.date(), TONIGHT, zone)
        if moment <= now:
            return NotATime("it is past 20:00 already, so tonight has passed: say when, e.g. `in 1h` or `at 22:00`")
        return within_reach(moment.astimezone(UTC), now)
    day, clock = _day_and_clock(words)
    if isinstance(clock, NotATime):
        return clock
    if day is None:
        moment = datetime.combine(local_now.date(), clock, zone)
        if moment <= now:
            moment = datetime.combine(local_now.date() + timedelta(days=1), clock, zone)
    elif isinstance(day, NotATime):
        return day
    elif isinstance(day, int):  # a weekday: its next day whose time is still ahead
        ahead = (day - local_now.weekday()) % 7
        moment = datetime.combine(local_now.date() + timedelta(days=ahead), clock, zone)
        if moment <= now:
            moment = datetime.combine(local_now.date() + timedelta(days=ahead + 7), clock, zone)
    else:
        on = local_now.date() + day if isinstance(day, timedelta) else day
        # A date far from today is refused before it meets the calendar's ends (year 1, year 9999).
        if abs((on - local_now.date()).days) > FURTHEST.days + 1:
            return _TOO_FAR if on > local_now.date() else _PASSED
        moment = datetime.combine(on, clock, zone)
    return within_reach(moment.astimezone(UTC), now)


def _after(duration: str, now: datetime) -> datetime | NotATime:
    parts = _DURATION_PART.findall(duration)
    if not parts or _DURATION_PART.sub("", duration).strip(" ,and"):
        return NotATime(f"`in {duration}` is not a duration I can read: try `in 2h`, `in 90m` or `in 1h 30m`")
    minutes = 0
    for amount, unit in parts:
        if unit not in _UNITS:
            return NotATime(f"`{unit}` is not a unit I know: use m, h or d (`in 2h`)")
        # Compared before it meets the calendar (which ends in year 9999), and before Python reads a number of
        # thousands of digits (which it refuses).
        minutes += int(amount) * _UNITS[unit] if len(amount.lstrip("0")) <= 9 else _FURTHEST_MINUTES + 1
        if minutes > _FURTHEST_MINUTES:
            return _TOO_FAR
    return now + timedelta(minutes=minutes)


def _day_and_clock(words: str) -> tuple[timedelta | date | int | NotATime | None, time | NotATime]:
    """`[today|tomorrow|[on] YYYY-MM-DD|[on] monday] [at] H[:MM][am|pm]|noon`: the day (an offset from today, a
    date, a weekday's number, or None for the next time the clock shows it) and the clock time."""
    day: timedelta | date | int | NotATime | None = None
    rest = words.removeprefix("on ")
    first, _, after = rest.partition(" ")
    if first in ("today", "tomorrow"):
        day, rest = timedelta(days=1 if first == "tomorrow" else 0), after
    elif first in _WEEKDAY_NUMBERS:
        day, rest = _WEEKDAY_NUMBERS[first], after
    elif found := _DATE.match(first):
        try:
            day = date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
        except ValueError:
            day = NotATime(f"{first} is not a date")
        rest = after
    rest = rest.removeprefix("at ").strip()
    if not rest:
        return day, NotATime("say at what time too, e.g. `tomorrow 9:00`")
    return day, _clock(rest)


def _clock(text: str) -> time | NotATime:
    if text in _NAMED_CLOCKS:
        return _NAMED_CLOCKS[text]
    found = _CLOCK.match(text)
    if found is None:
        return NotATime(f"`{text}` is not a time I can read: try `9:00`, `17:30`, `9am` or `noon`")
    hour, minute, half = int(found.group(1)), int(found.group(2) or 0), found.group(3)
    if half is not None:
        if not 1 <= hour <= 12:
            return NotATime(f"`{text}` is not a time: with am or pm, the hour is 1 to 12")
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        return NotATime(f"`{text}` is not a time of day")
    return time(hour, minute)


def within_reach(moment: datetime | NotATime, now: datetime) -> datetime | NotATime:
    """`moment` if it is after `now` and at most FURTHEST ahead (the limits of every schedule, typed or picked)."""
    if isinstance(moment, NotATime):
        return moment
    if moment <= now:
        return _PASSED
    if moment - now > FURTHEST:
        return _TOO_FAR
    return moment


def quiet_until(now: datetime, quiet_from: time, quiet_to: time, zone: ZoneInfo) -> datetime | None:
    """When the quiet hours that `now` falls in end (UTC), or None outside them. From 22:00 to 07:00 spans
    midnight; equal ends mean no quiet hours."""
    if quiet_from == quiet_to:
        return None
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if quiet_from < quiet_to:
        inside, ends_on = quiet_from <= clock < quiet_to, local.date()
    else:
        inside = clock >= quiet_from or clock < quiet_to
        ends_on = local.date() + timedelta(days=1) if clock >= quiet_from else local.date()
    if not inside:
        return None
    # The night clocks go back, the end's clock time comes twice: the one still ahead (never one already past).
    for fold in (0, 1):
        end = datetime.combine(ends_on, quiet_to, zone).replace(fold=fold).astimezone(UTC)
        if end > now:
            return end
    return None


def clock_of(value: str | None) -> time | None:
    """ "HH:MM" (a timepicker's value, as setup saves it) as a time; None when unset or unreadable."""
    if not value:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        return None


def zone_named(name: str | None) -> ZoneInfo | None:
    """The time zone an IANA name (`Europe/Paris`) names; None when unset or not one Python knows."""
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
