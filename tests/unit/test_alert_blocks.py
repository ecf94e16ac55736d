from datetime import UTC, datetime

import pytest

from bot import truedy
from bot.slack.blocks.alert_blocks import (
    RESUME_ACTION_ID,
    STATE_BLOCK_ID,
    alert,
    final_state,
    parse_later_value,
    resuming_state,
    with_state,
)
from bot.slack.blocks.digest_blocks import digest
from bot.slack.blocks.list_blocks import paused_list
from bot.storage.digests import Digest, DigestRow
from bot.storage.workspace_settings import WorkspaceId

UPDATED = datetime(2026, 4, 5, 10, 22, tzinfo=UTC)
NOW = datetime(2026, 4, 5, 11, 0, tzinfo=UTC)
CAMPAIGN = truedy.Campaign("batch_c3d4e5f6", "Q2 Outreach Campaign", "paused", 500, 312, 298, 14, 188, UPDATED, None)


def elements(message_blocks):
    return [e for b in message_blocks if b["type"] == "actions" for e in b["elements"]]


def state_of(message_blocks):
    return next(b["text"]["text"] for b in message_blocks if b.get("block_id") == STATE_BLOCK_ID)


def test_alert_shows_the_campaign_and_offers_resume_with_a_confirmation():
    message = alert(CAMPAIGN, "https://app.truedy.test/campaigns/{id}")
    summary = message["blocks"][0]["text"]["text"]
    assert "*Q2 Outreach Campaign*  `batch_c3d4e5f6`" in summary
    assert "312 of 500 called · 14 failed · 188 pending" in summary
    assert "*Last update:* <!date^1775384520^" in summary
    assert state_of(message["blocks"]).startswith(":double_vertical_bar: *Paused.*")
    resume, later, link = elements(message["blocks"])
    assert resume["action_id"] == RESUME_ACTION_ID and resume["value"] == "batch_c3d4e5f6"
    assert [(o["text"]["text"], o["value"]) for o in later["options"]] == [
        ("Resume at 9:00 tomorrow", "tomorrow 9:00|batch_c3d4e5f6"),
        ("Resume in 1 hour", "in 1h|batch_c3d4e5f6"),
        ("Pick a time…", "pick|batch_c3d4e5f6"),
    ]
    assert parse_later_value(later["options"][0]["value"]) == ("tomorrow 9:00", "batch_c3d4e5f6")
    assert parse_later_value(later["options"][2]["value"]) == ("pick", "batch_c3d4e5f6")
    assert parse_later_value("at 3:00|batch_c3d4e5f6") is None  # only the menu's own choices
    assert resume["style"] == "primary"
    assert "starts calling 188 pending contacts again" in resume["confirm"]["text"]["text"]
    assert link["url"] == "https://app.truedy.test/campaigns/batch_c3d4e5f6"
    assert message["text"].startswith("Campaign paused: Q2 Outreach Campaign (batch_c3d4e5f6), 312 of 500 called")


def test_every_resume_dialog_shows_the_name_as_named_escaped_once():
    named = truedy.Campaign("batch_c3d4e5f6", "R&D <east>", "paused", 500, 312, 298, 14, 188, UPDATED, None)
    row = DigestRow(named.id, named.name, "paused", None)
    dialogs = [
        elements(alert(named, None)["blocks"])[0]["confirm"],
        paused_list(truedy.CampaignPage([named], False, 1, None), 0)["blocks"][1]["accessory"]["confirm"],
        digest(Digest(1, WorkspaceId("", "T1"), "C1", "1.1", 0, NOW, [row]), 90)["blocks"][3]["elements"][0]["confirm"],
    ]
    for dialog in dialogs:
        assert "*R&amp;D &lt;east&gt;*" in dialog["text"]["text"], dialog


def test_alert_without_dashboard_has_only_resume_now_and_later():
    assert [e["action_id"] for e in elements(alert(CAMPAIGN, None)["blocks"])] == [RESUME_ACTION_ID, "resume_later"]


def test_alert_keeps_within_slack_limits_and_neutralises_the_name():
    long_name = "<!channel> " + "x" * 250
    campaign = truedy.Campaign("batch_c3d4e5f6", long_name, "paused", None, None, None, None, None, None, None)
    message = alert(campaign, None)
    confirm = elements(message["blocks"])[0]["confirm"]
    assert len(confirm["title"]["text"]) <= 100 and len(confirm["text"]["text"]) <= 300
    assert len(confirm["confirm"]["text"]) <= 30 and len(confirm["deny"]["text"]) <= 30
    assert "<!channel>" not in str(message)
    assert "progress unknown" in message["blocks"][0]["text"]["text"]
    assert "*Last update:* unknown" in message["blocks"][0]["text"]["text"]


def test_states_replace_the_status_line_and_remove_or_restore_the_button():
    original = alert(CAMPAIGN, "https://app.truedy.test/campaigns/{id}")["blocks"]
    resuming = with_state(original, resuming_state("U0BOB0001"), offer_resume=False)
    assert state_of(resuming) == ":hourglass_flowing_sand: *Resuming…* requested by <@U0BOB0001>"
    assert [e["action_id"] for e in elements(resuming)] == ["open_in_truedy"]
    assert resuming[0] == original[0]
    restored = with_state(original, "retry", offer_resume=True)
    assert elements(restored) == elements(original)
    assert len([b for b in restored if b.get("block_id") == STATE_BLOCK_ID]) == 1


def test_a_button_posted_by_other_tooling_works_too():
    foreign = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Campaign X paused"}},
        {"type": "actions", "elements": [{"type": "button", "action_id": RESUME_ACTION_ID, "value": "batch_x1"}]},
    ]
    updated = with_state(foreign, "resuming", offer_resume=False)
    assert updated == [
        foreign[0],
        {"type": "section", "block_id": STATE_BLOCK_ID, "text": {"type": "mrkdwn", "text": "resuming"}},
    ]


@pytest.mark.parametrize(
    "outcome, starts, offers_resume",
    [
        (
            truedy.Resumed("b", "active", NOW, None),
            ":arrow_forward: *Resumed* by <@U0BOB0001> <!date^1775386800^",
            False,
        ),
        (truedy.Resumed("b", "scheduled", None, None), ":arrow_forward: *Resumed* by <@U0BOB0001>", False),
        (
            truedy.NotResumable("x", None, "active"),
            ":information_source: *Not paused any more:* it is already running",
            False,
        ),
        (
            truedy.NotResumable("x", None, "completed"),
            ":information_source: *Not paused any more:* it has completed",
            False,
        ),
        (truedy.CampaignNotFound("x", None), ":x: *Not resumed:*", False),
        (truedy.UnreadableAnswer("x", None, 201), ":grey_question: *May have resumed* (<@U0BOB0001> tried)", True),
        (
            truedy.RateLimited("x", None, None),
            ":warning: *Not resumed* (<@U0BOB0001> tried): Truedy's rate limit",
            True,
        ),
        (truedy.TruedyServerError("x", None, 503), ":grey_question: *May have resumed* (<@U0BOB0001> tried)", True),
        (truedy.NoAnswer("x", 10), ":grey_question: *May have resumed*", True),
        (truedy.KeyRejected("x", None), ":warning: *Not resumed*", True),
        (
            truedy.RequestRefused("Invalid request parameters", "req_1", 422),
            ":warning: *Not resumed* (<@U0BOB0001> tried): Truedy refused the request (HTTP 422)",
            True,
        ),
        (truedy.NotResumable("x", None, None), ":warning: *Not resumed*", True),  # its state unknown: try again
    ],
)
def test_final_states(outcome, starts, offers_resume):
    state, offer = final_state("U0BOB0001", outcome, NOW)
    assert state.startswith(starts)
    assert offer is offers_resume
