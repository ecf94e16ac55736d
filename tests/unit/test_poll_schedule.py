"""Whose turn it is to poll, on a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

import zlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.storage import poll_schedule
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import WorkspaceId

ACME = WorkspaceId("", "T0ACME001")
HOUR = timedelta(hours=1)


def next_poll_at(engine, workspace=ACME) -> datetime:
    with engine.connect() as connection:
        value = connection.execute(
            select(poll_schedule.c.next_poll_at).where(poll_schedule.c.team_id == workspace.team_id)
        ).scalar()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def test_first_turns_are_spread_over_the_interval_by_team(engine):
    schedule = PollSchedule(engine)
    assert schedule.take_turn(ACME, HOUR) is False
    offset = next_poll_at(engine) - datetime.now(UTC)
    expected = HOUR * (zlib.crc32(b"T0ACME001") % 1000 / 1000)
    assert abs(offset - expected) < timedelta(seconds=5)


def test_one_turn_per_interval_however_many_workers_ask(engine):
    schedules = [PollSchedule(engine), PollSchedule(engine)]
    schedules[0].take_turn(ACME, timedelta(seconds=1))
    with engine.begin() as connection:
        connection.execute(poll_schedule.update().values(next_poll_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert [schedule.take_turn(ACME, HOUR) for schedule in schedules] == [True, False]


def test_a_shorter_interval_takes_effect_at_once(engine):
    schedule = PollSchedule(engine)
    schedule.take_turn(ACME, HOUR)
    assert next_poll_at(engine) > datetime.now(UTC) + timedelta(minutes=1)  # this team's point in the hour
    assert schedule.take_turn(ACME, timedelta(seconds=1)) is True


def test_a_rate_limit_defers_polling_until_it_resets_whatever_prompts_it(engine):
    schedule = PollSchedule(engine)
    schedule.defer(ACME, datetime.now(UTC) + timedelta(minutes=1))
    prompt_all(engine, schedule)
    assert schedule.take_turn(ACME, timedelta(seconds=1)) is False


def test_prompts_bring_turns_forward_but_not_closer_than_the_minimum_gap(engine, workspaces):
    workspaces.seed_keys({"T0ACME001": "truedy_acme_key"})
    schedule = PollSchedule(engine)
    prompt_all(engine, schedule)  # a workspace never polled yet: due now
    assert schedule.take_turn(ACME, HOUR) is True
    prompt_all(engine, schedule)  # polled a moment ago: due 10 s after that poll, not now
    assert schedule.take_turn(ACME, HOUR) is False
    assert timedelta(seconds=5) < next_poll_at(engine) - datetime.now(UTC) <= timedelta(seconds=10)


def prompt_all(engine, schedule: PollSchedule) -> None:
    with engine.begin() as connection:
        schedule.prompt_all(connection)
