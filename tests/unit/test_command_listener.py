"""The /resume-campaign listener and its background half, called as plain functions."""

import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot import storage, truedy
from bot.authorization import Authorizer
from bot.background import BackgroundWork
from bot.resume import ResumeRequest, ResumeService
from bot.resume_flow import ResumeFlows
from bot.services import Services
from bot.slack import resume_all_requests
from bot.slack.listeners.commands import resume_campaign, start_resume
from bot.slack.surfaces import Announcement
from bot.slack.tokens import OneToken, TokenIdentity
from bot.storage.alert_channels import AlertChannelProblems
from bot.storage.alert_records import AlertRecords
from bot.storage.audit import AuditLog
from bot.storage.digests import AlertDigests
from bot.storage.inflight import AlreadyResuming, Claim, InFlightResumes
from bot.storage.keybox import KeyBox
from bot.storage.pause_again import PauseOffers
from bot.storage.poll_turns import PollSchedule
from bot.storage.reminders import PauseReminders
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.schedules import ScheduledResumes
from bot.storage.step_runs import StepRuns
from bot.storage.workspace_settings import SetupChoices, WorkspaceId, Workspaces
from bot.truedy.campaign_id import CampaignId
from tests.fakes.truedy import StubTruedyClient
from tests.fakes.worker import ENCRYPTION_KEY

REQUEST = ResumeRequest("T0BOT0001", "U0ALICE01", CampaignId("batch_c3d4e5f6"), via="command")
COMMAND = {
    "team_id": "T0BOT0001",
    "user_id": "U0ALICE01",
    "channel_id": "C0OPS0001",
    "text": "batch_c3d4e5f6",
    "trigger_id": "1.2.3",
    "response_url": "http://127.0.0.1:9/response",
}


class Recorder:
    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)


class StubClient:
    def __init__(self, fail_post_with: str | None = None, unreachable: bool = False):
        self.fail_post_with, self.unreachable = fail_post_with, unreachable
        self.posts, self.updates = [], []

    def chat_postMessage(self, **kwargs):
        if self.unreachable:
            raise urllib.error.URLError(ConnectionResetError("connection reset by peer"))
        if self.fail_post_with:
            response = SlackResponse(
                client=None,
                http_verb="POST",
                api_url="",
                req_args={},
                data={"ok": False, "error": self.fail_post_with},
                headers={},
                status_code=200,
            )
            raise SlackApiError("refused", response)
        self.posts.append(kwargs)
        return {"channel": kwargs["channel"], "ts": f"1.{len(self.posts)}"}

    def chat_update(self, **kwargs):
        self.updates.append(kwargs)

    def auth_test(self):
        return {"ok": True, "user_id": "U0BOT0001"}


@pytest.fixture
def stack(engine, workspaces):
    """Services on a real database, Truedy stubbed; `stack.truedy.answer` decides the outcome."""
    workspaces.seed_keys({"T0BOT0001": "truedy_key_bot"})
    client = StubTruedyClient(truedy.Resumed("batch_c3d4e5f6", "active", None, None))
    audit, in_flight = AuditLog(engine), InFlightResumes(engine)
    resumes = ResumeService(client, workspaces, Authorizer(), in_flight, audit, PollSchedule(engine))
    return Services(
        resumes=resumes,
        workspaces=workspaces,
        audit=audit,
        alerts=AlertRecords(engine),
        answers=BackgroundWork("answer", 2),
        lookups=BackgroundWork("lookup", 2),
        flows=ResumeFlows(resumes, 2),
        truedy=client,
        setup_checks=ThreadPoolExecutor(1),
        channel_problems=AlertChannelProblems(engine),
        tokens=OneToken(StubClient(), TokenIdentity("T0BOT0001", "", org_wide=False)),
        digests=AlertDigests(engine),
        resume_all=ResumeAllJobs(engine),
        resume_all_per_minute=90,
        schedules=ScheduledResumes(engine),
        step_runs=StepRuns(engine),
        steps_owner="steps-test",
        in_flight=in_flight,
        pause_offers=PauseOffers(engine),
        reminders=PauseReminders(engine),
        undo_minutes=0,  # Pause again: tests/e2e/test_pause_again.py
    )


def finish(services: Services) -> None:
    """Wait until every answer and resume the services started has ended."""
    assert services.answers.drain(5) == 0
    assert services.lookups.drain(5) == 0
    soon = time.monotonic() + 5
    assert services.flows.shut_down(soon, soon, soon) == 0


def run_listener(services, text="batch_c3d4e5f6", team_id="T0BOT0001", user_id="U0ALICE01"):
    """The listener's acks, then (once everything it started has finished) what it told the requester."""
    services = replace(
        services,
        answers=BackgroundWork("answer", 2),
        lookups=BackgroundWork("lookup", 2),
        flows=ResumeFlows(services.resumes, 2),
    )
    ack, respond = Recorder(), Recorder()
    command = {**COMMAND, "text": text, "team_id": team_id, "user_id": user_id}
    context = {"services": services, "team_id": team_id}
    resume_campaign(ack=ack, command=command, respond=respond, client=StubClient(), context=context)
    finish(services)
    return ack.calls, respond.calls


def test_a_valid_command_is_acked_silently_then_resumed(stack):
    acks, told = run_listener(stack)
    assert acks == [{}]
    assert told == []  # everything went into the channel
    assert stack.truedy.calls == [("truedy_key_bot", "batch_c3d4e5f6")]


def test_after_shutdown_began_a_command_is_refused_politely(stack):
    stack.answers.drain(0)
    ack = Recorder()
    context = {"services": stack, "team_id": "T0BOT0001"}
    resume_campaign(ack=ack, command=COMMAND, respond=Recorder(), client=StubClient(), context=context)
    (ack,) = ack.calls
    assert ack["response_type"] == "ephemeral"
    assert "restarting" in ack["text"] and "Nothing was resumed" in ack["text"]
    assert stack.truedy.calls == []


def test_a_campaign_someone_is_resuming_is_not_resumed_twice(stack):
    assert isinstance(
        stack.resumes.claim(ResumeRequest("T0BOT0001", "U0BOB0001", CampaignId("batch_c3d4e5f6"), "button")), Claim
    )
    acks, (told,) = run_listener(stack)
    assert acks == [{}]
    assert told["response_type"] == "ephemeral"
    assert told["text"].startswith(":hourglass_flowing_sand: <@U0BOB0001> is already resuming `batch_c3d4e5f6`")
    assert stack.truedy.calls == []


def test_a_restricted_workspace_refuses_others_naming_who_may(stack):
    choices = SetupChoices(None, None, ("U0BOB0001", "U0CAROL01"), ())
    stack.workspaces.save_setup(WorkspaceId("", "T0BOT0001"), choices, "U0ADMIN01")
    _, (told,) = run_listener(stack, user_id="U0ALICE01")
    assert told["text"].startswith(":lock: Only <@U0BOB0001> or <@U0CAROL01> may resume campaigns")
    assert run_listener(stack, user_id="U0BOB0001") == ([{}], [])
    assert len(stack.truedy.calls) == 1
    assert [e.outcome for e in stack.audit.latest("T0BOT0001")] == ["resumed", "not_allowed"]


def test_resume_all_and_its_buttons_are_refused_to_those_a_restricted_workspace_does_not_allow(stack):
    workspace = WorkspaceId("", "T0BOT0001")
    stack.workspaces.save_setup(workspace, SetupChoices(None, None, ("U0BOB0001",), ()), "U0ADMIN01")
    _, (told,) = run_listener(stack, text="resume-all", user_id="U0ALICE01")
    assert told["text"].startswith(":lock: Only <@U0BOB0001> may resume campaigns")
    job_id = stack.resume_all.propose(workspace, "U0ALICE01", "C0OPS0001", [("batch_c3d4e5f6", "Wave")])
    for answer, value in ((resume_all_requests.start, f'{{"job":{job_id}}}'), (resume_all_requests.cancel, "1")):
        respond = Recorder()
        answer(stack, workspace, "U0ALICE01", value, StubClient(), respond)
        assert respond.calls[0]["text"].startswith(":lock: Only <@U0BOB0001>")
    assert stack.resume_all.get(job_id).state == "proposed" and stack.truedy.calls == []


def test_resume_all_of_a_digest_with_nothing_left_paused_starts_nothing(stack):
    workspace = WorkspaceId("", "T0BOT0001")
    campaign = truedy.Campaign("batch_c3d4e5f6", "Wave", "paused", *[None] * 7)
    digest_id = stack.digests.create(workspace, "C0OPS0001", [campaign])
    stack.digests.set_row(digest_id, campaign.id, "resumed", "Resumed")
    respond, client = Recorder(), StubClient()
    resume_all_requests.start(stack, workspace, "U0ALICE01", f'{{"digest":{digest_id}}}', client, respond)
    assert respond.calls[0]["text"].startswith("Every campaign of this digest was resumed or is not paused any more")
    assert client.posts == [] and stack.resume_all.running_in(workspace) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("help", "Resume a paused Truedy campaign"),
        ("../x", "is not a campaign id"),
        ("history ../x", "is not a campaign id"),
    ],
)
def test_what_needs_no_database_is_answered_in_the_ack(stack, text, expected):
    (ack,), told = run_listener(stack, text=text)
    assert ack["response_type"] == "ephemeral" and expected in ack["text"]
    assert told == [] and stack.truedy.calls == []


@pytest.mark.parametrize(
    "text, team_id, expected",
    [
        ("batch_c3d4e5f6", "T0NOKEY01", "not connected to Truedy yet"),
        ("status", "T0BOT0001", "• Truedy API key: saved, ending in `_bot` (from the environment; not checked)"),
        ("status", "T0NOKEY01", "• Truedy API key: none: this workspace is not connected"),
        ("history", "T0BOT0001", "No resume attempts recorded"),
    ],
)
def test_answers_that_concern_only_the_requester_are_private(stack, text, team_id, expected):
    acks, (told,) = run_listener(stack, text=text, team_id=team_id)
    assert acks == [{}]
    assert told["response_type"] == "ephemeral" and expected in told["text"]
    assert stack.truedy.calls == []


def test_an_unreachable_database_is_said_and_nothing_is_called(stack):
    gone = storage.connect("postgresql://nobody@127.0.0.1:1/none")
    workspaces = Workspaces(gone, KeyBox(ENCRYPTION_KEY))
    resumes = ResumeService(
        stack.truedy, workspaces, Authorizer(), InFlightResumes(gone), AuditLog(gone), PollSchedule(gone)
    )
    acks, (told,) = run_listener(replace(stack, workspaces=workspaces, resumes=resumes))
    assert acks == [{}]
    assert "can't reach my database" in told["text"] and "nothing was resumed" in told["text"]
    assert stack.truedy.calls == []


def resume_with(stack, client) -> Recorder:
    respond = Recorder()
    start_resume(stack, REQUEST, "C0OPS0001", client, respond)
    finish(stack)
    return respond


def test_the_result_goes_into_the_announcements_thread(stack):
    client = StubClient()
    stack.truedy.answer = truedy.KeyRejected("x", "req_1")
    respond = resume_with(stack, client)
    _, reply = client.posts
    assert reply["thread_ts"] == "1.1" and "rejected this workspace's API key" in reply["text"]
    assert client.updates[0]["ts"] == "1.1" and "could not resume" in client.updates[0]["text"]
    assert respond.calls == []


def test_an_unexpected_failure_is_still_reported_and_the_announcement_corrected(stack):
    client = StubClient()
    stack.truedy.answer = RuntimeError("bug")
    resume_with(stack, client)
    assert "*may have resumed*: something went wrong inside the bot" in client.posts[1]["text"]
    assert "before trying again" in client.posts[1]["text"]
    assert "may have resumed" in client.updates[0]["text"]
    assert isinstance(stack.resumes.claim(REQUEST), Claim)


def test_a_slack_network_error_after_the_claim_releases_it(stack):
    with pytest.raises(urllib.error.URLError):
        start_resume(stack, REQUEST, "C0OPS0001", StubClient(unreachable=True), Recorder())
    assert stack.truedy.calls == []
    resume_with(stack, StubClient())  # a retry right after reaches Truedy
    assert stack.truedy.calls == [("truedy_key_bot", "batch_c3d4e5f6")]


def test_when_slack_refuses_the_channel_the_requester_hears_privately(stack):
    respond = resume_with(stack, StubClient(fail_post_with="not_in_channel"))
    notice, result = respond.calls
    assert "only you will see the result" in notice["text"]
    assert "Invite <@U0BOT0001> to the channel" in notice["text"]
    assert "is resumed" in result["text"] and result["response_type"] == "ephemeral"


def test_a_resume_that_waited_past_its_claim_sends_nothing_if_someone_took_the_campaign(stack, engine):
    """The claim expired while the resume was queued, and another worker claimed it: no second POST."""
    client, respond = StubClient(), Recorder()
    mine = stack.resumes.admit(REQUEST, client)
    assert isinstance(mine, Claim)
    with engine.begin() as connection:
        connection.execute(storage.resume_locks.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    bob = ResumeRequest("T0BOT0001", "U0BOB0001", CampaignId("batch_c3d4e5f6"), "button")
    assert isinstance(stack.resumes.claim(bob), Claim)
    surface = Announcement(client, respond, "C0OPS0001", REQUEST)
    surface.show_resuming()
    assert stack.resumes.resume(REQUEST, mine).user_id == "U0BOB0001"
    assert stack.truedy.calls == []


def test_the_claim_is_held_until_the_final_state_is_shown(stack):
    """Nobody (a second click, the watcher) can take the campaign while its result is still being shown."""
    held_while_ending = []

    class Spy(Announcement):
        def show_ending(self, ending) -> None:
            bob = ResumeRequest("T0BOT0001", "U0BOB0001", CampaignId("batch_c3d4e5f6"), "button")
            held_while_ending.append(stack.resumes.claim(bob))
            super().show_ending(ending)

    client, respond = StubClient(), Recorder()
    stack.flows.start(REQUEST, Spy(client, respond, "C0OPS0001", REQUEST), client, respond)
    finish(stack)
    assert isinstance(held_while_ending[0], AlreadyResuming)
    assert isinstance(stack.resumes.claim(REQUEST), Claim)  # released right after


class JobsThatFailToConfirm(ResumeAllJobs):
    def confirm(self, *args, **kwargs):
        raise storage.DatabaseError("the database went away")


def test_a_database_error_right_after_the_progress_message_leaves_it_saying_so(stack, engine):
    workspace = WorkspaceId("", "T0BOT0001")
    jobs = JobsThatFailToConfirm(engine)
    job_id = jobs.propose(workspace, "U0ALICE01", "C0RESALL1", [("batch_c3d4e5f6", None)])
    client, respond = StubClient(), Recorder()
    with pytest.raises(storage.DatabaseError):
        resume_all_requests.start(
            replace(stack, resume_all=jobs), workspace, "U0ALICE01", f'{{"job":{job_id}}}', client, respond
        )
    (posted,) = client.posts
    assert "Resuming all paused campaigns" in posted["text"]
    (final,) = client.updates
    assert final["ts"] == "1.1" and final["text"].startswith(":warning: *Resume all did not start*")
