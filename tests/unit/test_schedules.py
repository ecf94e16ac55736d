from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from bot.storage.schedules import RUNNING_AT_MOST, ScheduledResumes
from bot.storage.workspace_settings import WorkspaceId

HERE, THERE = WorkspaceId("", "T0AAA0001"), WorkspaceId("", "T0BBB0002")


def past(seconds: float = 60) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def test_a_due_schedule_is_taken_once_and_says_how_late_it_is(engine):
    schedules = ScheduledResumes(engine)
    due, created = schedules.add(HERE, "batch_due00001", "U0ALICE01", past(120), "C0OPS0001", "command")
    later, _ = schedules.add(
        HERE, "batch_later0001", "U0ALICE01", datetime.now(UTC) + timedelta(hours=1), "C1", "command"
    )
    assert created and due.state == later.state == "pending"

    (taken,) = schedules.take_due(10)
    assert taken.id == due.id and taken.campaign_id == "batch_due00001"
    assert timedelta(seconds=110) < taken.late_by < timedelta(seconds=600)
    assert schedules.take_due(10) == []  # taken once: nobody takes it again
    schedules.end(taken.id, "resumed")
    assert schedules.get(HERE, taken.id).outcome == "resumed"
    assert schedules.get(HERE, later.id).state == "pending"


def test_processes_asking_at_once_take_each_schedule_once(engine):
    schedules = ScheduledResumes(engine)
    for n in range(60):
        schedules.add(HERE, f"batch_many{n:05d}", "U0ALICE01", past(), "C0OPS0001", "command")
    with ThreadPoolExecutor(4) as pool:
        taken = [schedule.id for batch in pool.map(lambda _: schedules.take_due(7), range(20)) for schedule in batch]
    assert len(taken) == len(set(taken)) == 60


def test_a_campaign_has_one_pending_schedule(engine):
    schedules = ScheduledResumes(engine)
    first, _ = schedules.add(HERE, "batch_once00001", "U0ALICE01", past(-3600), "C0OPS0001", "command")
    again, created = schedules.add(HERE, "batch_once00001", "U0BOB0001", past(-60), "C0OPS0002", "alert")
    assert not created and again.id == first.id and again.scheduled_by == "U0ALICE01"
    other, created = schedules.add(THERE, "batch_once00001", "U0BOB0001", past(-60), "C0OPS0002", "command")
    assert created and other.id != first.id  # another workspace's campaign of the same id


def test_only_a_pending_schedule_of_the_same_workspace_can_be_cancelled(engine):
    schedules = ScheduledResumes(engine)
    schedule, _ = schedules.add(HERE, "batch_cancel001", "U0ALICE01", past(), "C0OPS0001", "command")
    assert schedules.cancel(THERE, schedule.id, "U0MALLORY") is None  # another workspace's
    cancelled = schedules.cancel(HERE, schedule.id, "U0BOB0001")
    assert cancelled.state == "cancelled" and cancelled.cancelled_by == "U0BOB0001"
    assert schedules.cancel(HERE, schedule.id, "U0BOB0001") is None  # once
    assert schedules.take_due(10) == []  # a cancelled schedule never runs


def test_the_pending_list_is_soonest_first_with_the_total(engine):
    schedules = ScheduledResumes(engine)
    for n in range(5):
        schedules.add(HERE, f"batch_list{n:05d}", "U0ALICE01", past(-60 * (5 - n)), "C0OPS0001", "command")
    schedules.add(THERE, "batch_elsewhere1", "U0ALICE01", past(-60), "C0OPS0001", "command")
    shown, total = schedules.pending_in(HERE, 3)
    assert [s.campaign_id for s in shown] == ["batch_list00004", "batch_list00003", "batch_list00002"]
    assert total == 5


def test_a_schedule_whose_process_died_ends_interrupted_and_never_runs_again(engine):
    schedules = ScheduledResumes(engine)
    schedule, _ = schedules.add(HERE, "batch_died00001", "U0ALICE01", past(), "C0OPS0001", "command")
    schedules.take_due(10)
    assert schedules.end_abandoned() == []  # still within its time
    stale = datetime.now(UTC) - RUNNING_AT_MOST - timedelta(seconds=5)
    with engine.begin() as connection:
        connection.execute(text("UPDATE scheduled_resumes SET started_at = :at"), {"at": stale})
    (ended,) = schedules.end_abandoned()
    assert ended.id == schedule.id and ended.outcome == "interrupted"
    assert schedules.take_due(10) == [] and schedules.end_abandoned() == []
