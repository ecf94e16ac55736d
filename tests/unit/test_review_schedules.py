"""Review of the scheduled resumes' state machine and its runner: crash windows (a commit whose acknowledgement is
lost, the database failing between two writes), a shutdown that interrupts a resume before its request left,
hand-backs that are not failures, and a host clock that disagrees with the database's."""

import threading
import time
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy import select, text
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
CHANNEL = "C0REVIEW1"


def lost_connection() -> OperationalError:
    return OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))


class Truedy:
    """Resumes every campaign, noting when each request left."""

    def __init__(self):
        self.calls: list[str] = []

    def resume(self, api_key: str, campaign_id: str):
        self.calls.append(campaign_id)
        return truedy.Resumed(campaign_id, "active", datetime.now(UTC), f"req_{campaign_id}")


class Scheduler:
    def __init__(self, engine, workspaces, slack, schedules: ScheduledResumes):
        workspaces.seed_keys({TEAM.team_id: "truedy_key_bot"})
        self.truedy = Truedy()
        self.resumes = ResumeService(
            self.truedy, workspaces, Authorizer(), InFlightResumes(engine), AuditLog(engine), PollSchedule(engine)
        )
        self.flows = ResumeFlows(self.resumes, threads=2)
        self.starts = BackgroundWork("schedule", 2)
        self.schedules = schedules
        self.client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        self.runner = ScheduledResumeRunner(schedules, self.flows, self.starts, lambda _: self.client)
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

    def leases_run_out(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(
                text("UPDATE scheduled_resumes SET lease_expires_at = :at"),
                {"at": datetime.now(UTC) - timedelta(seconds=1)},
            )

    def stop(self) -> None:
        now = time.monotonic()
        self.flows.shut_down(now, now, now + 2)
        self.starts.drain(2)


def said_in_channel(slack) -> str:
    return " ".join(call.params.get("text") or "" for call in slack.calls if call.params.get("channel") == CHANNEL)


class TakeWhoseCommitAnswerIsLost(ScheduledResumes):
    """The database commits `take`, and the connection breaks before the bot hears so (once)."""

    lose_next = True

    def take(self, owner, most):
        taken = super().take(owner, most)
        if taken and self.lose_next:
            self.lose_next = False
            raise lost_connection()
        return taken


def test_review_a_take_whose_commit_answer_was_lost_is_never_run_while_its_process_lives(
    engine, workspaces, slack, monkeypatch
):
    """Defect: a schedule taken by a `take` whose commit the database made but whose answer the bot never got (the
    connection broke, the database failed over) is `taken` by this process, which does not know it. The lease
    keeper renews every lease the owner has in the database (`renew(owner)`, every 10 s), so its lease never runs
    out while the process lives: no process ever takes it again, and it never runs, silently, until a restart
    (days, on a healthy worker). The same happens when any hand-back fails during a database blip (`_run`'s
    `hand_back` in its except, `try_again_in`, `refused`, the surface's endings). Users: "resume at 9:00" simply
    does not happen, and nothing says so. Promise broken: "a schedule never reaching sending ... runs again".
    (Times shortened: a 1 s lease, renewed every 0.1 s, ticks of 0.1 s.)"""
    monkeypatch.setattr("bot.runners.scheduler.TICK_SECONDS", 0.1)
    monkeypatch.setattr("bot.runners.scheduler.RENEW_SECONDS", 0.1)
    schedules = TakeWhoseCommitAnswerIsLost(engine, lease=timedelta(seconds=1))
    scheduler = Scheduler(engine, workspaces, slack, schedules)
    scheduler.due("batch_lostack01")
    scheduler.runner.start()
    try:
        wait_until(lambda: not schedules.lose_next, 5, "the take whose answer is lost")
        wait_until(lambda: scheduler.truedy.calls, 8, "the schedule, taken again once its lease ran out, to run")
    finally:
        scheduler.runner.stop()
        schedules.renew = lambda owner, ids: 0  # the lease keeper lives as long as the process: nothing left for it
        scheduler.stop()


class EndFailsOnce(ScheduledResumes):
    """The database is briefly unreachable when the schedule's ending is recorded, once."""

    failed = False

    def end(self, schedule_id, owner, outcome, leaving):
        if leaving == "sending" and not self.failed:
            self.failed = True
            raise lost_connection()
        return super().end(schedule_id, owner, outcome, leaving)


def test_review_truedys_answer_is_still_told_when_recording_the_end_fails(engine, workspaces, slack):
    """Defect: ScheduledSurface.show_ending records the end (`schedules.end`) before it shows anything; when that
    write fails (a database blip right after Truedy answered), the exception leaves show_ending: the thread never
    hears Truedy's answer, the message goes on saying "Resuming…" for good, and the row stays `sending` with its
    lease renewed by the live process, so it is never ended as unknown either and the campaign cannot be scheduled
    again ("is being resumed right now") until a restart. Users: a resume that happened is never reported. The
    surface already tells the truth when `end` returns False ("the truth is still worth telling"), not when it
    raises."""
    scheduler = Scheduler(engine, workspaces, slack, EndFailsOnce(engine))
    try:
        schedule_id = scheduler.due("batch_endfail01")
        scheduler.schedules.posted(schedule_id, slack.add_message(CHANNEL, [], "scheduled"))
        scheduler.runner.run_due()
        wait_until(lambda: scheduler.truedy.calls, 10, "the resume to reach Truedy")
        wait_until(lambda: "is resumed" in said_in_channel(slack), 5, "Truedy's answer in the schedule's thread")
    finally:
        scheduler.stop()


class SlowToRecordSending(ScheduledResumes):
    """Recording `sending` waits on the database (a slow commit, a pool exhausted) until `go` is set."""

    def __init__(self, engine):
        super().__init__(engine)
        self.waiting, self.go, self.recorded = threading.Event(), threading.Event(), threading.Event()
        self.let_it_leave: bool | None = None

    def start_sending(self, schedule_id, owner):
        self.waiting.set()
        self.go.wait(10)
        self.let_it_leave = super().start_sending(schedule_id, owner)
        self.recorded.set()
        return self.let_it_leave


def test_review_a_shutdown_that_interrupts_a_schedule_before_sending_neither_calls_it_unknown_nor_sends_it(
    engine, workspaces, slack
):
    """Defect: at a shutdown's interrupt deadline the flow ends every `running` flow as Interrupted ("the bot was
    restarting before Truedy answered"), and ScheduledSurface treats that as sent: it says in the channel that the
    campaign *may have resumed* and "will not be tried again", although the schedule is still `taken` (its
    request never left). Worse, the flow's thread goes on: `start_sending` still succeeds (the schedule is still
    taken by this owner, the claim already released) and the request leaves for Truedy after the channel was
    told it would not. Users: a wrong "may have resumed" and a resume sent without a claim during a restart.
    Promise broken: "a schedule never reaching sending is never called unknown"."""
    schedules = SlowToRecordSending(engine)
    scheduler = Scheduler(engine, workspaces, slack, schedules)
    schedule_id = scheduler.due("batch_interr001")
    scheduler.schedules.posted(schedule_id, slack.add_message(CHANNEL, [], "scheduled"))
    scheduler.runner.run_due()
    assert schedules.waiting.wait(10), "the resume reached before_sending"
    stopping = time.monotonic()
    scheduler.runner.stop()
    scheduler.flows.shut_down(stopping, stopping + 0.3, stopping + 3)  # the interrupt deadline passes
    schedules.go.set()  # the database answers again: the flow's thread, no longer tracked, carries on
    assert schedules.recorded.wait(10)
    assert scheduler.flows._pool.drain(5) == 0  # the flow's thread, let go on, has ended
    scheduler.runner.hand_back_unsent()
    said = said_in_channel(slack)
    try:
        # Ended as not started while its moment was being recorded: nothing left, what the write recorded was
        # undone, and it runs again.
        assert "may have resumed" not in said, said
        assert scheduler.truedy.calls == [], "a request left after the shutdown ended it as not started"
        assert scheduler.row(schedule_id)["state"] == "pending"
    finally:
        scheduler.starts.drain(2)


def test_review_hand_backs_that_were_no_failure_do_not_use_up_a_schedules_tries(engine, slack):
    """Defect: `attempts` counts every hand-back (Truedy's rate limit, someone else resuming, a restart's hand-back
    in run_due, NotStarted) and `try_again_later` gives up once it reaches 10 — so a schedule that waited out
    Truedy's rate limit 9 times at a busy 9:00 is given up at its *first* network failure, and says "…every time
    it was tried. Nothing was sent". (The backoff also starts at 10 minutes instead of 30 s after 5 rate limits.)
    Documented: failures before Truedy are "tried again 30 s later, then 1, 2, 4… up to 10 min apart; given up
    after 10 tries"; rate limits are "tried again when it resets"."""
    schedules = ScheduledResumes(engine)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    schedule, _ = schedules.add(
        TEAM, "batch_attempt01", "U0ALICE01", datetime.now(UTC) - timedelta(seconds=1), CHANNEL, "command"
    )
    for _ in range(9):  # nine of Truedy's 429s, each handed back until the key's window resets
        (taken,) = schedules.take("me", 10)
        assert schedules.start_sending(taken.id, "me")
        reset = datetime.now(UTC) - timedelta(seconds=1)  # (already reset, so that the test goes on)
        ScheduledSurface(client, taken, schedules, "me").show_ending(truedy.RateLimited("slow down", None, reset))
        assert schedules.get(TEAM, schedule.id).state == "pending"
    (taken,) = schedules.take("me", 10)
    assert schedules.start_sending(taken.id, "me")
    ScheduledSurface(client, taken, schedules, "me").show_ending(truedy.TruedyUnreachable("no route to host", None))
    assert schedules.get(TEAM, schedule.id).state == "pending", "given up at its first failure"


class HostClockBehind(datetime):
    """This host's clock, 10 minutes behind the database's (NTP broken on one dyno)."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) - timedelta(minutes=10)


def test_review_a_rate_limited_schedule_is_retried_by_the_databases_clock(engine, slack, monkeypatch):
    """Defect: the time a rate-limited schedule is tried again (`try_at`) is Truedy's hint made absolute with the
    host's clock (`datetime.now` in bot.truedy: `Retry-After: N`, or "in a minute" without one), but `take`
    compares `try_at` with the database's clock. A host whose clock is behind makes `try_at` already passed: the
    schedule is taken again at the next tick and sent into the same rate limit, once a second, for as long as the
    clocks disagree (each 429 also counting as a try). Promise: "every time is the database's, so hosts whose clocks
    disagree agree on leases and due times"."""
    schedules = ScheduledResumes(engine)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    schedules.add(TEAM, "batch_clock0001", "U0ALICE01", datetime.now(UTC) - timedelta(seconds=1), CHANNEL, "command")
    (taken,) = schedules.take("me", 10)
    assert schedules.start_sending(taken.id, "me")
    monkeypatch.setattr(bot.truedy, "datetime", HostClockBehind)
    limited = truedy.RateLimited("too many requests", None, None)  # a 429 without Retry-After: "in a minute"
    ScheduledSurface(client, taken, schedules, "me").show_ending(limited)
    monkeypatch.undo()
    assert schedules.get(TEAM, taken.id).state == "pending"
    assert schedules.take("me", 10) == [], "taken again at once, into the same rate limit"


def test_review_a_slack_network_failure_telling_one_unknown_schedule_does_not_silence_the_others(
    engine, workspaces, slack
):
    """Defect: the sweep ends every schedule whose process died while sending as `unknown` in one UPDATE
    (`end_unknown`), then tells each thread in a loop; `_tell_unknown` catches SlackApiError only, so a network
    error (Slack unreachable for a moment, a dropped connection) on the first one leaves the loop: every other
    schedule of that sweep is already ended in the database and is never told. Their messages say "Resuming…"
    for good, and nobody hears they may have resumed. Users: after a crash, maybe-resumed campaigns go unreported."""
    schedules = ScheduledResumes(engine)
    scheduler = Scheduler(engine, workspaces, slack, schedules)
    ids = [scheduler.due(f"batch_unknown{n:02d}") for n in range(3)]
    for schedule_id in ids:
        schedules.posted(schedule_id, slack.add_message(CHANNEL, [], "scheduled"))
    for taken in schedules.take("dead-process", 10):
        assert schedules.start_sending(taken.id, "dead-process")
    scheduler.leases_run_out()
    slack.fail("chat.update", "connection_dropped", times=2)  # the first one's update, and its retry
    # The runner's own loop sweeps (its lease keeper, which lives as long as the process, is left out of the test).
    scheduler.runner._leases = threading.Thread(target=lambda: None)
    scheduler.runner.start()
    try:
        wait_until(
            lambda: (
                "may have resumed" in " ".join(c.params.get("text") or "" for c in slack.calls_to("chat.postMessage"))
            ),
            5,
            "the other schedules' threads told they may have resumed",
        )
    finally:
        scheduler.runner.stop()
        scheduler.stop()
