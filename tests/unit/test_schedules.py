"""The scheduled resumes' state machine (bot.storage.schedules) on a real database: SQLite, and PostgreSQL when
TEST_DATABASE_URL is set. Every move names the state it leaves and the owner; times are the database's."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from bot.storage import scheduled_resumes
from bot.storage.schedules import ScheduledResumes
from bot.storage.workspace_settings import WorkspaceId

HERE, THERE = WorkspaceId("", "T0AAA0001"), WorkspaceId("", "T0BBB0002")
ME, OTHER = "scheduler-me", "scheduler-other"


def past(seconds: float = 60) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def state_of(engine, schedule_id: int) -> tuple:
    with engine.connect() as connection:
        row = connection.execute(
            select(scheduled_resumes.c.state, scheduled_resumes.c.owner, scheduled_resumes.c.outcome).where(
                scheduled_resumes.c.id == schedule_id
            )
        ).one()
    return tuple(row)


def leases_run_out(engine) -> None:
    """As if every lease had run out (the process holding them died a minute ago)."""
    with engine.begin() as connection:
        connection.execute(text("UPDATE scheduled_resumes SET lease_expires_at = :at"), {"at": past(1)})


def test_a_due_schedule_is_taken_once_and_says_how_late_it_is(engine):
    schedules = ScheduledResumes(engine)
    due, created = schedules.add(HERE, "batch_due00001", "U0ALICE01", past(120), "C0OPS0001", "command")
    later, _ = schedules.add(
        HERE, "batch_later0001", "U0ALICE01", datetime.now(UTC) + timedelta(hours=1), "C1", "command"
    )
    assert created and due.state == later.state == "pending"

    (taken,) = schedules.take(ME, 10)
    assert taken.id == due.id and taken.campaign_id == "batch_due00001" and taken.state == "taken"
    assert timedelta(seconds=110) < taken.late_by < timedelta(seconds=600)
    assert schedules.take(OTHER, 10) == []  # held: nobody takes it again while its lease runs
    assert schedules.start_sending(taken.id, ME)
    assert schedules.end(taken.id, ME, "resumed", leaving="sending")
    assert schedules.get(HERE, taken.id).outcome == "resumed"
    assert schedules.get(HERE, later.id).state == "pending"


def test_processes_asking_at_once_take_each_schedule_once(engine):
    schedules = ScheduledResumes(engine)
    for n in range(60):
        schedules.add(HERE, f"batch_many{n:05d}", "U0ALICE01", past(), "C0OPS0001", "command")
    with ThreadPoolExecutor(4) as pool:
        batches = pool.map(lambda n: schedules.take(f"process-{n % 4}", 7), range(20))
        taken = [schedule.id for batch in batches for schedule in batch]
    assert len(taken) == len(set(taken)) == 60


def test_only_the_owner_moves_a_schedule_and_only_from_the_state_it_is_in(engine):
    schedules = ScheduledResumes(engine)
    schedule, _ = schedules.add(HERE, "batch_owner0001", "U0ALICE01", past(), "C0OPS0001", "command")
    (taken,) = schedules.take(ME, 10)
    assert not schedules.start_sending(taken.id, OTHER)
    assert not schedules.hand_back(taken.id, OTHER)
    assert not schedules.end(taken.id, OTHER, "resumed", leaving="taken")
    assert not schedules.end(taken.id, ME, "resumed", leaving="sending")  # it is not sending
    assert schedules.holds(taken.id, ME) and not schedules.holds(taken.id, OTHER)
    assert schedules.start_sending(taken.id, ME)
    assert not schedules.start_sending(taken.id, ME)  # once
    assert not schedules.hand_back(taken.id, ME)  # sent, maybe: never back to pending unless Truedy said no
    assert state_of(engine, schedule.id) == ("sending", ME, None)


def test_a_schedule_whose_process_died_before_sending_is_taken_again_and_runs(engine):
    """SIGKILL right after taking: nothing was sent, so another process runs it (never "unknown")."""
    schedules = ScheduledResumes(engine)
    schedule, _ = schedules.add(HERE, "batch_died00001", "U0ALICE01", past(), "C0OPS0001", "command")
    schedules.take(ME, 10)
    assert schedules.take(OTHER, 10) == []  # its lease still runs
    leases_run_out(engine)
    assert schedules.end_unknown() == []  # it never reached `sending`: not unknown
    (again,) = schedules.take(OTHER, 10)
    assert again.id == schedule.id
    assert not schedules.start_sending(schedule.id, ME)  # the dead (or stalled) process may send nothing now
    assert schedules.start_sending(schedule.id, OTHER)


def test_a_schedule_whose_process_died_while_sending_ends_unknown_and_is_never_sent_again(engine):
    schedules = ScheduledResumes(engine)
    schedule, _ = schedules.add(HERE, "batch_sent00001", "U0ALICE01", past(), "C0OPS0001", "command")
    schedules.take(ME, 10)
    schedules.start_sending(schedule.id, ME)
    assert schedules.end_unknown() == []  # still within its lease
    leases_run_out(engine)
    (ended,) = schedules.end_unknown()
    assert ended.id == schedule.id and ended.outcome == "unknown"
    assert schedules.take(OTHER, 10) == [] and schedules.end_unknown() == []
    assert state_of(engine, schedule.id) == ("ended", ME, "unknown")


def test_a_schedule_held_without_knowing_is_not_renewed_and_is_taken_again(engine):
    """A take whose commit's answer was lost: the owner holds it without knowing, renews only what it works on,
    so its lease runs out and any process takes it again."""
    schedules = ScheduledResumes(engine)
    known, _ = schedules.add(HERE, "batch_known0001", "U0ALICE01", past(), "C0OPS0001", "command")
    unknown, _ = schedules.add(HERE, "batch_lost00001", "U0ALICE01", past(), "C0OPS0001", "command")
    schedules.take(ME, 10)
    leases_run_out(engine)
    assert schedules.renew(ME, [known.id]) == 1
    assert [s.id for s in schedules.take(OTHER, 10)] == [unknown.id]


def test_a_live_owner_keeps_its_schedules_however_long_they_wait(engine):
    """Queued behind a long line for longer than a lease: renewed, it is neither taken again nor given up."""
    schedules = ScheduledResumes(engine, lease=timedelta(seconds=2))
    schedule, _ = schedules.add(HERE, "batch_queue0001", "U0ALICE01", past(), "C0OPS0001", "command")
    schedules.take(ME, 10)
    leases_run_out(engine)
    assert schedules.renew(ME, [schedule.id]) == 1
    assert schedules.take(OTHER, 10) == [] and schedules.end_unknown() == []
    assert schedules.start_sending(schedule.id, ME)


def test_handed_back_it_is_due_again_at_its_new_time_and_keeps_the_time_asked_for(engine):
    schedules = ScheduledResumes(engine)
    asked = past(30)
    schedule, _ = schedules.add(HERE, "batch_back00001", "U0ALICE01", asked, "C0OPS0001", "command")
    schedules.take(ME, 10)
    assert schedules.hand_back(schedule.id, ME, timedelta(hours=1))
    assert schedules.take(OTHER, 10) == []  # not before its new time
    assert schedules.hand_back(schedule.id, ME) is False  # pending now: not ME's to move
    with engine.begin() as connection:
        connection.execute(text("UPDATE scheduled_resumes SET try_at = :at"), {"at": past(1)})
    (again,) = schedules.take(OTHER, 10)
    assert again.due_at == asked and again.attempts == 1  # the message still says the time the person chose


def test_truedys_no_to_a_schedule_being_sent_hands_it_back(engine):
    """Rate-limited, or no connection: Truedy did nothing, so it may go back from `sending`."""
    schedules = ScheduledResumes(engine)
    schedule, _ = schedules.add(HERE, "batch_limit0001", "U0ALICE01", past(), "C0OPS0001", "command")
    schedules.take(ME, 10)
    schedules.start_sending(schedule.id, ME)
    assert schedules.hand_back(schedule.id, ME, timedelta(minutes=1), leaving=("sending",))
    assert state_of(engine, schedule.id) == ("pending", None, None)


def test_at_shutdown_what_was_taken_and_not_sent_goes_back_at_once(engine):
    schedules = ScheduledResumes(engine)
    first, _ = schedules.add(HERE, "batch_stop00001", "U0ALICE01", past(), "C0OPS0001", "command")
    second, _ = schedules.add(HERE, "batch_stop00002", "U0ALICE01", past(), "C0OPS0001", "command")
    others, _ = schedules.add(HERE, "batch_stop00003", "U0ALICE01", past(), "C0OPS0001", "command")
    schedules.take(ME, 2)
    schedules.take(OTHER, 10)
    schedules.start_sending(second.id, ME)
    assert schedules.hand_back_all(ME) == 1
    assert state_of(engine, first.id) == ("pending", None, None)
    assert state_of(engine, second.id)[0] == "sending"  # may have been sent: never handed back
    assert state_of(engine, others.id) == ("taken", OTHER, None)
    assert [s.id for s in schedules.take("next-process", 10)] == [first.id]


def test_a_campaign_has_one_schedule_not_yet_ended(engine):
    schedules = ScheduledResumes(engine)
    first, _ = schedules.add(HERE, "batch_once00001", "U0ALICE01", past(-3600), "C0OPS0001", "command")
    again, created = schedules.add(HERE, "batch_once00001", "U0BOB0001", past(-60), "C0OPS0002", "alert")
    assert not created and again.id == first.id and again.scheduled_by == "U0ALICE01"
    other, created = schedules.add(THERE, "batch_once00001", "U0BOB0001", past(-60), "C0OPS0002", "command")
    assert created and other.id != first.id  # another workspace's campaign of the same id
    # Taken, sending: still one. Ended: a new one may be scheduled.
    with engine.begin() as connection:
        connection.execute(text("UPDATE scheduled_resumes SET try_at = :at"), {"at": past(1)})
    schedules.take(ME, 10)
    assert schedules.add(HERE, "batch_once00001", "U0BOB0001", past(-60), "C0", "command")[1] is False
    schedules.start_sending(first.id, ME)
    assert schedules.add(HERE, "batch_once00001", "U0BOB0001", past(-60), "C0", "command")[1] is False
    schedules.end(first.id, ME, "resumed", leaving="sending")
    assert schedules.add(HERE, "batch_once00001", "U0BOB0001", past(-60), "C0", "command")[1] is True


def test_people_scheduling_one_campaign_at_the_same_instant_make_one_schedule(engine):
    """The database decides, not a check before the insert: every one of 8 threads at once gets the same one."""
    schedules = ScheduledResumes(engine)
    for round_number in range(5):
        campaign_id = f"batch_race{round_number:05d}"
        start = threading.Barrier(8)

        def schedule(n: int, campaign_id=campaign_id, start=start):
            start.wait()
            return schedules.add(HERE, campaign_id, f"U0USER{n:04d}", past(-3600 - n), "C0OPS0001", "command")

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(schedule, range(8)))
        assert sum(created for _, created in results) == 1
        assert len({schedule.id for schedule, _ in results}) == 1
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM scheduled_resumes")).scalar() == 5


def test_only_a_pending_schedule_of_the_same_workspace_can_be_cancelled(engine):
    schedules = ScheduledResumes(engine)
    schedule, _ = schedules.add(HERE, "batch_cancel001", "U0ALICE01", past(), "C0OPS0001", "command")
    assert schedules.cancel(THERE, schedule.id, "U0MALLORY") is None  # another workspace's
    cancelled = schedules.cancel(HERE, schedule.id, "U0BOB0001")
    assert cancelled.state == "cancelled" and cancelled.cancelled_by == "U0BOB0001"
    assert schedules.cancel(HERE, schedule.id, "U0BOB0001") is None  # once
    assert schedules.take(ME, 10) == []  # a cancelled schedule never runs
    running, _ = schedules.add(HERE, "batch_cancel002", "U0ALICE01", past(), "C0OPS0001", "command")
    schedules.take(ME, 10)
    assert schedules.cancel(HERE, running.id, "U0BOB0001") is None  # its time came: too late to cancel


def test_the_list_shows_what_is_not_yet_ended_soonest_first_with_the_total(engine):
    schedules = ScheduledResumes(engine)
    for n in range(5):
        schedules.add(HERE, f"batch_list{n:05d}", "U0ALICE01", past(-60 * (5 - n)), "C0OPS0001", "command")
    schedules.add(THERE, "batch_elsewhere1", "U0ALICE01", past(-60), "C0OPS0001", "command")
    shown, total = schedules.pending_in(HERE, 3)
    assert [s.campaign_id for s in shown] == ["batch_list00004", "batch_list00003", "batch_list00002"]
    assert total == 5


def test_the_upgrade_ends_as_unknown_what_the_previous_release_left_running_and_keeps_one_per_campaign(database_url):
    """Rows of the release before the state machine: one `running` (it may have been sent) becomes `sending`
    with its lease over, so that it is said to be unknown, never sent again; duplicate pending schedules the old
    check let through keep the soonest."""
    from alembic import command
    from alembic.config import Config

    from bot import storage

    engine = storage.connect(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(storage.MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
        rows = [
            (1, "batch_left00001", "running", past(300)),
            (2, "batch_dup000001", "pending", past(-7200)),
            (3, "batch_dup000001", "pending", past(-3600)),
            (4, "batch_left00001", "pending", past(-3600)),
        ]
        with engine.begin() as connection:
            for row_id, campaign_id, state, due in rows:
                connection.execute(
                    text(
                        "INSERT INTO scheduled_resumes (id, enterprise_id, team_id, campaign_id, scheduled_by, due_at, "
                        "channel, via, state, created_at, started_at) VALUES (:id, '', 'T0AAA0001', :campaign, "
                        "'U0ALICE01', :due, 'C0', 'command', :state, :due, :started)"
                    ),
                    {
                        "id": row_id,
                        "campaign": campaign_id,
                        "due": due,
                        "state": state,
                        "started": past(1200),
                    },  # over 10 min before the deploy
                )
        storage.migrate(engine)
        states = {row_id: state_of(engine, row_id)[::2] for row_id in (1, 2, 3, 4)}
        assert states == {
            1: ("sending", None),
            2: ("ended", "duplicate"),
            3: ("pending", None),
            4: ("ended", "duplicate"),
        }
        (unknown,) = ScheduledResumes(engine).end_unknown()
        assert unknown.id == 1 and unknown.outcome == "unknown"
    finally:
        engine.dispose()


def test_a_schedule_the_previous_release_is_still_running_is_not_called_unknown_at_once(database_url):
    """A rolling deploy: a process of the previous release took it a minute ago and may still be at it; it is said
    to be unknown only once the previous release would have given up on it (10 minutes after it was taken)."""
    from alembic import command
    from alembic.config import Config

    from bot import storage

    engine = storage.connect(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(storage.MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
            connection.execute(
                text(
                    "INSERT INTO scheduled_resumes (id, enterprise_id, team_id, campaign_id, scheduled_by, due_at, "
                    "channel, via, state, created_at, started_at) VALUES (1, '', 'T0AAA0001', 'batch_live00001', "
                    "'U0ALICE01', :at, 'C0', 'command', 'running', :at, :at)"
                ),
                {"at": past(60)},
            )
        storage.migrate(engine)
        schedules = ScheduledResumes(engine)
        assert schedules.end_unknown() == []
        with engine.begin() as connection:
            connection.execute(text("UPDATE scheduled_resumes SET lease_expires_at = :at"), {"at": past(1)})
        assert [s.id for s in schedules.end_unknown()] == [1]
    finally:
        engine.dispose()
