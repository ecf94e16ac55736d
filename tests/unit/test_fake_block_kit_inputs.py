"""The fake Slack refuses what Slack refuses in a modal's input elements (number inputs, time pickers, external and
user selects), in the options an external select's loader answers, and in a submission's errors; and accepts what
Slack accepts (tests/fakes/block_kit.py, tests/fakes/slack.py)."""

import pytest

from tests.fakes import block_kit
from tests.fakes.slack import _ack_problems


def modal(*elements: dict) -> dict:
    blocks = [
        {"type": "input", "block_id": f"b{n}", "label": {"type": "plain_text", "text": "Field"}, "element": element}
        for n, element in enumerate(elements)
    ]
    return {"type": "modal", "title": {"type": "plain_text", "text": "Setup"}, "blocks": blocks}


def option(value: str = "Europe/Paris", text: str | None = None) -> dict:
    return {"text": {"type": "plain_text", "text": text or value}, "value": value}


NUMBER = {"type": "number_input", "action_id": "value", "is_decimal_allowed": False}
TIME = {"type": "timepicker", "action_id": "value"}
EXTERNAL = {"type": "external_select", "action_id": "zone", "min_query_length": 1}

ACCEPTED = {
    "a number input with whole bounds as strings": {
        **NUMBER,
        "min_value": "0",
        "max_value": "1440",
        "initial_value": "60",
    },
    "a number input allowing decimals": {**NUMBER, "is_decimal_allowed": True, "min_value": "0.5", "max_value": "2"},
    "a bare number input": NUMBER,
    "a time picker": {**TIME, "initial_time": "22:00", "placeholder": {"type": "plain_text", "text": "From"}},
    "a time picker at midnight": {**TIME, "initial_time": "00:00", "timezone": "Europe/Paris"},
    "an external select with an initial option": {**EXTERNAL, "initial_option": option()},
    "an external select found from the first letter typed": {**EXTERNAL, "min_query_length": 0},
    "a multi external select with initial options": {"type": "multi_external_select", "initial_options": [option()]},
    "a users select with an initial user": {"type": "users_select", "action_id": "value", "initial_user": "U0CAROL01"},
    "a static select with one of its options": {
        "type": "static_select",
        "options": [option("a"), option("b")],
        "initial_option": option("b"),
    },
}
REFUSED = {
    "a number input's bounds as numbers": {**NUMBER, "min_value": 0, "max_value": 1440},
    "a number input's initial value as a number": {**NUMBER, "initial_value": 60},
    "a number input without is_decimal_allowed": {"type": "number_input", "action_id": "value"},
    "a number input's is_decimal_allowed as a string": {**NUMBER, "is_decimal_allowed": "false"},
    "a decimal where only whole numbers are allowed": {**NUMBER, "initial_value": "1.5"},
    "a number input's minimum above its maximum": {**NUMBER, "min_value": "10", "max_value": "1"},
    "a number input's bound that is not a number": {**NUMBER, "max_value": "a day"},
    "a number input's placeholder over 150": {**NUMBER, "placeholder": {"type": "plain_text", "text": "p" * 151}},
    "a time picker's time without its leading zero": {**TIME, "initial_time": "7:00"},
    "a time picker's time with seconds": {**TIME, "initial_time": "07:00:00"},
    "a time picker at 24:00": {**TIME, "initial_time": "24:00"},
    "a time picker's time in 12 hours": {**TIME, "initial_time": "10:25pm"},
    "an external select's initial option over 75": {**EXTERNAL, "initial_option": option("v", "t" * 76)},
    "an external select's initial option without a value": {**EXTERNAL, "initial_option": {"text": option()["text"]}},
    "an external select's initial options, as a multi select's": {**EXTERNAL, "initial_options": [option()]},
    "a multi external select's initial option, as a single select's": {
        "type": "multi_external_select",
        "initial_option": option(),
    },
    "a minimum query length as a string": {**EXTERNAL, "min_query_length": "1"},
    "a negative minimum query length": {**EXTERNAL, "min_query_length": -1},
    "a users select's initial users, as a multi select's": {"type": "users_select", "initial_users": ["U0CAROL01"]},
    "a users select's initial user as a list": {"type": "users_select", "initial_user": ["U0CAROL01"]},
    "a multi users select's initial user": {"type": "multi_users_select", "initial_user": "U0CAROL01"},
    "a static select's initial option that is not among its options": {
        "type": "static_select",
        "options": [option("a")],
        "initial_option": option("b"),
    },
}


@pytest.mark.parametrize("element", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_what_slack_accepts_in_an_input_block_passes(element):
    assert block_kit.view_problems(modal(element)) == []


@pytest.mark.parametrize("element", REFUSED.values(), ids=REFUSED.keys())
def test_what_slack_refuses_in_an_input_block_is_refused(element):
    assert block_kit.view_problems(modal(element))


def test_a_number_input_lives_only_in_an_input_block():
    in_actions = {"type": "actions", "elements": [NUMBER]}
    as_accessory = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "accessory": NUMBER}
    assert block_kit.message_problems({"text": "t", "blocks": [in_actions]})
    assert block_kit.message_problems({"text": "t", "blocks": [as_accessory]})
    # A time picker may be either.
    assert block_kit.message_problems({"text": "t", "blocks": [{"type": "actions", "elements": [TIME]}]}) == []


def test_a_loaders_options_are_checked_as_a_menus_are():
    assert _ack_problems({"options": []}) == []  # nothing found
    assert _ack_problems({"options": [option()] * 100}) == []
    assert _ack_problems({"options": [option()] * 101})
    assert _ack_problems({"options": [option("v", "t" * 76)]})
    assert _ack_problems({"options": [option("v" * 151)]})


def test_a_submissions_errors_name_input_blocks_of_the_submitted_view():
    view = {
        **modal(NUMBER),
        "blocks": [{"type": "section", "block_id": "heading", "text": {"type": "mrkdwn", "text": "x"}}]
        + modal(NUMBER)["blocks"],
    }
    submission = {"type": "view_submission", "view": view}
    assert _ack_problems({"response_action": "errors", "errors": {"b0": "Wrong."}}, submission) == []
    assert _ack_problems({"response_action": "errors", "errors": {"heading": "Wrong."}}, submission)  # not an input
    assert _ack_problems({"response_action": "errors", "errors": {"elsewhere": "Wrong."}}, submission)
    assert _ack_problems({"response_action": "errors", "errors": {"b0": None}}, submission)
    assert _ack_problems({"response_action": "errors", "errors": {}}, submission)
