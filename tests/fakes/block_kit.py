"""The Block Kit rules Slack enforces, so that the fake Slack refuses what Slack would refuse.

Slack answers `invalid_blocks` (messages) or `invalid_arguments` (views) when a message, a `response_url`
body or a view breaks one of these; the user then sees nothing. Sources: Slack's Block Kit reference
(docs.slack.dev/reference/block-kit: blocks, block elements, composition objects), the surfaces' pages, and
shared/reference/block-kit-rules.md, which collects them.
"""

import re
from typing import Any

MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000
ID_LENGTH = 255
TEXT_TYPES = ("plain_text", "mrkdwn")
SELECTS = (
    "static_select",
    "multi_static_select",
    "external_select",
    "multi_external_select",
    "users_select",
    "multi_users_select",
    "conversations_select",
    "multi_conversations_select",
    "channels_select",
    "multi_channels_select",
)
INPUT_ELEMENTS = (
    *SELECTS,
    "plain_text_input",
    "checkboxes",
    "radio_buttons",
    "datepicker",
    "timepicker",
    "datetimepicker",
    "number_input",
)
# Elements that live only in actions and input blocks, never as a section's accessory.
NOT_ACCESSORIES = ("datetimepicker", "number_input")
# Elements that live only in input blocks.
ONLY_IN_INPUTS = ("number_input",)
SINGLE_SELECTS = tuple(kind for kind in SELECTS if not kind.startswith("multi_"))
CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")  # a timepicker's "HH:mm"
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
WHOLE_NUMBER = re.compile(r"-?[0-9]+")


def message_problems(params: dict[str, Any]) -> list[str]:
    """What Slack would refuse in a chat.postMessage / chat.update / response_url body."""
    problems = []
    text = params.get("text")
    if text is not None and (not isinstance(text, str) or len(text) > MESSAGE_TEXT):
        problems.append(f"text: more than {MESSAGE_TEXT} characters")
    blocks = params.get("blocks")
    if blocks is not None:
        problems += _blocks(blocks, MESSAGE_BLOCKS, "blocks")
    return problems


def view_problems(view: Any) -> list[str]:
    """What Slack would refuse in views.open / views.publish / views.update."""
    if not isinstance(view, dict):
        return ["view: not an object"]
    problems = []
    if view.get("type") not in ("modal", "home"):
        problems.append("view.type: must be modal or home")
    if view.get("type") == "modal":
        if view.get("title") is None:
            problems.append("view.title: required in a modal")
        for key in ("title", "submit", "close"):
            if key in view:
                problems += _text(view[key], f"view.{key}", 24, plain_only=True)
    if len(str(view.get("private_metadata", ""))) > 3000:
        problems.append("view.private_metadata: more than 3000 characters")
    for key in ("callback_id", "external_id"):
        if len(str(view.get(key, ""))) > ID_LENGTH:
            problems.append(f"view.{key}: more than {ID_LENGTH} characters")
    problems += _blocks(view.get("blocks"), VIEW_BLOCKS, "view.blocks")
    return problems


def _blocks(blocks: Any, most: int, where: str) -> list[str]:
    if not isinstance(blocks, list):
        return [f"{where}: not a list"]
    problems = []
    if len(blocks) > most:
        problems.append(f"{where}: {len(blocks)} blocks, more than {most}")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        here = f"{where}[{i}]"
        if not isinstance(block, dict):
            problems.append(f"{here}: not an object")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= ID_LENGTH:
                problems.append(f"{here}.block_id: empty or more than {ID_LENGTH} characters")
            elif block_id in block_ids:
                problems.append(f"{here}.block_id: {block_id!r} is not unique")
            block_ids.add(str(block_id))
        problems += _block(block, here)
    return problems


def _block(block: dict[str, Any], here: str) -> list[str]:
    kind = block.get("type")
    problems: list[str] = []
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"{here}: a section needs text or fields")
        if "text" in block:
            problems += _text(block["text"], f"{here}.text", 3000)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not 0 < len(fields) <= 10:
                problems.append(f"{here}.fields: 1 to 10 text objects")
            else:
                for j, field in enumerate(fields):
                    problems += _text(field, f"{here}.fields[{j}]", 2000)
        if "accessory" in block:
            problems += _element(block["accessory"], f"{here}.accessory")
            if isinstance(block["accessory"], dict) and block["accessory"].get("type") in NOT_ACCESSORIES:
                problems.append(f"{here}.accessory: a {block['accessory']['type']} is not an accessory")
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= 25:
            return [f"{here}.elements: 1 to 25 elements"]
        action_ids: set[str] = set()
        for j, element in enumerate(elements):
            problems += _element(element, f"{here}.elements[{j}]")
            if isinstance(element, dict) and element.get("type") in ONLY_IN_INPUTS:
                problems.append(f"{here}.elements[{j}]: a {element['type']} lives only in an input block")
            action_id = element.get("action_id") if isinstance(element, dict) else None
            if action_id is not None:
                if action_id in action_ids:
                    problems.append(f"{here}.elements[{j}].action_id: {action_id!r} is not unique in its block")
                action_ids.add(action_id)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 0 < len(elements) <= 10:
            return [f"{here}.elements: 1 to 10 elements"]
        for j, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") == "image":
                problems += _image(element, f"{here}.elements[{j}]")
            else:
                problems += _text(element, f"{here}.elements[{j}]", 3000)
    elif kind == "header":
        problems += _text(block.get("text"), f"{here}.text", 150, plain_only=True)
    elif kind == "input":
        problems += _text(block.get("label"), f"{here}.label", 2000, plain_only=True)
        if "hint" in block:
            problems += _text(block["hint"], f"{here}.hint", 2000, plain_only=True)
        element = block.get("element")
        if not isinstance(element, dict) or element.get("type") not in INPUT_ELEMENTS:
            problems.append(f"{here}.element: one input element")
        else:
            problems += _element(element, f"{here}.element")
    elif kind == "divider":
        pass
    elif kind == "image":
        problems += _image(block, here)
    else:
        problems.append(f"{here}.type: unknown block type {kind!r}")
    return problems


def _element(element: Any, here: str) -> list[str]:
    if not isinstance(element, dict):
        return [f"{here}: not an object"]
    problems: list[str] = []
    action_id = element.get("action_id")
    if action_id is not None and (not isinstance(action_id, str) or not 0 < len(action_id) <= ID_LENGTH):
        problems.append(f"{here}.action_id: empty or more than {ID_LENGTH} characters")
    kind = element.get("type")
    if kind == "button":
        problems += _text(element.get("text"), f"{here}.text", 75, plain_only=True)
        if len(str(element.get("value", ""))) > 2000:
            problems.append(f"{here}.value: more than 2000 characters")
        if len(str(element.get("url", ""))) > 3000:
            problems.append(f"{here}.url: more than 3000 characters")
        if element.get("style") not in (None, "primary", "danger"):
            problems.append(f"{here}.style: only primary or danger")
    elif kind == "overflow":
        problems += _options(element.get("options"), f"{here}.options", 2, 5)
    elif kind in SELECTS or kind in ("plain_text_input", "checkboxes", "radio_buttons", "datepicker", "timepicker"):
        if "placeholder" in element:
            problems += _text(element["placeholder"], f"{here}.placeholder", 150, plain_only=True)
        if kind in ("static_select", "multi_static_select") and "option_groups" not in element:
            problems += _options(element.get("options"), f"{here}.options", 1, 100)
        if kind in ("checkboxes", "radio_buttons"):
            problems += _options(element.get("options"), f"{here}.options", 1, 10)
        for key in ("initial_options",):
            if key in element:
                problems += _options(element[key], f"{here}.{key}", 1, 100)
                offered = element.get("options") or []
                listed = ("static_select", "multi_static_select", "checkboxes")
                if kind in listed and any(o not in offered for o in element[key]):
                    problems.append(f"{here}.{key}: an initial option that is not among the options")
                if kind in SINGLE_SELECTS or kind == "radio_buttons":
                    problems.append(f"{here}.{key}: {kind} has one initial_option, not initial_options")
        if "initial_option" in element:
            # One option; of a static menu, one of its options; of an external one, any (Slack shows it as given).
            problems += _options([element["initial_option"]], f"{here}.initial_option", 1, 1)
            if kind not in ("static_select", "external_select", "radio_buttons"):
                problems.append(f"{here}.initial_option: {kind} has none")
            elif kind != "external_select" and element["initial_option"] not in (element.get("options") or []):
                problems.append(f"{here}.initial_option: not among the options")
        if kind in ("external_select", "multi_external_select") and "min_query_length" in element:
            least = element["min_query_length"]
            if not isinstance(least, int) or isinstance(least, bool) or least < 0:
                problems.append(f"{here}.min_query_length: an integer, 0 or more")
        if "initial_user" in element and (kind != "users_select" or not _user_id(element["initial_user"])):
            problems.append(f"{here}.initial_user: one user id, of a users_select")
        if "initial_users" in element:
            users = element["initial_users"]
            if kind != "multi_users_select" or not isinstance(users, list) or not all(map(_user_id, users)):
                problems.append(f"{here}.initial_users: a list of user ids, of a multi_users_select")
        if kind == "timepicker":
            initial = element.get("initial_time")
            if initial is not None and not (isinstance(initial, str) and CLOCK.fullmatch(initial)):
                problems.append(f"{here}.initial_time: HH:mm, 00:00 to 23:59, not {initial!r}")
            if "timezone" in element and not isinstance(element["timezone"], str):
                problems.append(f"{here}.timezone: a string")
    elif kind == "number_input":
        problems += _number_input(element, here)
    elif kind == "datetimepicker":
        # No placeholder; the initial moment is Unix seconds, an integer of 10 digits.
        if "placeholder" in element:
            problems.append(f"{here}.placeholder: a datetimepicker has none")
        initial = element.get("initial_date_time")
        if initial is not None and (
            not isinstance(initial, int) or isinstance(initial, bool) or len(str(initial)) != 10
        ):
            problems.append(f"{here}.initial_date_time: Unix seconds, an integer of 10 digits")
    elif kind == "image":
        problems += _image(element, here)
    else:
        problems.append(f"{here}.type: unknown element type {kind!r}")
    if "confirm" in element:
        problems += _confirm(element["confirm"], f"{here}.confirm")
    return problems


def _number_input(element: dict[str, Any], here: str) -> list[str]:
    """Its numbers are strings (`"60"`, not 60), whole unless decimals are allowed; the minimum is not above the
    maximum."""
    problems = []
    if "placeholder" in element:
        problems += _text(element["placeholder"], f"{here}.placeholder", 150, plain_only=True)
    decimals = element.get("is_decimal_allowed")
    if not isinstance(decimals, bool):
        problems.append(f"{here}.is_decimal_allowed: required, true or false")
    pattern = NUMBER if decimals else WHOLE_NUMBER
    numbers = {}
    for key in ("initial_value", "min_value", "max_value"):
        if key not in element:
            continue
        value = element[key]
        if not isinstance(value, str) or not pattern.fullmatch(value):
            problems.append(f"{here}.{key}: a string of a {'' if decimals else 'whole '}number, not {value!r}")
        else:
            numbers[key] = float(value)
    if "min_value" in numbers and "max_value" in numbers and numbers["min_value"] > numbers["max_value"]:
        problems.append(f"{here}.min_value: greater than max_value")
    return problems


def _user_id(value: Any) -> bool:
    return isinstance(value, str) and bool(value)  # Slack checks it is a string, not that the user exists


def options_problems(options: Any) -> list[str]:
    """What Slack would refuse in the options an external select's loader answers (none found is an answer)."""
    return _options(options, "options", 0, 100)


def _confirm(confirm: Any, here: str) -> list[str]:
    if not isinstance(confirm, dict):
        return [f"{here}: not an object"]
    problems = _text(confirm.get("title"), f"{here}.title", 100, plain_only=True)
    problems += _text(confirm.get("text"), f"{here}.text", 300)
    for key in ("confirm", "deny"):
        problems += _text(confirm.get(key), f"{here}.{key}", 30, plain_only=True)
    if confirm.get("style") not in (None, "primary", "danger"):
        problems.append(f"{here}.style: only primary or danger")
    return problems


def _options(options: Any, here: str, fewest: int, most: int) -> list[str]:
    if not isinstance(options, list) or not fewest <= len(options) <= most:
        return [f"{here}: {fewest} to {most} options"]
    problems = []
    for j, option in enumerate(options):
        if not isinstance(option, dict):
            problems.append(f"{here}[{j}]: not an object")
            continue
        problems += _text(option.get("text"), f"{here}[{j}].text", 75)
        if not isinstance(option.get("value"), str) or not 0 < len(option["value"]) <= 150:
            problems.append(f"{here}[{j}].value: 1 to 150 characters")
    return problems


def _image(image: dict[str, Any], here: str) -> list[str]:
    problems = []
    if not 0 < len(str(image.get("alt_text", ""))) <= 2000:
        problems.append(f"{here}.alt_text: 1 to 2000 characters")
    if not 0 < len(str(image.get("image_url", ""))) <= 3000:
        problems.append(f"{here}.image_url: 1 to 3000 characters")
    return problems


def _text(text: Any, here: str, most: int, plain_only: bool = False) -> list[str]:
    if not isinstance(text, dict):
        return [f"{here}: a text object is required"]
    kind = text.get("type")
    if kind not in (("plain_text",) if plain_only else TEXT_TYPES):
        return [f"{here}.type: {kind!r} is not allowed here"]
    problems = []
    value = text.get("text")
    if not isinstance(value, str) or not 0 < len(value) <= most:
        problems.append(f"{here}.text: 1 to {most} characters, not {len(value) if isinstance(value, str) else value}")
    if "emoji" in text and kind != "plain_text":
        problems.append(f"{here}.emoji: only on plain_text")
    if "verbatim" in text and kind != "mrkdwn":
        problems.append(f"{here}.verbatim: only on mrkdwn")
    return problems
