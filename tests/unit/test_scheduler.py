"""The scheduler (bot.runners.scheduler) on a real database and a fake Slack: what becomes of a schedule it
took when the flow is stopping, when Slack fails before Truedy is asked, when its own process still holds the
campaign, when the process stops with a crowd waiting, and when its request leaves."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk import WebClient
from sqlalchemy import select, text

from bot import truedy
from bot.authorization import Authorizer
from bot.background import BackgroundWork
from bot.resume import ResumeRequest, ResumeService
from bot.resume_flow import ResumeFlows
from bot.runners.scheduler import ScheduledResumeRunner
from bot.storage import scheduled_resumes
from bot.storage.audit import AuditLog
from bot.storage.inflight import Claim, InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.schedules import ScheduledResumes
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId
from tests.fakes.loop import wait_until

TEAM = WorkspaceId("", "T0BOT0001")
CHANNEL = "C0SCHEDU1"


class Truedy:
    """Resumes every campaign, noting the schedule's state in the database the moment each request leaves."""

    def __init__(self, engine, delay: float = 0.0):
        self.engine, self.delay, self.calls = engine, delay, []

    def resume(self, api_key: str, campaign_id: str):
        with self.engine.connect() as connection:
            state = connection.execute(
                select(scheduled_resumes.c.state).where(scheduled_resumes.c.campaign_id == campaign_id)
            ).scalar()
        self.calls.append((campaign_id, state))
        time.sleep(self.delay)
        return truedy.Resumed(campaign_id, "active", datetime.now(UTC), f"req_{campaign_id}")


class Scheduler:
    def __init__(self, engine, workspaces, slack, answer_threads: int = 2, delay: float = 0.0):
        workspaces.seed_keys({TEAM.team_id: "truedy_key_bot"})
        self.truedy = Truedy(engine, delay)
        self.in_flight = InFlightResumes(engine)
        self.resumes = ResumeService(
            self.truedy, workspaces, Authorizer(), self.in_flight, AuditLog(engine), PollSchedule(engine)
        )
        self.flows = ResumeFlows(self.resumes, threads=2)
        self.answers = BackgroundWork("answer", answer_threads)
        self.schedules = ScheduledResumes(engine)
        self.client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        self.runner = ScheduledResumeRunner(self.schedules, self.flows, self.answers, lambda _: self.client)
        self.engine = engine

    def due(self, campaign_id: str) -> int:
        schedule, _ = self.schedules.add(
            TEAM, campaign_id, "U0ALICE01", datetime.now(UTC) - timedelta(seconds=1), CHANNEL, "command"
        )
        return schedule.id

    def row(self, schedule_id: int) -> dict:
        with self.engine.connect() as connection:
            return dict(
                connection.execute(select(scheduled_resumes).where(scheduled_resumes.c.id == schedule_id))
                .mappings()
                .one()
            )


@pytest.fixture
def scheduler(engine, workspaces, slack):
    made = Scheduler(engine, workspaces, slack)
    yield made
    made.answers.drain(5)


def said_in_channel(slack) -> str:
    return " ".join(call.params.get("text") or "" for call in slack.calls if call.params.get("channel") == CHANNEL)


def test_a_schedules_request_leaves_only_once_its_sending_is_recorded(scheduler, slack):
    schedule_id = scheduler.due("batch_send00001")
    assert scheduler.runner.run_due() == 1
    wait_until(lambda: scheduler.row(schedule_id)["state"] == "ended", 10, "the schedule to end")
    assert scheduler.truedy.calls == [("batch_send00001", "sending")]
    assert scheduler.row(schedule_id)["outcome"] == "resumed"


def test_a_schedule_that_reaches_a_flow_that_is_stopping_is_handed_back_not_ended(scheduler, slack):
    """The flow stopped taking resumes (a shutdown under way): the schedule runs at the next start."""
    schedule_id = scheduler.due("batch_stop00001")
    now = time.monotonic()
    scheduler.flows.shut_down(now, now, now)
    scheduler.runner.run_due()
    wait_until(lambda: scheduler.row(schedule_id)["state"] == "pending", 10, "the schedule handed back")
    assert scheduler.truedy.calls == []
    assert "restarting" not in said_in_channel(slack) and "was not" not in said_in_channel(slack)


def test_a_network_failure_before_truedy_is_asked_hands_the_schedule_back_and_tells_when(scheduler, slack):
    schedule_id = scheduler.due("batch_net000001")
    scheduler.schedules.posted(schedule_id, slack.add_message(CHANNEL, [], "scheduled"))
    slack.fail("chat.update", "connection_dropped", times=2)  # showing it as running fails, retry included
    scheduler.runner.run_due()
    wait_until(lambda: scheduler.row(schedule_id)["state"] == "pending", 10, "the schedule handed back")
    row = scheduler.row(schedule_id)
    assert row["attempts"] == 1 and row["try_at"].replace(tzinfo=UTC) > datetime.now(UTC) + timedelta(seconds=20)
    assert scheduler.truedy.calls == [] and scheduler.schedules.end_unknown() == []
    wait_until(lambda: "nothing was sent yet. It is tried again" in said_in_channel(slack), 10, "the retry said")


def test_a_schedule_meeting_its_own_processs_claim_waits_for_it_instead_of_being_refused(scheduler, slack):
    """Handed back (a restart, a near rate-limit retry) while this process still held the campaign's claim: the
    next try meets that claim, and must neither end the schedule nor say someone is resuming it."""
    schedule_id = scheduler.due("batch_claim0001")
    held = scheduler.resumes.claim(ResumeRequest(TEAM.team_id, "U0ALICE01", CampaignId("batch_claim0001"), "schedule"))
    assert isinstance(held, Claim)
    scheduler.runner.run_due()
    wait_until(lambda: scheduler.row(schedule_id)["state"] == "pending", 10, "the schedule handed back")
    assert scheduler.row(schedule_id)["try_at"].replace(tzinfo=UTC) > datetime.now(UTC)
    assert "is already resuming" not in said_in_channel(slack)
    scheduler.resumes.release(held)
    with scheduler.engine.begin() as connection:
        connection.execute(
            text("UPDATE scheduled_resumes SET try_at = :at"), {"at": datetime.now(UTC) - timedelta(seconds=1)}
        )
    assert scheduler.runner.run_due() == 1
    wait_until(lambda: scheduler.row(schedule_id)["outcome"] == "resumed", 10, "the schedule to resume")


def test_at_a_busy_minute_a_stop_hands_back_every_schedule_not_sent_and_calls_none_unknown(engine, workspaces, slack):
    """30 due at once, one answers thread and slow Truedy answers; the process stops: what was sent ends with
    its answer, the rest is pending again, and nothing is ended as unknown."""
    scheduler = Scheduler(engine, workspaces, slack, answer_threads=1, delay=0.5)
    ids = [scheduler.due(f"batch_busy{n:05d}") for n in range(30)]
    assert scheduler.runner.run_due() == 30
    wait_until(lambda: scheduler.truedy.calls, 10, "the first request")
    scheduler.runner.stop()
    scheduler.answers.stop_accepting()
    stopping = time.monotonic()
    scheduler.answers.drain(0.2)  # the queued starts are dropped, as at a shutdown's deadline
    scheduler.flows.shut_down(stopping + 0.5, stopping + 3, stopping + 5)
    scheduler.runner.hand_back_unsent()
    rows = [scheduler.row(schedule_id) for schedule_id in ids]
    sent = {campaign_id for campaign_id, _ in scheduler.truedy.calls}
    assert sent and len(sent) < 30
    for row in rows:
        if row["campaign_id"] in sent:
            assert (row["state"], row["outcome"]) == ("ended", "resumed")
        else:
            assert row["state"] == "pending", row
    scheduler.schedules.end_unknown()
    assert "may have resumed" not in said_in_channel(slack)


class SlowToHold(InFlightResumes):
    """The database is slow as the resume starts (making sure its claim still holds) until `go` is set."""

    def __init__(self, engine):
        super().__init__(engine)
        self.holding, self.go = threading.Event(), threading.Event()

    def hold(self, claim):
        self.holding.set()
        self.go.wait(10)
        return super().hold(claim)


def test_a_resume_interrupted_by_a_shutdown_before_its_request_left_is_not_started_and_never_sent(
    engine, workspaces, slack
):
    """At the interrupt deadline a resume still before its request (the database slow) ends as not started,
    never as "may have resumed"; and when its thread goes on, nothing is sent."""
    scheduler = Scheduler(engine, workspaces, slack)
    slow = SlowToHold(engine)
    scheduler.resumes = ResumeService(
        scheduler.truedy, workspaces, Authorizer(), slow, AuditLog(engine), PollSchedule(engine)
    )
    scheduler.flows = ResumeFlows(scheduler.resumes, threads=2)
    scheduler.runner = ScheduledResumeRunner(
        scheduler.schedules, scheduler.flows, scheduler.answers, lambda _: scheduler.client
    )
    schedule_id = scheduler.due("batch_slowhold1")
    scheduler.schedules.posted(schedule_id, slack.add_message(CHANNEL, [], "scheduled"))
    scheduler.runner.run_due()
    assert slow.holding.wait(10)
    stopping = time.monotonic()
    scheduler.runner.stop()
    scheduler.flows.shut_down(stopping, stopping + 0.2, stopping + 3)
    slow.go.set()
    scheduler.runner.hand_back_unsent()
    wait_until(lambda: scheduler.row(schedule_id)["state"] == "pending", 10, "the schedule handed back")
    assert scheduler.flows._pool.drain(5) == 0  # the flow's thread, let go on, has ended: it sent nothing
    assert scheduler.truedy.calls == []
    assert "may have resumed" not in said_in_channel(slack)
