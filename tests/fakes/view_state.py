"""A modal's `state.values` as Slack submits it: every input block of the view, each with its element's state, null
(or empty) where nothing was chosen; a field left out of the form is not there at all."""

from typing import Any

# The key of each element's state, and its value when nothing was chosen.
_STATE_KEYS: dict[str, tuple[str, Any]] = {
    "plain_text_input": ("value", None),
    "number_input": ("value", None),
    "timepicker": ("selected_time", None),
    "datepicker": ("selected_date", None),
    "datetimepicker": ("selected_date_time", None),
    "users_select": ("selected_user", None),
    "multi_users_select": ("selected_users", []),
    "conversations_select": ("selected_conversation", None),
    "multi_conversations_select": ("selected_conversations", []),
    "channels_select": ("selected_channel", None),
    "multi_channels_select": ("selected_channels", []),
    "static_select": ("selected_option", None),
    "external_select": ("selected_option", None),
    "radio_buttons": ("selected_option", None),
    "multi_static_select": ("selected_options", []),
    "multi_external_select": ("selected_options", []),
    "checkboxes": ("selected_options", []),
}


def values_of(view: dict[str, Any], chosen: dict[str, Any]) -> dict[str, Any]:
    """`view` submitted with `chosen` (block id -> what was chosen: text, a time, an id, an option's value or a
    list of them), as its `state.values`."""
    values = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        key, empty = _STATE_KEYS[element["type"]]
        value = chosen.get(block["block_id"], empty)
        if key == "selected_option" and value is not None:
            value = _option(value)
        elif key == "selected_options":
            value = [_option(each) for each in value]
        values[block["block_id"]] = {element.get("action_id", "value"): {"type": element["type"], key: value}}
    return values


def _option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value[:75]}, "value": value}
