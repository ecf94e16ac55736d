"""Whose turn it is to poll, on a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set): the
polls that are due are found with one query and taken once, whatever the number of processes."""

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import DateTime, bindparam, literal, select, update

from bot.storage import database_clock, poll_schedule
from bot.storage.poll_turns import PollSchedule, turn_after
from bot.storage.workspace_settings import SetupChoices, WorkspaceId

ACME = WorkspaceId("", "T0ACME001")
MINUTE, HOUR = timedelta(minutes=1), timedelta(hours=1)


def next_poll_at(engine, workspace=ACME) -> datetime:
    with engine.connect() as connection:
        value = connection.execute(
            select(poll_schedule.c.next_poll_at).where(poll_schedule.c.team_id == workspace.team_id)
        ).scalar()
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def make_due(engine) -> None:
    with engine.begin() as connection:
        connection.execute(update(poll_schedule).values(next_poll_at=datetime.now(UTC) - timedelta(seconds=1)))


def connect(workspaces, *teams: str) -> None:
    for team in teams:
        workspaces.save_setup(WorkspaceId("", team), SetupChoices(f"truedy_{team}", "C0ALERTS1", (), ()), "U0ADMIN1")


def test_each_workspace_has_its_own_point_of_the_interval_and_keeps_it():
    now = datetime(2026, 11, 29, 12, 0, 7, tzinfo=UTC)
    turns = [turn_after(WorkspaceId("", f"T{n:08d}"), now, MINUTE) for n in range(1000)]
    assert all(now < turn <= now + MINUTE for turn in turns)
    seconds = sorted((turn - now).total_seconds() for turn in turns)
    # Spread evenly: every 6 s of the minute holds about a tenth of them, never a clump.
    for tenth in range(10):
        count = sum(6 * tenth <= second < 6 * (tenth + 1) for second in seconds)
        assert 70 <= count <= 130, (tenth, count)
    later = turn_after(ACME, turn_after(ACME, now, MINUTE), MINUTE)
    assert later - turn_after(ACME, now, MINUTE) == MINUTE  # the same point, one interval on


def test_a_connected_workspace_is_polled_at_once_then_at_its_point_of_each_interval(engine, workspaces):
    connect(workspaces, "T0ACME001")
    schedule = PollSchedule(engine)
    assert schedule.take_due(MINUTE, 100) == [ACME]
    assert schedule.take_due(MINUTE, 100) == []  # taken: nobody else polls it now
    assert datetime.now(UTC) < next_poll_at(engine) <= datetime.now(UTC) + MINUTE


def test_each_due_poll_is_taken_once_however_many_processes_ask(engine, workspaces):
    teams = [f"T0DUE{n:04d}" for n in range(40)]
    connect(workspaces, *teams)
    make_due(engine)
    schedules, taken = [PollSchedule(engine) for _ in range(4)], []
    barrier = threading.Barrier(len(schedules))

    def take(schedule: PollSchedule) -> None:
        barrier.wait()
        for _ in range(5):
            taken.extend(schedule.take_due(MINUTE, 4))

    threads = [threading.Thread(target=take, args=(schedule,)) for schedule in schedules]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(workspace.team_id for workspace in taken) == teams  # every one, and each once


def test_a_rate_limit_defers_polling_until_it_resets_whatever_prompts_it(engine, workspaces):
    connect(workspaces, "T0ACME001")
    schedule = PollSchedule(engine)
    schedule.defer(ACME, MINUTE)
    prompt_all(engine, schedule)
    assert schedule.take_due(timedelta(seconds=1), 100) == []


def test_workspaces_without_a_poll_get_one_within_the_interval_and_longer_turns_come_closer(engine, workspaces):
    workspaces.seed_keys({"T0ACME001": "truedy_acme_key", "T0OTHER01": "truedy_other_key"})
    with engine.begin() as connection:
        connection.execute(poll_schedule.delete())
    schedule = PollSchedule(engine)
    assert schedule.schedule_new(MINUTE) == 2
    assert datetime.now(UTC) < next_poll_at(engine) <= datetime.now(UTC) + MINUTE
    assert schedule.schedule_new(MINUTE) == 0
    with engine.begin() as connection:  # a turn set with PAUSED_POLL_SECONDS=3600
        connection.execute(update(poll_schedule).values(next_poll_at=datetime.now(UTC) + HOUR))
    schedule.schedule_new(MINUTE)
    assert len(schedule.take_due(MINUTE, 100)) == 2


def test_prompts_bring_turns_forward_but_not_closer_than_the_minimum_gap(engine, workspaces):
    connect(workspaces, "T0ACME001")
    schedule = PollSchedule(engine)
    assert schedule.take_due(HOUR, 100) == [ACME]
    prompt_all(engine, schedule)  # polled a moment ago: due 10 s after that poll, not now
    assert schedule.take_due(HOUR, 100) == []
    assert timedelta(seconds=5) < next_poll_at(engine) - datetime.now(UTC) <= timedelta(seconds=10)


def test_someone_resuming_postpones_the_poll(engine, workspaces):
    connect(workspaces, "T0ACME001")
    schedule = PollSchedule(engine)
    schedule.postpone(ACME, timedelta(seconds=5))
    assert schedule.take_due(MINUTE, 100) == []


def prompt_all(engine, schedule: PollSchedule) -> None:
    with engine.begin() as connection:
        schedule.prompt_all(connection)


def test_a_moment_stored_at_the_database_clocks_millisecond_is_due_by_that_clock(engine):
    """SQLite compares datetimes as text: the clock must read as a stored datetime does (six decimals), or a turn
    set at the clock's own millisecond is taken for later than the clock (the test above failed one run in many)."""
    with engine.connect() as connection:
        clock = connection.execute(select(database_clock(connection))).scalar_one()
        moment = clock if isinstance(clock, datetime) else datetime.fromisoformat(clock)
        stored = bindparam("stored", moment, type_=DateTime(timezone=True))
        assert connection.execute(select(stored <= literal(clock))).scalar_one()
