"""Second review of the resume flow's shutdown (bot/resume_flow.py): the per-flow `leaving` lock that the first
review added, and what a shutdown's `_take` does with it."""

import threading
import time
from datetime import UTC, datetime

from slack_sdk import WebClient

from bot import truedy
from bot.authorization import Authorizer
from bot.resume import Interrupted, ResumeRequest, ResumeService
from bot.resume_flow import ResumeFlows
from bot.storage.audit import AuditLog
from bot.storage.inflight import InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId
from tests.fakes.loop import wait_until

TEAM = WorkspaceId("", "T0BOT0001")


class SlowTruedy:
    """Resumes every campaign once `answer` is set (a slow Truedy, the request on its way)."""

    def __init__(self):
        self.answer = threading.Event()
        self.calls: list[str] = []

    def resume(self, api_key: str, campaign_id: str):
        self.calls.append(campaign_id)
        self.answer.wait(15)
        return truedy.Resumed(campaign_id, "active", datetime.now(UTC), f"req_{campaign_id}")


class Recorded:
    """A surface that notes its ending."""

    def __init__(self):
        self.endings: list = []

    def show_resuming(self):
        return None

    def show_ending(self, ending) -> None:
        self.endings.append(ending)


def _say_nothing(**_message: object) -> None:
    pass


def test_review2_one_resumes_hanging_database_write_holds_up_the_whole_shutdown_and_every_other_ending(
    engine, workspaces, slack
):
    """Defect: `_leave` holds the flow's `leaving` lock while it runs the caller's `before_sending`, which is a
    database write (ScheduledResumes.start_sending, StepRuns.start_sending); the shutdown's `_take("running")`
    takes every running flow's `leaving` lock *while holding the flows' condition*. One resume whose write hangs
    (a database failing over, a connection pool exhausted: tens of seconds) therefore blocks `shut_down` past its
    deadlines, and with it every other flow: the resumes waiting on Truedy are not told "the bot was restarting
    before Truedy answered" at the interrupt deadline, flows that get their answer cannot even leave (`_advance`
    waits on the held condition), and the worker is SIGKILLed (Heroku: 30 s) with "Resuming…" left in channels
    and the schedules never handed back. Promise: resumes still waiting for Truedy at `interrupt_at` end as
    interrupted; no "is resuming…" is ever left behind. (A flow whose write is still pending at the interrupt
    deadline could be ended without waiting: its write has not returned, so nothing has left yet.)"""
    workspaces.seed_keys({TEAM.team_id: "truedy_key_bot"})
    slow = SlowTruedy()
    resumes = ResumeService(
        slow, workspaces, Authorizer(), InFlightResumes(engine), AuditLog(engine), PollSchedule(engine)
    )
    flows = ResumeFlows(resumes, threads=2)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    writing, database_back = threading.Event(), threading.Event()

    def hanging_write() -> bool:  # the moment of sending being recorded, on a database that does not answer
        writing.set()
        database_back.wait(15)
        return True

    waiting_on_truedy, recording = Recorded(), Recorded()
    request = lambda campaign: ResumeRequest(TEAM.team_id, "U0ALICE01", CampaignId(campaign), "command")  # noqa: E731
    assert flows.start(request("batch_waiting01"), waiting_on_truedy, client, _say_nothing) is None
    wait_until(lambda: slow.calls, 5, "the first resume's request on its way to Truedy")
    started = flows.start(request("batch_writing01"), recording, client, _say_nothing, before_sending=hanging_write)
    assert started is None
    assert writing.wait(5), "the second resume recording its sending"

    stopping = time.monotonic()
    finished = threading.Event()
    shutdown = threading.Thread(
        target=lambda: (flows.shut_down(stopping, stopping + 0.3, stopping + 1.5), finished.set()), daemon=True
    )
    shutdown.start()
    try:
        wait_until(
            lambda: waiting_on_truedy.endings,
            3,
            "the resume waiting on Truedy to be told it was interrupted at the interrupt deadline",
        )
        assert isinstance(waiting_on_truedy.endings[0], Interrupted)
        wait_until(finished.is_set, 3, "the shutdown to return by its deadline")
    finally:
        database_back.set()
        slow.answer.set()
        shutdown.join(20)
