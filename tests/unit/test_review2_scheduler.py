"""Second review of the scheduler's moves the database would not take (bot/runners/scheduler.py `_working`,
`_record_moves_again`; bot/slack/surfaces.py ScheduledSurface `_move`) and of the rate-limit wait
(bot/truedy RateLimited.wait) that the first review added."""

import threading
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import bot.truedy
from bot import truedy
from bot.authorization import Authorizer
from bot.background import BackgroundWork
from bot.resume import ResumeService
from bot.resume_flow import ResumeFlows
from bot.runners.scheduler import ScheduledResumeRunner
from bot.slack.surfaces import ScheduledSurface
from bot.storage import scheduled_resumes
from bot.storage.audit import AuditLog
from bot.storage.inflight import InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.schedules import ScheduledResumes
from bot.storage.workspace_settings import WorkspaceId
from tests.fakes.loop import wait_until

TEAM = WorkspaceId("", "T0BOT0001")
CHANNEL = "C0REVIEW2"


def lost_connection() -> OperationalError:
    return OperationalError("UPDATE", {}, Exception("server closed the connection unexpectedly"))


class Truedy:
    def __init__(self):
        self.calls: list[str] = []

    def resume(self, api_key: str, campaign_id: str):
        self.calls.append(campaign_id)
        return truedy.Resumed(campaign_id, "active", datetime.now(UTC), f"req_{campaign_id}")


class RefusalNotRecordedOnce(ScheduledResumes):
    """The database is unreachable for a moment when a refusal is recorded (`end` from taken), once."""

    failed = False

    def end(self, schedule_id, owner, outcome, leaving):
        if leaving == "taken" and not self.failed:
            self.failed = True
            raise lost_connection()
        return super().end(schedule_id, owner, outcome, leaving)


def test_review2_a_refusal_recorded_late_is_still_said_in_the_channel(engine, workspaces, slack, monkeypatch):
    """Defect: ScheduledSurface.refused shows the refusal only when `end` returned True at once; when the database
    would not take it (a blip), the move is kept as `unrecorded` and the runner records it a tick later, but
    nothing ever shows it: the schedule is ended as refused while its message in the channel still reads
    ":alarm_clock: … scheduled `batch_…` to resume at 9:00" with its Cancel button, for good (Cancel then says it
    is not pending). The same happens to a schedule given up after its last failure (`try_again_later`), whose
    message goes on saying "Resuming…". The first review made Truedy's answer told "whether or not the database
    took it yet"; refusals and give-ups were left out. Promise (bot.runners.scheduler): refused for good is
    "ended, and said in the channel and to them". (Here: the workspace's Truedy key was removed before 9:00.)"""
    monkeypatch.setattr("bot.runners.scheduler.TICK_SECONDS", 0.05)
    schedules = RefusalNotRecordedOnce(engine)
    resumes = ResumeService(
        Truedy(), workspaces, Authorizer(), InFlightResumes(engine), AuditLog(engine), PollSchedule(engine)
    )
    flows = ResumeFlows(resumes, threads=2)
    starts = BackgroundWork("schedule", 2)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    runner = ScheduledResumeRunner(schedules, flows, starts, lambda _: client)
    runner._leases = threading.Thread(target=lambda: None)  # the lease keeper outlives the test otherwise
    schedule, _ = schedules.add(
        TEAM, "batch_refused01", "U0ALICE01", datetime.now(UTC) - timedelta(seconds=1), CHANNEL, "command"
    )
    message_ts = slack.add_message(CHANNEL, [], "scheduled")
    schedules.posted(schedule.id, message_ts)

    def shown() -> str:
        updates = [call for call in slack.calls_to("chat.update") if call.params.get("ts") == message_ts]
        return " ".join(call.params.get("text") or "" for call in updates)

    runner.start()
    try:
        wait_until(lambda: schedules.failed, 5, "the refusal, not recorded the first time")
        wait_until(
            lambda: schedules.get(TEAM, schedule.id).state == "ended", 5, "the refusal recorded by the runner's retry"
        )
        wait_until(lambda: "but it was not" in shown(), 3, "the schedule's message to say it was refused")
    finally:
        runner.stop()
        runner.join(2)
        starts.drain(2)


class HostClockAhead(datetime):
    """This host's clock, 10 minutes ahead of the database's and Truedy's (NTP broken on one dyno)."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(minutes=10)


def test_review2_a_rate_limit_reset_given_as_a_time_is_waited_for_on_a_host_whose_clock_is_ahead(
    engine, slack, monkeypatch
):
    """Defect: RateLimited.wait() makes Truedy's hint relative with the host's clock (`retry_at - datetime.now`).
    That is right for `Retry-After: <seconds>` (made absolute with the same clock), but Truedy's other hints are
    absolute times by Truedy's clock (`error.details.reset_at`, `Retry-After: <HTTP date>`, bot.truedy
    `_retry_at`). On a host whose clock is ahead, the wait comes out as zero: the schedule is due again at once by
    the database's clock, taken at the next tick and sent into the same rate limit, once a second for every
    rate-limited schedule, until the key's window resets (the hand-backs are not failures, so nothing stops it);
    on a host whose clock is behind, it waits that much longer than Truedy asked. The first review's fix ("rate-
    limit waits count by the database's clock") holds only for hints without a time of their own."""
    schedules = ScheduledResumes(engine)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    schedules.add(TEAM, "batch_resetat01", "U0ALICE01", datetime.now(UTC) - timedelta(seconds=1), CHANNEL, "command")
    (taken,) = schedules.take("me", 10)
    assert schedules.start_sending(taken.id, "me")
    reset_at = datetime.now(UTC) + timedelta(minutes=2)  # Truedy: `"details": {"reset_at": …}`, by its clock

    def limited(request: httpx.Request) -> httpx.Response:
        body = {
            "error": {
                "code": "rate_limit_exceeded",
                "message": "slow down",
                "details": {"reset_at": reset_at.isoformat()},
            }
        }
        return httpx.Response(429, json=body, headers={"Date": format_datetime(datetime.now(UTC), usegmt=True)})

    monkeypatch.setattr(bot.truedy, "datetime", HostClockAhead)
    client_of_truedy = truedy.TruedyClient("https://truedy.test", 1, 1, transport=httpx.MockTransport(limited))
    try:
        client_of_truedy.resume("truedy_key_bot", "batch_resetat01")
    except truedy.RateLimited as error:
        answer = error
    ScheduledSurface(client, taken, schedules, "me").show_ending(answer)
    monkeypatch.undo()
    with engine.connect() as connection:
        row = connection.execute(select(scheduled_resumes).where(scheduled_resumes.c.id == taken.id)).mappings().one()
    assert row["state"] == "pending"
    assert schedules.take("me", 10) == [], "taken again at once, into the same rate limit"
