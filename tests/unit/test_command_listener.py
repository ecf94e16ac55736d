"""The /resume-campaign listener and its background half, called as plain functions."""

from datetime import UTC, datetime

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot import truedy
from bot.background import BackgroundWork
from bot.listeners.commands import announce_and_resume, resume_campaign
from bot.resume import AlreadyResuming, ResumeRequest
from bot.services import Services

REQUEST = ResumeRequest("T0BOT0001", "U0ALICE01", "batch_c3d4e5f6", via="command")
COMMAND = {"team_id": "T0BOT0001", "user_id": "U0ALICE01", "channel_id": "C0OPS0001", "text": "batch_c3d4e5f6"}


class Recorder:
    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)


class StubResumes:
    def __init__(self, outcome=None, raises: Exception | None = None, teams=("T0BOT0001",), holder=None):
        self.outcome, self.raises, self.teams, self.holder = outcome, raises, teams, holder
        self.requests, self.released = [], []

    def serves(self, team_id):
        return team_id in self.teams

    def claim(self, request):
        return self.holder

    def release(self, request):
        self.released.append(request)

    def resume(self, request):
        self.requests.append(request)
        if self.raises:
            raise self.raises
        return self.outcome


class StubClient:
    def __init__(self, fail_post_with: str | None = None):
        self.fail_post_with = fail_post_with
        self.posts, self.updates = [], []

    def chat_postMessage(self, **kwargs):
        if self.fail_post_with:
            raise SlackApiError(
                "refused",
                SlackResponse(
                    client=None,
                    http_verb="POST",
                    api_url="",
                    req_args={},
                    data={"ok": False, "error": self.fail_post_with},
                    headers={},
                    status_code=200,
                ),
            )
        self.posts.append(kwargs)
        return {"channel": kwargs["channel"], "ts": f"1.{len(self.posts)}"}

    def chat_update(self, **kwargs):
        self.updates.append(kwargs)


def run_listener(services, text="batch_c3d4e5f6", team_id="T0BOT0001"):
    ack, respond = Recorder(), Recorder()
    resume_campaign(
        ack=ack,
        command={**COMMAND, "text": text, "team_id": team_id},
        respond=respond,
        client=StubClient(),
        context={"services": services},
    )
    return ack.calls


def test_a_valid_command_is_queued_then_acked_silently():
    background = BackgroundWork(2)
    resumes = StubResumes(truedy.Resumed("batch_c3d4e5f6", "active", None, None))
    assert run_listener(Services(resumes, background)) == [{}]
    assert background.drain(5) == 0
    assert resumes.requests == [ResumeRequest("T0BOT0001", "U0ALICE01", "batch_c3d4e5f6", via="command")]


def test_after_shutdown_began_a_command_is_refused_politely():
    background = BackgroundWork(2)
    background.drain(0)
    resumes = StubResumes()
    (ack,) = run_listener(Services(resumes, background))
    assert ack["response_type"] == "ephemeral"
    assert "restarting" in ack["text"] and "Nothing was resumed" in ack["text"]
    assert resumes.requests == []
    assert resumes.released == [REQUEST]


def test_a_campaign_someone_is_resuming_is_not_resumed_twice():
    background = BackgroundWork(1)
    resumes = StubResumes(holder=AlreadyResuming("U0BOB0001", datetime(2026, 4, 5, 11, tzinfo=UTC)))
    (ack,) = run_listener(Services(resumes, background))
    assert background.drain(1) == 0
    assert ack["response_type"] == "ephemeral"
    assert ack["text"].startswith(":hourglass_flowing_sand: <@U0BOB0001> is already resuming `batch_c3d4e5f6`")
    assert resumes.requests == []


@pytest.mark.parametrize(
    "text, team_id, expected",
    [
        ("", "T0BOT0001", "Resume a paused Truedy campaign"),
        ("../x", "T0BOT0001", "is not a campaign id"),
        ("batch_c3d4e5f6", "T0NOKEY01", "no Truedy API key"),
    ],
)
def test_problems_of_the_requester_are_private(text, team_id, expected):
    background = BackgroundWork(1)
    (ack,) = run_listener(Services(StubResumes(), background), text=text, team_id=team_id)
    assert ack["response_type"] == "ephemeral" and expected in ack["text"]
    assert background.drain(1) == 0


def test_the_result_goes_into_the_announcements_thread():
    client, respond = StubClient(), Recorder()
    announce_and_resume(StubResumes(truedy.KeyRejected("x", "req_1")), REQUEST, "C0OPS0001", client, respond)
    announcement, reply = client.posts
    assert "is resuming" in announcement["text"]
    assert reply["thread_ts"] == "1.1" and "rejected this workspace's API key" in reply["text"]
    assert client.updates[0]["ts"] == "1.1" and "could not resume" in client.updates[0]["text"]
    assert respond.calls == []


def test_an_unexpected_failure_is_still_reported_and_the_announcement_corrected():
    client, respond = StubClient(), Recorder()
    with pytest.raises(RuntimeError):
        announce_and_resume(StubResumes(raises=RuntimeError("bug")), REQUEST, "C0OPS0001", client, respond)
    assert "can't tell whether Truedy resumed it" in respond.calls[0]["text"]
    assert "can't tell whether Truedy resumed it" in client.updates[0]["text"]


def test_when_slack_refuses_the_channel_the_requester_hears_privately():
    client, respond = StubClient(fail_post_with="not_in_channel"), Recorder()
    announce_and_resume(
        StubResumes(truedy.Resumed("batch_c3d4e5f6", "active", None, None)), REQUEST, "C0OPS0001", client, respond
    )
    notice, result = respond.calls
    assert "only you will see the result" in notice["text"]
    assert "is resumed" in result["text"] and result["response_type"] == "ephemeral"
