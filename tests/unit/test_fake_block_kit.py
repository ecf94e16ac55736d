"""The fake Slack's Block Kit rules refuse what Slack refuses (tests/fakes/block_kit.py), so that a green
end-to-end test means Slack would have accepted every message, reply and view."""

import pytest

from tests.fakes import block_kit


def section(text: str = "hi", **more) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **more}


def button(action_id: str = "go", text: str = "Go", **more) -> dict:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, **more}


def confirm(**overrides) -> dict:
    dialog = {
        "title": {"type": "plain_text", "text": "Sure?"},
        "text": {"type": "mrkdwn", "text": "Really."},
        "confirm": {"type": "plain_text", "text": "Yes"},
        "deny": {"type": "plain_text", "text": "No"},
    }
    return {**dialog, **overrides}


ACCEPTED = [
    [section(), {"type": "actions", "elements": [button("a"), button("b", style="primary", confirm=confirm())]}],
    [section(accessory=button()), {"type": "context", "elements": [{"type": "mrkdwn", "text": "small"}]}],
    [{"type": "header", "text": {"type": "plain_text", "text": "Title"}}, {"type": "divider"}],
    [{"type": "actions", "block_id": "a", "elements": [button("x")]}, {"type": "actions", "elements": [button("x")]}],
    [{"type": "actions", "elements": [{"type": "datetimepicker", "action_id": "d", "initial_date_time": 1796115600}]}],
]
DATETIME = {"type": "datetimepicker", "action_id": "d"}
REFUSED = {
    "a datetimepicker as an accessory": [section(accessory=DATETIME)],
    "a datetimepicker's moment in milliseconds": [
        {"type": "actions", "elements": [{**DATETIME, "initial_date_time": 1796115600000}]}
    ],
    "a datetimepicker's moment as a string": [
        {"type": "actions", "elements": [{**DATETIME, "initial_date_time": "1796115600"}]}
    ],
    "a datetimepicker with a placeholder": [
        {"type": "actions", "elements": [{**DATETIME, "placeholder": {"type": "plain_text", "text": "When"}}]}
    ],
    "51 blocks": [section()] * 51,
    "a section over 3,000 characters": [section("x" * 3001)],
    "two buttons with one action_id in a block": [{"type": "actions", "elements": [button("p"), button("p")]}],
    "one block_id twice": [section(block_id="b"), section(block_id="b")],
    "a button text over 75": [{"type": "actions", "elements": [button(text="x" * 76)]}],
    "a button value over 2,000": [{"type": "actions", "elements": [button(value="v" * 2001)]}],
    "a style Slack does not know": [{"type": "actions", "elements": [button(style="secondary")]}],
    "a confirm title over 100": [
        section(accessory=button(confirm=confirm(title={"type": "plain_text", "text": "t" * 101})))
    ],
    "a confirm text over 300": [section(accessory=button(confirm=confirm(text={"type": "mrkdwn", "text": "t" * 301})))],
    "26 elements in actions": [{"type": "actions", "elements": [button(f"b{n}") for n in range(26)]}],
    "11 context elements": [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x"}] * 11}],
    "11 fields": [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
    "a header in mrkdwn": [{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}],
    "an empty text": [section("")],
    "emoji on mrkdwn": [{"type": "section", "text": {"type": "mrkdwn", "text": "x", "emoji": True}}],
    "an unknown block": [{"type": "carousel"}],
    "a section with neither text nor fields": [{"type": "section"}],
}


@pytest.mark.parametrize("blocks", ACCEPTED)
def test_what_slack_accepts_passes(blocks):
    assert block_kit.message_problems({"text": "fallback", "blocks": blocks}) == []


@pytest.mark.parametrize("blocks", REFUSED.values(), ids=REFUSED.keys())
def test_what_slack_refuses_is_refused(blocks):
    assert block_kit.message_problems({"text": "fallback", "blocks": blocks})


def test_views_have_their_own_limits():
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Setup"}, "blocks": [section()] * 100}
    assert block_kit.view_problems(modal) == []
    assert block_kit.view_problems({**modal, "blocks": [section()] * 101})
    assert block_kit.view_problems({**modal, "title": {"type": "plain_text", "text": "t" * 25}})
    assert block_kit.view_problems({**modal, "private_metadata": "m" * 3001})
    assert block_kit.message_problems({"text": "t" * 40_001})
