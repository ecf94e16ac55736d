from datetime import UTC, datetime

import pytest

from bot import truedy
from bot.resume import BotFailure, Interrupted, NotSent, ResumeRequest
from bot.settings import Settings
from bot.slack.blocks import alert_blocks, messages, schedule_blocks
from bot.storage.audit import AuditEntry
from bot.storage.schedules import ScheduledResume
from bot.storage.workspace_settings import WorkspaceId, WorkspaceSettings
from bot.truedy.campaign_id import CampaignId

REQUEST = ResumeRequest("T0BOT0001", "U0ALICE01", CampaignId("batch_c3d4e5f6"), via="command")
RESUMED_AT = datetime(2026, 4, 5, 11, 0, tzinfo=UTC)


def test_slack_date_renders_in_each_readers_time_zone_with_a_utc_fallback():
    assert messages.slack_date(RESUMED_AT) == "<!date^1775386800^{date_short_pretty} at {time}|2026-04-05 11:00 UTC>"


def test_escape_keeps_outside_text_from_pinging_or_linking():
    assert messages.escape("<!channel> & <@U1>") == "&lt;!channel&gt; &amp; &lt;@U1&gt;"
    assert len(messages.escape("x" * 500)) == 200


def test_escape_never_repeats_a_key_or_token():
    assert messages.escape("bad key truedy_AbCdEf1234567890 for xoxb-1-2") == "bad key [redacted] for [redacted]"


def test_usage_is_private_and_shows_an_example():
    usage = messages.usage()
    assert usage["response_type"] == "ephemeral"
    assert "`/resume-campaign batch_c3d4e5f6`" in usage["text"]


def test_invalid_id_is_private_and_neutralises_what_was_typed():
    message = messages.invalid_campaign_id("<!channel> `x`", "that is a special mention, not a campaign id")
    assert message["response_type"] == "ephemeral"
    assert "<!channel>" not in message["text"]
    assert "Nothing was resumed" in message["text"]


def test_workspace_not_configured_says_how_to_fix_it():
    text = messages.workspace_not_configured()["text"]
    assert "`/resume-campaign setup`" in text and "Settings → API Keys" in text


def test_no_message_to_people_names_an_environment_variable():
    variables = {name.upper() for name in Settings.model_fields} | {"WEB_CONCURRENCY"}
    texts = [
        messages.workspace_not_configured()["text"],
        messages.not_installed()["text"],
        messages.other_workspace()["text"],
        messages.KEY_UNREADABLE,
        messages.usage()["text"],
        messages.status("T0NOKEY01", None)["text"],
    ]
    assert [text for text in texts if any(variable in text for variable in variables)] == []


def test_help_covers_every_command():
    text = messages.usage()["text"]
    for command in ("list", "<part of a campaign's name>", "resume-all", "setup", "status", "history"):
        assert f"/resume-campaign {command}" in text


def test_announcement_names_who_and_what():
    assert messages.resuming(REQUEST)["text"] == ":hourglass_flowing_sand: <@U0ALICE01> is resuming `batch_c3d4e5f6`…"


def test_success_summary_and_details():
    outcome = truedy.Resumed("batch_c3d4e5f6", "active", RESUMED_AT, "req_32e7531c")
    summary = messages.resumed_summary(REQUEST, outcome)["text"]
    assert summary.startswith(":arrow_forward: <@U0ALICE01> resumed `batch_c3d4e5f6` <!date^1775386800^")
    details = messages.result_details("batch_c3d4e5f6", outcome)
    assert "calling continues from where it left off" in details["text"]
    assert details["blocks"][-1] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": "Truedy request id: `req_32e7531c`"}],
    }


def test_resumed_into_scheduled_says_when_it_calls():
    outcome = truedy.Resumed("batch_c3d4e5f6", "scheduled", RESUMED_AT, None)
    assert "scheduled again" in messages.result_details("batch_c3d4e5f6", outcome)["text"]


def test_resumed_without_details_still_says_resumed():
    outcome = truedy.Resumed("batch_c3d4e5f6", None, None, None)
    details = messages.result_details("batch_c3d4e5f6", outcome)
    assert "is resumed. Truedy did not say when" in details["text"]
    assert len(details["blocks"]) == 1


IN_A_MINUTE = datetime(2026, 3, 3, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "error, summary, next_step",
    [
        (
            truedy.NotResumable("x", "r", "active"),
            "asked to resume `batch_c3d4e5f6`, but it is already running",
            "Nothing to do",
        ),
        (truedy.NotResumable("x", "r", "scheduled"), "it is scheduled, not paused", "scheduled start"),
        (truedy.NotResumable("x", "r", "completed"), "it has completed", "nothing left"),
        (truedy.NotResumable("x", "r", "cancelled"), "it was cancelled", "create a new campaign"),
        (truedy.NotResumable("x", "r", "failed"), "it has failed", "see what went wrong"),
        (truedy.NotResumable("x", "r", "draft"), "a draft", "Schedule it"),
        (truedy.NotResumable("x", "r", "archived"), "its status is `archived`", "Only paused campaigns"),
        (truedy.NotResumable("x", "r", "<b>!"), "its status is `unrecognised`", "Only paused campaigns"),
        (
            truedy.NotResumable("Nope <!here>", "r", None),
            "cannot be resumed in its current state",
            "Truedy said: “Nope &lt;!here&gt;”",
        ),
        (
            truedy.KeyRejected("x", "r"),
            "could not resume `batch_c3d4e5f6`: Truedy rejected this workspace's API key",
            "create a new key",
        ),
        (truedy.BillingProblem("Insufficient credits", "r"), "billing reason", "Truedy said: “Insufficient credits”"),
        (truedy.IpNotAllowed("x", "r"), "IP address", "allow-list"),
        (truedy.CampaignNotFound("x", "r"), "no campaign with this id in this workspace's account", "Check the id"),
        (truedy.RateLimited("x", "r", IN_A_MINUTE), "rate limit", "Try again after <!date^1772539260^"),
        (truedy.RateLimited("x", "r", None), "rate limit", "Try again in a minute"),
        (truedy.TruedyServerError("x", "r", 503), "internal error (HTTP 503)", "most likely did not resume, but"),
        (truedy.UnreadableAnswer("x", "r", 201), "accepted the request (HTTP 201)", "probably resumed"),
        (truedy.UnreadableAnswer("x", "r", 502), "HTTP 502", "most likely did not resume"),
        (truedy.TruedyUnreachable("x"), "could not connect to Truedy", "nothing was resumed"),
        (truedy.NoAnswer("x", 10.0), "did not answer within 10 seconds", "before trying again"),
        (truedy.NoAnswer("x", None), "connection to Truedy broke", "before trying again"),
        (
            truedy.RequestRefused("Invalid request parameters", "r", 422),
            "Truedy refused the request (HTTP 422) although the campaign is still paused",
            "Truedy said: “Invalid request parameters”",
        ),
        (BotFailure("x"), "something went wrong inside the bot", "before trying again"),
        (Interrupted("x"), "the bot was restarting before Truedy answered", "before trying again"),
        (NotSent("the bot failed before it asked Truedy"), "nothing was sent to Truedy", "Try again in a minute"),
    ],
)
def test_every_error_says_what_happened_and_what_to_do(error, summary, next_step):
    assert summary in messages.resumed_summary(REQUEST, error)["text"]
    details = messages.result_details("batch_c3d4e5f6", error)
    lead = "*may have resumed*" if error.outcome_unknown else "was not resumed"
    assert f"`batch_c3d4e5f6` {lead}" in details["text"]
    assert next_step in details["text"]


UNKNOWN = [
    truedy.NoAnswer("x", 10.0),
    truedy.NoAnswer("x", None),
    truedy.UnreadableAnswer("x", "r", 201),
    truedy.UnreadableAnswer("x", "r", 502),
    truedy.TruedyServerError("x", "r", 500),
    BotFailure("x"),
    Interrupted("x"),
]


@pytest.mark.parametrize("outcome", UNKNOWN, ids=lambda error: f"{type(error).__name__}")
def test_an_unknown_outcome_is_headlined_as_unknown_wherever_it_is_shown(outcome):
    """The thread, the channel's final message, the alert (and digest row), a schedule's message and a
    workflow step's error: "may have resumed", never "not resumed"."""
    schedule = ScheduledResume(
        1,
        WorkspaceId("", "T0BOT0001"),
        "batch_c3d4e5f6",
        "U0ALICE01",
        RESUMED_AT,
        "C0",
        None,
        "1.2",
        "command",
        "sending",
        None,
        None,
    )
    shown = {
        "thread": messages.result_details("batch_c3d4e5f6", outcome)["text"],
        "final message": messages.resumed_summary(REQUEST, outcome)["text"],
        "alert": alert_blocks.final_state("U0ALICE01", outcome, RESUMED_AT)[0],
        "schedule": schedule_blocks.ended(schedule, outcome)["text"],
    }
    for where, text in shown.items():
        assert "may have resumed" in text.lower().replace("*", ""), where
        assert "not resumed" not in text.lower(), where
        assert "before trying again" in text or where in ("alert", "final message", "schedule"), where
    assert alert_blocks.final_state("U0ALICE01", outcome, RESUMED_AT)[1]  # Resume stays: a retry is safe


def test_error_details_carry_the_request_id():
    details = messages.result_details("batch_c3d4e5f6", truedy.KeyRejected("x", "req_abc"))
    assert "Truedy request id: `req_abc`" in details["blocks"][-1]["elements"][0]["text"]


def test_private_result_is_ephemeral():
    outcome = truedy.Resumed("batch_c3d4e5f6", "active", RESUMED_AT, None)
    assert messages.private_result("batch_c3d4e5f6", outcome)["response_type"] == "ephemeral"


def test_a_webhook_url_is_never_a_placeholder():
    settings = WorkspaceSettings(
        WorkspaceId("", "T0HOOK001"), "truedy_k", "ey_k", "slack", None, None, (), (), None, None, "tok3n", None
    )
    unknown = messages.status("T0HOOK001", settings)["text"]
    assert "/truedy/webhook/" not in unknown and "none yet" in unknown and "PUBLIC_URL" not in unknown
    known = messages.status("T0HOOK001", settings, public_url="https://bot.example.com")["text"]
    assert "`https://bot.example.com/truedy/webhook/tok3n`" in known


def test_an_audit_line_says_who_and_how_a_schedule_and_a_workflow_run_included():
    at = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

    def line(via: str, workflow: str | None = None) -> str:
        entry = AuditEntry(at, "U0ALICE01", "batch_c3d4e5f6", via, "resumed", None, 120, workflow)
        return messages.audit_line(entry).split(" · ", 1)[1]

    assert line("button") == "<@U0ALICE01> · `batch_c3d4e5f6` · button · resumed"
    assert line("schedule") == "scheduled by <@U0ALICE01> · `batch_c3d4e5f6` · resumed"
    assert line("workflow", "Wx0123ABCD") == "workflow run `Wx0123ABCD` as <@U0ALICE01> · `batch_c3d4e5f6` · resumed"
