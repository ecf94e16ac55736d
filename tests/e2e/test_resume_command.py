"""/resume-campaign through the real worker process, a fake Slack over Socket Mode and a fake Truedy."""

import itertools
import re
from datetime import UTC, datetime

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, KEY_OTHER_TEAM
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_USER
from tests.fakes.truedy import Scripted, campaign, in_a_minute

_numbers = itertools.count(1)


def new_campaign_id() -> str:
    return f"batch_e2e{next(_numbers):05d}"


def new_channel() -> str:
    return f"C0CHAN{next(_numbers):04d}"


def test_resume_posts_who_asked_and_the_result_in_the_thread(stack):
    campaign_id, channel = new_campaign_id(), new_channel()
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))

    payload, ack = stack.command(f"  `{campaign_id}` ", channel_id=channel)

    assert ack.latency < 3
    assert ack.payload in (None, {})  # nothing private: the channel hears it
    announcement, reply, update = stack.result_in_thread(channel, campaign_id)
    assert announcement.params["text"] == f":hourglass_flowing_sand: <@U0ALICE01> is resuming `{campaign_id}`…"
    resumed = [r for r in stack.truedy.resumes() if campaign_id in r.path]
    assert [(r.method, r.path, r.query) for r in resumed] == [
        ("POST", f"/api/public/v1/batch-calls/{campaign_id}/resume", "")
    ]
    assert resumed[0].authorization == f"Bearer {KEY_BOT_TEAM}"
    assert stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "running"
    assert reply.params["channel"] == channel
    assert f"`{campaign_id}` is resumed. Resumed <!date^" in reply.params["text"]
    assert re.search(r"Truedy request id: `req_[0-9a-f]{8}`", str(reply.params["blocks"]))
    assert update.params["text"].startswith(f":arrow_forward: <@U0ALICE01> resumed `{campaign_id}` <!date^")
    assert stack.slack.responses_to(payload) == []


def test_resume_date_is_the_one_truedy_gave(stack):
    campaign_id, channel = new_campaign_id(), new_channel()
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    stack.truedy.script(
        Scripted(
            201,
            {
                "data": {"id": campaign_id, "status": "active", "resumed_at": "2026-04-05T11:00:00Z"},
                "meta": {"request_id": "req_32e7531c", "ts": "2026-04-05T10:22:00Z"},
            },
        )
    )
    stack.command(campaign_id, channel_id=channel)
    _, reply, _ = stack.result_in_thread(channel, campaign_id)
    epoch = int(datetime(2026, 4, 5, 11, tzinfo=UTC).timestamp())
    assert f"<!date^{epoch}^{{date_short_pretty}} at {{time}}|2026-04-05 11:00 UTC>" in reply.params["text"]
    assert "req_32e7531c" in reply.params["text"]


def test_resume_into_a_future_start_says_it_is_scheduled(stack):
    campaign_id, channel = new_campaign_id(), new_channel()
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id, scheduled_at=in_a_minute()))
    stack.command(campaign_id, channel_id=channel)
    _, reply, _ = stack.result_in_thread(channel, campaign_id)
    assert "scheduled again" in reply.params["text"]


def test_a_command_from_a_workspace_the_token_does_not_serve_is_refused(stack):
    """The app installed elsewhere too: that workspace is not served with this one's token and key."""
    campaign_id, channel = new_campaign_id(), new_channel()
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    _, ack = stack.command(campaign_id, channel_id=channel, team_id="T0OTHER01")
    assert ack.payload["response_type"] == "ephemeral"
    assert "This bot serves another Slack workspace" in ack.payload["text"]
    assert [r for r in stack.truedy.received if campaign_id in r.path] == []
    assert stack.slack.posts_in(channel) == []


def test_another_workspaces_campaign_is_not_found_with_this_workspaces_key(stack):
    campaign_id, channel = new_campaign_id(), new_channel()
    stack.truedy.add(KEY_OTHER_TEAM, campaign(campaign_id))
    stack.command(campaign_id, channel_id=channel)  # from the bot's own workspace
    _, reply, _ = stack.result_in_thread(channel, campaign_id)
    assert "no campaign with this id in this workspace's account" in reply.params["text"]
    assert stack.truedy.status_of(KEY_OTHER_TEAM, campaign_id) == "paused"
    assert {r.authorization for r in stack.truedy.received if campaign_id in r.path} == {f"Bearer {KEY_BOT_TEAM}"}


@pytest.mark.parametrize("text", ["help", " HELP "])
def test_help_is_private_and_calls_nothing(stack, text):
    channel = new_channel()
    before = len(stack.truedy.received)
    _, ack = stack.command(text, channel_id=channel)
    assert ack.payload["response_type"] == "ephemeral"
    assert "`/resume-campaign <campaign id>`" in ack.payload["text"]
    assert len(stack.truedy.received) == before
    assert stack.slack.posts_in(channel) == []


@pytest.mark.parametrize(
    "text",
    [
        "../admin",
        "batch_1/../../api-keys",
        "batch_1?status=paused",
        "batch_1#frag",
        "%2e%2e%2fapi-keys",
        "batch_1%2Fresume",
        "<@U0BOB0001>",
        "<!channel>",
        "batch\x00id",
        "batch\x1b[31m",
        "x" * 300,
        "batch_1\nbatch_2",
        "b",
    ],
)
def test_anything_but_a_campaign_id_gets_a_readable_error_and_reaches_nothing(stack, text):
    channel = new_channel()
    before = len(stack.truedy.received)
    _, ack = stack.command(text, channel_id=channel)
    assert ack.payload["response_type"] == "ephemeral"
    assert "is not a campaign id" in ack.payload["text"]
    assert "Nothing was resumed" in ack.payload["text"]
    assert "<!channel>" not in ack.payload["text"] and "<@U0BOB0001>" not in ack.payload["text"]
    assert len(stack.truedy.received) == before
    assert stack.slack.posts_in(channel) == []


def error_body(status: int, code: str, message: str, details: dict | None = None, request_id="req_e2e0001"):
    body = {
        "error": {"code": code, "message": message, **({"details": details} if details else {})},
        "meta": {"request_id": request_id, "ts": "2026-04-05T10:22:00Z"},
    }
    return Scripted(status, body)


HTML = Scripted(502, raw="<html><h1>502 Bad Gateway</h1></html>", content_type="text/html")


@pytest.mark.parametrize(
    "answers, summary, detail, request_id",
    [
        (
            [error_body(422, "validation_error", "Current status: running")],
            "but it is already running",
            "Nothing to do",
            "req_e2e0001",
        ),
        (
            [error_body(409, "conflict", "Campaign is completed", {"status": "completed"})],
            "but it has completed",
            "nothing left to resume",
            "req_e2e0001",
        ),
        (
            [error_body(400, "bad_request", "Invalid request parameters"), "get:cancelled"],
            "but it was cancelled",
            "create a new campaign",
            "req_e2e0001",
        ),
        (
            [error_body(401, "unauthorized", "Invalid or missing API key")],
            "could not resume",
            "Truedy rejected this workspace's API key",
            "req_e2e0001",
        ),
        (
            [error_body(402, "payment_required", "Insufficient credits")],
            "billing reason",
            "Truedy said: “Insufficient credits”",
            "req_e2e0001",
        ),
        ([error_body(403, "forbidden", "IP not whitelisted")], "IP address", "allow-list", "req_e2e0001"),
        (
            [error_body(404, "not_found", "Batch_Call not found")],
            "no campaign with this id",
            "Check the id",
            "req_e2e0001",
        ),
        (
            [
                error_body(
                    429,
                    "rate_limit_exceeded",
                    "Rate limit exceeded",
                    {"limit": 100, "reset_at": "2026-03-03T12:01:00.000000Z"},
                )
            ],
            "rate limit",
            "Try again after <!date^1772539260^",
            "req_e2e0001",
        ),
        (
            [Scripted(429, {"error": {"code": "rate_limit_exceeded", "message": "x"}}, headers={"Retry-After": "30"})],
            "rate limit",
            "Try again after <!date^",
            None,
        ),
        (
            [error_body(500, "internal_error", "An unexpected error occurred")],
            "internal error (HTTP 500)",
            "most likely did not resume",
            "req_e2e0001",
        ),
        ([HTML], "HTTP 502", "most likely did not resume", None),
        (
            [Scripted(200, raw="<html>Sign in to the proxy</html>", content_type="text/html")],
            "accepted the request (HTTP 200)",
            "probably resumed",
            None,
        ),
        ([Scripted(hang=True)], "did not answer within 1 seconds", "before trying again", None),
        ([Scripted(drop=True)], "connection to Truedy broke", "before trying again", None),
    ],
)
def test_every_truedy_failure_is_reported_in_the_thread(stack, answers, summary, detail, request_id):
    campaign_id, channel = new_campaign_id(), new_channel()
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id, status="paused"))
    for answer in answers:
        if answer == "get:cancelled":
            answer = Scripted(
                200, {"data": campaign(campaign_id, status="cancelled"), "meta": {"request_id": "req_get", "ts": "x"}}
            )
        stack.truedy.script(answer)

    _, ack = stack.command(campaign_id, channel_id=channel)

    assert ack.latency < 3
    _, reply, update = stack.result_in_thread(channel, campaign_id)
    assert summary in update.params["text"]
    # Only a definite answer reads "not resumed": without one (5xx, unreadable, none) it may have resumed.
    unknown = any(word in summary for word in ("HTTP 5", "HTTP 200", "did not answer", "connection to Truedy broke"))
    said = "*may have resumed*" if unknown else "was not resumed"
    assert f"`{campaign_id}` {said}" in reply.params["text"]
    assert detail in reply.params["text"]
    if request_id:
        assert f"Truedy request id: `{request_id}`" in str(reply.params["blocks"])
    else:
        assert "request id" not in reply.params["text"]
    paths = [r.path for r in stack.truedy.received if campaign_id in r.path]
    assert paths[0] == f"/api/public/v1/batch-calls/{campaign_id}/resume"
    assert set(paths[1:]) <= {f"/api/public/v1/batch-calls/{campaign_id}"}


def test_acks_stay_fast_while_truedy_hangs(stack):
    channel = new_channel()
    ids = [new_campaign_id() for _ in range(12)]  # more than Bolt's 5 listener threads
    for campaign_id in ids:
        stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    stack.truedy.script(*[Scripted(hang=True) for _ in ids])
    envelopes = stack.slack.push_many(
        [("slash_commands", stack.slack.slash_command(campaign_id, channel_id=channel)) for campaign_id in ids]
    )
    acks = [stack.slack.wait_ack(envelope) for envelope in envelopes]
    assert max(ack.latency for ack in acks) < 1
    for campaign_id in ids:
        _, reply, _ = stack.result_in_thread(channel, campaign_id)
        assert "did not answer" in reply.params["text"]


@pytest.mark.parametrize(
    "error, channel",
    [("not_in_channel", "C0NOTIN01"), ("channel_not_found", "G0PRIVATE"), ("channel_not_found", "D0DIRECT1")],
)
def test_where_the_bot_cannot_post_the_requester_still_hears_everything(stack, error, channel):
    campaign_id = new_campaign_id()
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    stack.slack.fail("chat.postMessage", error, channel=channel)

    payload, ack = stack.command(campaign_id, channel_id=channel)

    assert ack.payload in (None, {})
    responses = wait_until(
        lambda: len(stack.slack.responses_to(payload)) >= 2 and stack.slack.responses_to(payload),
        10,
        "two private responses",
    )
    notice, result = (r.params for r in responses)
    assert notice["response_type"] == result["response_type"] == "ephemeral"
    assert "only you will see the result" in notice["text"]
    assert f"Invite <@{BOT_USER}> to the channel" in notice["text"]  # shown by Slack with the app's current name
    assert f"`{campaign_id}` is resumed" in result["text"]
    assert stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "running"


def test_one_log_line_per_attempt_without_secrets(stack):
    campaign_id, channel = new_campaign_id(), new_channel()
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    stack.command(campaign_id, channel_id=channel, user_id="U0CAROL01")
    stack.result_in_thread(channel, campaign_id)
    lines = [line for line in stack.worker.logged("resume_attempt") if line["campaign"] == campaign_id]
    assert len(lines) == 1
    line = lines[0]
    assert {k: line[k] for k in ("team", "user", "campaign", "via", "outcome")} == {
        "team": "T0BOT0001",
        "user": "U0CAROL01",
        "campaign": campaign_id,
        "via": "command",
        "outcome": "resumed",
    }
    assert re.fullmatch(r"req_[0-9a-f]{8}", line["truedy_request_id"])
    assert isinstance(line["latency_ms"], int)
    everything = stack.worker.stdout() + stack.worker.stderr()
    for secret in (KEY_BOT_TEAM, KEY_OTHER_TEAM, stack.slack.bot_token, stack.slack.app_token):
        assert secret not in everything


def test_a_rate_limited_announcement_is_retried_after_retry_after(stack):
    campaign_id, channel = new_campaign_id(), new_channel()
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    stack.slack.fail("chat.postMessage", "ratelimited", channel=channel, retry_after=1)
    stack.command(campaign_id, channel_id=channel)
    _, reply, _ = stack.result_in_thread(channel, campaign_id)
    assert "is resumed" in reply.params["text"]
    first, second = stack.slack.posts_in(channel)[:2]
    assert first.answer["error"] == "ratelimited" and second.answer["ok"]
    assert second.at - first.at >= 0.9


def test_a_slack_network_error_after_the_claim_does_not_block_a_retry(stack):
    """Slack unreachable while announcing (after the campaign was claimed): the requester is told nothing
    was resumed, and trying again right away reaches Truedy instead of "already resuming"."""
    campaign_id, channel = new_campaign_id(), new_channel()
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    stack.slack.fail("chat.postMessage", "connection_dropped", channel=channel, times=2)  # slack_sdk retries once
    payload, _ = stack.command(campaign_id, channel_id=channel)
    told = stack.private_reply(payload)
    assert "nothing was resumed" in told["text"]
    assert not [r for r in stack.truedy.resumes() if campaign_id in r.path]

    stack.command(campaign_id, channel_id=channel)
    _, reply, _ = stack.result_in_thread(channel, campaign_id)
    assert f"`{campaign_id}` is resumed" in reply.params["text"]
