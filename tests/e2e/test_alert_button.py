"""Paused-campaign alerts: posted by `python -m bot alert`, resumed with the button, over the real worker."""

import itertools

import pytest
from sqlalchemy import select

from bot import storage
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.truedy import Scripted, campaign

DASHBOARD = "https://app.truedy.test/campaigns/{id}"
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def stack(loop, tmp_path_factory):
    running = start_stack(
        loop, tmp_path_factory.mktemp("alerts"), TRUEDY_READ_TIMEOUT="1", TRUEDY_DASHBOARD_URL=DASHBOARD
    )
    yield running
    stop_stack(running)


@pytest.fixture
def paused(stack):
    """A paused campaign in the bot workspace's account, its alert posted by the CLI: (id, channel, ts)."""
    number = next(_numbers)
    campaign_id, channel = f"batch_alert{number:04d}", f"C0ALERT{number:03d}"
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    return campaign_id, channel, stack.post_alert(campaign_id, channel)


def click(stack, channel, ts, **payload_fields):
    payload = stack.slack.click(channel, ts, **payload_fields)
    return payload, stack.slack.wait_ack(stack.slack.push("interactive", payload))


def updates_of(stack, channel, ts):
    return [
        c.params
        for c in stack.slack.calls_to("chat.update")
        if c.params["channel"] == channel and c.params["ts"] == ts and c.answer.get("ok")
    ]


def wait_updates(stack, channel, ts, count):
    return wait_until(
        lambda: len(updates_of(stack, channel, ts)) >= count and updates_of(stack, channel, ts),
        15,
        f"{count} updates of the alert",
    )


def buttons(blocks):
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def state(blocks):
    return next(b["text"]["text"] for b in blocks if b.get("block_id") == "campaign_state")


def thread_replies(stack, channel, thread_ts):
    return [c.params for c in stack.slack.posts_in(channel) if c.params.get("thread_ts") == thread_ts]


def private_responses(stack, payload):
    return wait_until(lambda: stack.slack.responses_to(payload), 10, "a private response")


# --- posting alerts ------------------------------------------------------------------------------------


def test_the_cli_posts_the_alert_as_the_app(stack, paused):
    campaign_id, channel, ts = paused
    post = stack.slack.posts_in(channel)[0]
    assert post.answer["ts"] == ts
    assert post.token == stack.slack.bot_token
    assert post.params["text"].startswith(f"Campaign paused: Q2 Outreach Campaign ({campaign_id})")
    assert buttons(post.params["blocks"]) == ["resume_campaign", "resume_later", "open_in_truedy"]
    resume, _, link = (e for b in post.params["blocks"] if b["type"] == "actions" for e in b["elements"])
    assert resume["value"] == campaign_id and resume["style"] == "primary" and "confirm" in resume
    assert link["url"] == f"https://app.truedy.test/campaigns/{campaign_id}"
    reads = [r for r in stack.truedy.received if campaign_id in r.path]
    assert [(r.method, r.path, r.authorization) for r in reads] == [
        ("GET", f"/api/public/v1/batch-calls/{campaign_id}", f"Bearer {KEY_BOT_TEAM}")
    ]


def test_the_cli_never_posts_for_another_workspace_with_this_workspaces_token(stack):
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_otheralert"))
    done = stack.run_bot("alert", "batch_otheralert", "--channel", "C0OTHERAL", "--team", "T0OTHER01")
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "alert not posted: SLACK_BOT_TOKEN belongs to workspace T0BOT0001, not T0OTHER01"
    )
    assert stack.slack.posts_in("C0OTHERAL") == []
    assert [r for r in stack.truedy.received if "batch_otheralert" in r.path] == []


@pytest.mark.parametrize(
    "args, setup, expected",
    [
        (
            ["batch_unknown01"],
            None,
            "could not read campaign batch_unknown01 from Truedy: Truedy has no campaign with this id in this "
            "workspace's account (Truedy request id req_",
        ),
        (["batch_running01"], "running", "campaign batch_running01 is active, not paused: no alert posted"),
        (
            ["batch_refused01"],
            "not_in_channel",
            "Slack refused the alert in C0CLIFAIL: not_in_channel (invite the bot to that channel first)",
        ),
        (["../etc"], None, "'../etc' is not a campaign id"),
    ],
)
def test_the_cli_fails_clearly_and_posts_nothing(stack, args, setup, expected):
    if setup == "running":
        stack.truedy.add(KEY_BOT_TEAM, campaign(args[0], status="running"))
    if setup == "not_in_channel":
        stack.truedy.add(KEY_BOT_TEAM, campaign(args[0]))
        stack.slack.fail("chat.postMessage", "not_in_channel", channel="C0CLIFAIL")
    done = stack.run_bot("alert", *args, "--channel", "C0CLIFAIL")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith(f"alert not posted: {expected}")
    assert not [c for c in stack.slack.posts_in("C0CLIFAIL") if c.answer.get("ok")]
    assert KEY_BOT_TEAM not in done.stderr


# --- the click -----------------------------------------------------------------------------------------


def test_a_click_resumes_in_the_alerts_thread_and_leaves_the_alert_resumed(stack, paused):
    campaign_id, channel, ts = paused
    _, ack = click(stack, channel, ts, user_id="U0BOB0001")
    assert ack.latency < 3

    resuming, final = wait_updates(stack, channel, ts, 2)
    assert state(resuming["blocks"]) == ":hourglass_flowing_sand: *Resuming…* requested by <@U0BOB0001>"
    assert buttons(resuming["blocks"]) == ["open_in_truedy"]
    resumes = [r for r in stack.truedy.resumes() if campaign_id in r.path]
    assert [(r.path, r.authorization) for r in resumes] == [
        (f"/api/public/v1/batch-calls/{campaign_id}/resume", f"Bearer {KEY_BOT_TEAM}")
    ]
    (reply,) = thread_replies(stack, channel, ts)
    assert f"`{campaign_id}` is resumed. Resumed <!date^" in reply["text"]
    assert state(final["blocks"]).startswith(":arrow_forward: *Resumed* by <@U0BOB0001> <!date^")
    assert buttons(final["blocks"]) == ["open_in_truedy", "pause_again"]  # Resume gone; its undo offered
    assert final["blocks"][0] == stack.slack.posts_in(channel)[0].params["blocks"][0]
    line = next(line for line in stack.worker.logged("resume_attempt") if line["campaign"] == campaign_id)
    assert (line["via"], line["user"], line["outcome"]) == ("button", "U0BOB0001", "resumed")


def test_an_alert_that_is_a_thread_reply_gets_its_result_in_that_thread(stack, paused):
    campaign_id, channel, ts = paused
    blocks = stack.slack.messages[(channel, ts)]["blocks"]
    reply_ts = stack.slack.add_message(channel, blocks, "paused again", thread_ts=ts)
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))  # paused again
    click(stack, channel, reply_ts)
    wait_updates(stack, channel, reply_ts, 2)
    assert len(thread_replies(stack, channel, ts)) == 1
    assert thread_replies(stack, channel, reply_ts) == []


def test_a_double_click_makes_one_request_and_tells_the_second_clicker_who_is_resuming(stack, paused):
    campaign_id, channel, ts = paused
    stack.truedy.delay = 0.5
    try:
        first, second = (stack.slack.click(channel, ts, user_id=user) for user in ("U0BOB0001", "U0CAROL01"))
        acks = [
            stack.slack.wait_ack(e) for e in stack.slack.push_many([("interactive", first), ("interactive", second)])
        ]
        assert all(ack.latency < 3 for ack in acks)
        wait_updates(stack, channel, ts, 2)
    finally:
        stack.truedy.delay = 0
    assert len([r for r in stack.truedy.resumes() if campaign_id in r.path]) == 1
    told = wait_until(lambda: stack.slack.responses_to(first) + stack.slack.responses_to(second), 5, "a response")
    assert len(told) == 1
    assert told[0].params["response_type"] == "ephemeral"
    assert "is already resuming" in told[0].params["text"]
    assert len(thread_replies(stack, channel, ts)) == 1


def test_a_guest_from_another_organisation_is_refused_and_nothing_is_called(stack, paused):
    campaign_id, channel, ts = paused
    payload, _ = click(stack, channel, ts, user_id="U0GUEST01", user_team="T0EXTERN1")
    (told,) = private_responses(stack, payload)
    assert told.params["response_type"] == "ephemeral"
    assert "guest from another organisation" in told.params["text"]
    assert [r for r in stack.truedy.received if campaign_id in r.path and r.method == "POST"] == []
    assert updates_of(stack, channel, ts) == []


def test_a_click_from_a_workspace_the_token_does_not_serve_is_refused(stack, paused):
    campaign_id, channel, ts = paused
    payload, _ = click(stack, channel, ts, team_id="T0OTHER01")
    (told,) = private_responses(stack, payload)
    assert "This bot serves another Slack workspace" in told.params["text"]
    assert [r for r in stack.truedy.received if campaign_id in r.path and r.method == "POST"] == []
    assert updates_of(stack, channel, ts) == []


def test_a_forged_button_value_reaches_nothing(stack, paused):
    _campaign_id, channel, ts = paused
    before = len(stack.truedy.received)
    payload, _ = click(stack, channel, ts, value="../../api-keys?x=1")
    (told,) = private_responses(stack, payload)
    assert "does not name a campaign" in told.params["text"]
    assert len(stack.truedy.received) == before
    assert updates_of(stack, channel, ts) == []


def test_a_retryable_failure_restores_the_button_and_a_second_click_works(stack, paused):
    campaign_id, channel, ts = paused
    stack.truedy.script(
        Scripted(503, {"error": {"code": "unavailable", "message": "down"}, "meta": {"request_id": "req_down0001"}})
    )
    click(stack, channel, ts, user_id="U0BOB0001")
    _, failed = wait_updates(stack, channel, ts, 2)
    assert state(failed["blocks"]).startswith(
        ":grey_question: *May have resumed* (<@U0BOB0001> tried): Truedy had an internal error (HTTP 503)"
    )
    assert buttons(failed["blocks"]) == ["resume_campaign", "resume_later", "open_in_truedy"]
    (reply,) = thread_replies(stack, channel, ts)
    assert "req_down0001" in reply["text"]

    click(stack, channel, ts, user_id="U0CAROL01")
    *_, final = wait_updates(stack, channel, ts, 4)
    assert state(final["blocks"]).startswith(":arrow_forward: *Resumed* by <@U0CAROL01>")
    assert stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "running"


@pytest.mark.parametrize(
    "status, says",
    [("running", "it is already running"), ("completed", "it has completed"), ("cancelled", "it was cancelled")],
)
def test_a_campaign_no_longer_paused_is_said_so_without_a_button(stack, paused, status, says):
    campaign_id, channel, ts = paused
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id, status=status))
    click(stack, channel, ts)
    _, final = wait_updates(stack, channel, ts, 2)
    assert state(final["blocks"]) == f":information_source: *Not paused any more:* {says}."
    assert buttons(final["blocks"]) == ["open_in_truedy"]


def test_slack_rate_limits_on_updates_are_waited_out(stack, paused):
    _campaign_id, channel, ts = paused
    stack.slack.fail("chat.update", "ratelimited", channel=channel, retry_after=1)
    click(stack, channel, ts)
    resuming, final = wait_updates(stack, channel, ts, 2)
    assert "Resuming" in state(resuming["blocks"]) and "Resumed" in state(final["blocks"])
    attempts = [c for c in stack.slack.calls_to("chat.update") if c.params["ts"] == ts]
    assert [c.answer.get("error") for c in attempts] == ["ratelimited", None, None]
    assert attempts[1].at - attempts[0].at >= 0.9


def test_a_deleted_alert_does_not_stop_the_thread_reply_or_the_log_line(stack, paused):
    campaign_id, channel, ts = paused
    payload = stack.slack.click(channel, ts)
    stack.slack.delete(channel, ts)
    stack.slack.wait_ack(stack.slack.push("interactive", payload))
    wait_until(lambda: thread_replies(stack, channel, ts), 10, "the thread reply")
    assert "is resumed" in thread_replies(stack, channel, ts)[0]["text"]
    wait_until(
        lambda: [line for line in stack.worker.logged("resume_attempt") if line["campaign"] == campaign_id],
        5,
        "the log line",
    )

    def update_errors():
        return [c.answer.get("error") for c in stack.slack.calls_to("chat.update") if c.params["ts"] == ts]

    wait_until(lambda: len(update_errors()) == 2, 5, "both updates of the alert")
    assert update_errors() == ["message_not_found", "message_not_found"]


def test_a_command_for_a_campaign_being_resumed_from_its_alert_is_not_sent_twice(stack, paused):
    campaign_id, channel, ts = paused
    stack.truedy.delay = 0.5
    try:
        click(stack, channel, ts, user_id="U0BOB0001")
        wait_until(lambda: [r for r in stack.truedy.resumes() if campaign_id in r.path], 5, "the resume")
        payload, ack = stack.command(campaign_id, channel_id=channel, user_id="U0ALICE01")
        wait_updates(stack, channel, ts, 2)
    finally:
        stack.truedy.delay = 0
    assert ack.payload is None
    told = stack.private_reply(payload)
    assert told["response_type"] == "ephemeral"
    assert told["text"].startswith(f":hourglass_flowing_sand: <@U0BOB0001> is already resuming `{campaign_id}`")
    assert len([r for r in stack.truedy.resumes() if campaign_id in r.path]) == 1


def test_a_refused_request_on_a_campaign_still_paused_keeps_the_button_and_the_alert_open(stack, paused):
    campaign_id, channel, ts = paused
    refused = {"error": {"code": "validation_error", "message": "Invalid request parameters"}}
    stack.truedy.script(
        Scripted(
            422,
            {**refused, "meta": {"request_id": "req_val00001"}},
            path=f"/api/public/v1/batch-calls/{campaign_id}/resume",
        )
    )
    click(stack, channel, ts)
    _, final = wait_updates(stack, channel, ts, 2)
    assert state(final["blocks"]).startswith(
        ":warning: *Not resumed* (<@U0BOB0001> tried): Truedy refused the request (HTTP 422) although the campaign "
        "is still paused"
    )
    assert buttons(final["blocks"]) == ["resume_campaign", "resume_later", "open_in_truedy"]
    (reply,) = thread_replies(stack, channel, ts)
    assert "Invalid request parameters" in reply["text"] and "req_val00001" in reply["text"]
    engine = storage.connect(stack.database_url)
    with engine.connect() as connection:
        query = select(storage.campaign_alerts.c.state).where(storage.campaign_alerts.c.campaign_id == campaign_id)
        assert connection.execute(query).scalar_one() == "open"  # so the next poll posts no second alert
    engine.dispose()
