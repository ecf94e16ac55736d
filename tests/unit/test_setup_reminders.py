"""The reminder settings of the setup modal (bot.slack.blocks.setup_blocks): the fields as saved, what a submission
holds, what is wrong with it (said under each field, all at once), and the time zones found as the admin types."""

import json
from datetime import UTC, datetime

import pytest

from bot.slack.blocks import setup_blocks
from bot.slack.blocks.setup_blocks import ReminderFields, reminder_problems, submitted_reminders, zone_options
from bot.slack.listeners import views
from bot.storage.workspace_settings import ReminderChoices, WorkspaceId, WorkspaceSettings
from tests.fakes import block_kit
from tests.fakes.view_state import values_of

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
GROUPS = [("S0OPS0001", "ops-leads"), ("S0SALES01", "sales")]


def settings(**reminders) -> WorkspaceSettings:
    return WorkspaceSettings(
        WorkspaceId("", "T0BOT0001"), "k", "0001", "slack", NOW, "C0ALERT01", (), (), "U0ADMIN01", NOW, **reminders
    )


def blocks_of(view: dict) -> dict[str, dict]:
    return {block["block_id"]: block for block in view["blocks"] if "block_id" in block}


def submitted(view: dict, chosen: dict[str, object]) -> dict:
    """`view` submitted as Slack sends it, with what was chosen (block id -> value) and nothing in the rest."""
    return {**view, "state": {"values": values_of(view, chosen)}}


def initial_values(view: dict) -> dict[str, object]:
    """What an unchanged form submits: each field's initial value."""
    found = {}
    for block_id, block in blocks_of(view).items():
        element = block.get("element") or {}
        for key in ("initial_value", "initial_time", "initial_user"):
            if key in element:
                found[block_id] = element[key]
        if "initial_option" in element:
            found[block_id] = element["initial_option"]["value"]
    return found


def fields(**given) -> ReminderFields:
    empty = dict(remind_after=None, quiet_from=None, quiet_to=None, time_zone=None, person=None, group=None)
    return ReminderFields(**(empty | given))


# --- the fields, as saved ----------------------------------------------------------------------------------------


def test_the_reminder_fields_come_after_the_others_under_their_heading():
    view = setup_blocks.setup_modal(settings(), GROUPS, {})
    ids = [block.get("block_id") for block in view["blocks"]]
    assert ids[ids.index("webhook_secret") + 1 :] == [
        "reminders",
        "remind_after",
        "quiet_from",
        "quiet_to",
        "time_zone",
        "escalate_person",
        "escalate_group",
    ]
    blocks = blocks_of(view)
    assert blocks["reminders"]["text"]["text"].startswith("*Reminders of pauses nobody handles*")
    assert all(blocks[b]["optional"] for b in ids[ids.index("remind_after") :])
    assert "Empty: the bot's default" in blocks["remind_after"]["hint"]["text"]
    assert blocks["remind_after"]["element"] == {
        "type": "number_input",
        "action_id": "value",
        "is_decimal_allowed": False,
        "min_value": "0",
        "max_value": "1440",
    }
    assert blocks["time_zone"]["element"]["type"] == "external_select"
    assert blocks["time_zone"]["element"]["min_query_length"] == 1
    assert blocks["escalate_group"]["element"]["action_id"] == setup_blocks.ESCALATE_GROUP_ACTION_ID
    assert setup_blocks.ESCALATE_GROUP_ACTION_ID != setup_blocks.USERGROUPS_ACTION_ID
    assert block_kit.view_problems(view) == []


def test_the_saved_settings_are_shown_and_an_unchanged_form_saves_them_again():
    saved = settings(remind_after_minutes=0, quiet_from="22:00", quiet_to="07:00", time_zone="Europe/Paris")
    view = setup_blocks.setup_modal(saved, GROUPS, {})
    blocks = blocks_of(view)
    assert blocks["remind_after"]["element"]["initial_value"] == "0"
    assert blocks["quiet_from"]["element"]["initial_time"] == "22:00"
    assert blocks["quiet_to"]["element"]["initial_time"] == "07:00"
    assert blocks["time_zone"]["element"]["initial_option"] == {
        "text": {"type": "plain_text", "text": "Europe/Paris"},
        "value": "Europe/Paris",
    }
    assert block_kit.view_problems(view) == []

    again = submitted(view, initial_values(view))
    assert reminder_problems(submitted_reminders(again)) == {}
    assert setup_blocks.submitted_choices(again).reminders == ReminderChoices(0, "22:00", "07:00", "Europe/Paris", None)


@pytest.mark.parametrize("escalate_to", ["U0CAROL01", "W0GRID0001"])
def test_a_saved_person_is_the_person_fields_initial_user(escalate_to):
    view = setup_blocks.setup_modal(settings(escalate_to=escalate_to), GROUPS, {})
    blocks = blocks_of(view)
    assert blocks["escalate_person"]["element"]["initial_user"] == escalate_to
    assert "initial_option" not in blocks["escalate_group"]["element"]
    assert setup_blocks.submitted_choices(submitted(view, initial_values(view))).reminders.escalate_to == escalate_to


def test_a_saved_group_is_the_group_fields_initial_option_by_its_handle():
    view = setup_blocks.setup_modal(settings(escalate_to="S0OPS0001"), GROUPS, {})
    field = blocks_of(view)["escalate_group"]
    assert field["element"]["initial_option"] == {
        "text": {"type": "plain_text", "text": "@ops-leads"},
        "value": "S0OPS0001",
    }
    assert "initial_user" not in blocks_of(view)["escalate_person"]["element"]
    assert setup_blocks.submitted_choices(submitted(view, initial_values(view))).reminders.escalate_to == "S0OPS0001"


def test_a_workspace_without_user_groups_has_no_group_field():
    view = setup_blocks.setup_modal(settings(), [], {})
    assert "escalate_group" not in blocks_of(view)
    assert "escalate_person" in blocks_of(view)


def test_groups_slack_would_not_list_keep_the_saved_group_unless_a_person_is_chosen():
    view = setup_blocks.setup_modal(settings(escalate_to="S0OPS0001"), None, {"response_url": "https://x"})
    assert "escalate_group" not in blocks_of(view)
    kept = view["blocks"][-1]
    assert kept["type"] == "context"
    assert "Saving keeps <!subteam^S0OPS0001>, unless you choose a person above." in kept["elements"][0]["text"]
    assert json.loads(view["private_metadata"])["response_url"] == "https://x"  # what the caller gave is still there
    assert block_kit.view_problems(view) == []

    assert setup_blocks.submitted_choices(submitted(view, {})).reminders.escalate_to == "S0OPS0001"
    chosen = setup_blocks.submitted_choices(submitted(view, {"escalate_person": "U0CAROL01"}))
    assert chosen.reminders.escalate_to == "U0CAROL01"
    # Nothing saved, nothing kept: no such line, and nothing in the metadata.
    plain = setup_blocks.setup_modal(settings(escalate_to="U0CAROL01"), None, {})
    assert plain["blocks"][-1]["block_id"] == "escalate_person"
    assert json.loads(plain["private_metadata"]) == {}


def test_a_forged_kept_group_in_the_metadata_is_not_kept():
    view = setup_blocks.setup_modal(settings(), None, {})
    forged = {**view, "private_metadata": json.dumps({setup_blocks._KEPT_GROUP: "<!channel>"})}
    assert setup_blocks.submitted_choices(submitted(forged, {})).reminders.escalate_to is None


def test_a_saved_value_slack_would_refuse_is_not_shown_and_the_form_still_opens():
    saved = settings(remind_after_minutes=5000, quiet_from="7:00", quiet_to="22:00:00", escalate_to="nobody")
    view = setup_blocks.setup_modal(saved, GROUPS, {})
    blocks = blocks_of(view)
    assert "initial_value" not in blocks["remind_after"]["element"]
    assert "initial_time" not in blocks["quiet_from"]["element"]
    assert "initial_time" not in blocks["quiet_to"]["element"]
    assert "initial_user" not in blocks["escalate_person"]["element"]
    assert block_kit.view_problems(view) == []


def test_the_modal_fits_at_its_largest():
    saved = settings(
        remind_after_minutes=1440,
        quiet_from="23:59",
        quiet_to="00:00",
        time_zone="America/Argentina/ComodRivadavia",
        escalate_to="S" + "9" * 31,
    )
    groups = [(f"S{n:08d}", "h" * 75) for n in range(5000)]
    view = setup_blocks.setup_modal(
        saved, groups, {"response_url": "https://" + "h" * 200}, "https://" + "h" * 200, "U0BOT"
    )
    assert len(view["blocks"]) <= block_kit.VIEW_BLOCKS
    assert block_kit.view_problems(view) == []
    assert block_kit.view_problems(setup_blocks.setup_modal(saved, None, {"response_url": "https://x"})) == []
    assert block_kit.view_problems(setup_blocks.setup_modal(None, None, {})) == []


# --- what a submission holds --------------------------------------------------------------------------------------


def test_a_submission_is_read_as_slack_sends_it():
    view = setup_blocks.setup_modal(settings(), GROUPS, {})
    chosen = {
        "remind_after": "45",
        "quiet_from": "22:00",
        "quiet_to": "07:00",
        "time_zone": "America/New_York",
        "escalate_group": "S0OPS0001",
    }
    choices = setup_blocks.submitted_choices(submitted(view, chosen))
    assert choices.reminders == ReminderChoices(45, "22:00", "07:00", "America/New_York", "S0OPS0001")


def test_empty_fields_are_the_defaults():
    view = setup_blocks.setup_modal(settings(), GROUPS, {})
    form = submitted(view, {})
    assert submitted_reminders(form) == fields()
    assert reminder_problems(submitted_reminders(form)) == {}
    assert setup_blocks.submitted_choices(form).reminders == ReminderChoices(None, None, None, None, None)


def test_a_form_without_the_reminder_fields_keeps_the_saved_ones():
    # Opened before they existed: its submission has none of them.
    form = {"state": {"values": {"api_key": {"value": {"type": "plain_text_input", "value": None}}}}}
    assert submitted_reminders(form) is None
    assert reminder_problems(None) == {}
    assert setup_blocks.submitted_choices(form).reminders is None


def test_zero_minutes_is_no_reminders_not_the_default():
    view = setup_blocks.setup_modal(settings(), GROUPS, {})
    assert setup_blocks.submitted_choices(submitted(view, {"remind_after": "0"})).reminders.remind_after_minutes == 0


@pytest.mark.parametrize(
    "state",
    [{}, {"value": {"type": "external_select", "selected_option": "Europe/Paris"}}, {"setup_time_zone": None}],
    ids=["absent", "not an option", "null"],
)
def test_a_malformed_state_reads_as_empty(state):
    form = {"state": {"values": {"remind_after": {"value": {"type": "number_input", "value": 7}}, "time_zone": state}}}
    assert submitted_reminders(form) == fields()


# --- what is wrong with it ----------------------------------------------------------------------------------------


NO_ZONE = "Choose the time zone the quiet hours are in."
MINUTES = "A whole number of minutes, 0 to 1440 (0: no reminders; empty: the bot's default)."
NOT_A_TIME = "Not a time of day: choose one in the list."
ZONE = {"time_zone": "Europe/Paris"}
PROBLEMS = {
    "minutes over a day": (
        {"remind_after": "1441"},
        {"remind_after": MINUTES},
    ),
    "negative minutes": ({"remind_after": "-5"}, {"remind_after": MINUTES}),
    "a fraction of a minute": ({"remind_after": "1.5"}, {"remind_after": MINUTES}),
    "not a number": ({"remind_after": "soon"}, {"remind_after": MINUTES}),
    "a number with a newline": ({"remind_after": "60\n"}, {"remind_after": MINUTES}),
    "from without to": (
        {"quiet_from": "22:00", **ZONE},
        {"quiet_to": "Choose when the quiet hours end too, or leave both empty."},
    ),
    "to without from": (
        {"quiet_to": "07:00", **ZONE},
        {"quiet_from": "Choose when the quiet hours start too, or leave both empty."},
    ),
    "the same time twice": (
        {"quiet_from": "09:00", "quiet_to": "09:00", **ZONE},
        {"quiet_to": "From and to are the same time: leave both empty for no quiet hours."},
    ),
    "quiet hours without a time zone": ({"quiet_from": "22:00", "quiet_to": "07:00"}, {"time_zone": NO_ZONE}),
    "not a time of day": (
        {"quiet_from": "25:00", "quiet_to": "7:00", **ZONE},
        {"quiet_from": NOT_A_TIME, "quiet_to": NOT_A_TIME},
    ),
    "an unknown time zone": (
        {"time_zone": "Mars/Olympus_Mons"},
        {"time_zone": "Not a time zone I know: type a city and choose one in the list."},
    ),
    "a path for a time zone": (
        {"time_zone": "../../etc/passwd"},
        {"time_zone": "Not a time zone I know: type a city and choose one in the list."},
    ),
    "the server's local time": (
        {"time_zone": "localtime"},
        {"time_zone": "Not a time zone I know: type a city and choose one in the list."},
    ),
    "a person and a group": (
        {"person": "U0CAROL01", "group": "S0OPS0001"},
        {"escalate_group": "Choose a person or a group, not both."},
    ),
    "a person who is not one": (
        {"person": "<!channel>"},
        {"escalate_person": "Not a person of this workspace: choose one in the list."},
    ),
    "a group that is not one": (
        {"group": "U0CAROL01"},
        {"escalate_group": "Not a user group: choose one in the list."},
    ),
}


@pytest.mark.parametrize("given, problems", PROBLEMS.values(), ids=PROBLEMS.keys())
def test_each_problem_is_said_under_its_field(given, problems):
    assert reminder_problems(fields(**given)) == problems


def test_every_problem_is_said_at_once():
    problems = reminder_problems(fields(remind_after="2000", quiet_from="22:00", person="U0A1", group="S0B2"))
    assert set(problems) == {"remind_after", "quiet_to", "time_zone", "escalate_group"}
    assert problems["time_zone"] == NO_ZONE


@pytest.mark.parametrize(
    "given",
    [
        {"remind_after": "0"},
        {"remind_after": "1440"},
        {"remind_after": "0060"},
        {"quiet_from": "22:00", "quiet_to": "07:00", **ZONE},  # spans midnight
        {"quiet_from": "00:00", "quiet_to": "23:59", "time_zone": "UTC"},
        ZONE,  # a time zone alone: for Snooze until 9:00 tomorrow
        {"person": "W0GRID0001"},
        {"group": "S0OPS0001"},
    ],
)
def test_what_makes_sense_has_no_problem(given):
    assert reminder_problems(fields(**given)) == {}


def test_every_problem_names_a_field_of_the_form():
    view = setup_blocks.setup_modal(settings(), GROUPS, {})
    inputs = {block["block_id"] for block in view["blocks"] if block["type"] == "input"}
    for _, problems in PROBLEMS.values():
        assert set(problems) <= inputs


# --- the time zones found as the admin types ----------------------------------------------------------------------


def values(options: list[dict]) -> list[str]:
    return [option["value"] for option in options]


@pytest.mark.parametrize(
    "typed, found",
    [
        ("paris", ["Europe/Paris"]),
        ("PARIS", ["Europe/Paris"]),
        ("new york", ["America/New_York"]),
        ("  new   york ", ["America/New_York"]),
        ("new_york", ["America/New_York"]),
        ("nowhere at all", []),
    ],
)
def test_time_zones_are_found_by_any_part_of_their_name(typed, found):
    assert values(zone_options(typed)) == found


def test_time_zones_found_are_sorted_and_at_most_100_options_slack_accepts():
    found = zone_options("a")
    assert len(found) == 100
    assert values(found) == sorted(values(found))
    assert block_kit.options_problems(found) == []
    assert all(name.startswith("America/") for name in values(zone_options("america/")))
    assert found[0] == {"text": {"type": "plain_text", "text": values(found)[0]}, "value": values(found)[0]}


def test_every_time_zone_found_can_be_saved():
    every = zone_options("/") + zone_options("")  # the first 100 of each, as a sample
    assert every and all(reminder_problems(fields(time_zone=name)) == {} for name in values(every))


# --- the listeners ------------------------------------------------------------------------------------------------


class RecordingAck:
    def __init__(self):
        self.calls: list[dict] = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)


def test_the_time_zone_loader_answers_what_was_typed():
    ack = RecordingAck()
    views.find_time_zones(ack, {"value": "paris"})  # type: ignore[arg-type]
    assert ack.calls == [{"options": zone_options("paris")}]
    views.find_time_zones(ack, {})  # type: ignore[arg-type]
    assert len(ack.calls[1]["options"]) == 100


class RecordingApp:
    def __init__(self):
        self.option_loaders: dict[str, object] = {}

    def view(self, _callback_id):
        return lambda listener: listener

    def options(self, action_id):
        def register(listener):
            self.option_loaders[action_id] = listener
            return listener

        return register


def test_the_escalation_group_field_is_served_as_the_group_field_is():
    app = RecordingApp()
    views.register(app)  # type: ignore[arg-type]
    loaders = app.option_loaders
    assert loaders[setup_blocks.ESCALATE_GROUP_ACTION_ID] is loaders[setup_blocks.USERGROUPS_ACTION_ID]
    assert loaders[setup_blocks.TIME_ZONE_ACTION_ID] is views.find_time_zones


def test_every_problem_is_answered_at_once_before_the_key_is_checked():
    view = setup_blocks.setup_modal(settings(), GROUPS, {})
    form = submitted(
        view,
        {"webhook_secret": "not a secret", "quiet_from": "22:00", "quiet_to": "22:00", "remind_after": "-1"},
    )
    ack = RecordingAck()
    # No services: the answer comes before anything is asked of the database, Slack or Truedy.
    views.save_setup(ack, {"user": {"id": "U0ADMIN01"}}, form, None, {"team_id": "T0BOT0001", "services": None})  # type: ignore[arg-type]
    assert ack.calls == [
        {
            "response_action": "errors",
            "errors": {
                "remind_after": MINUTES,
                "quiet_to": "From and to are the same time: leave both empty for no quiet hours.",
                "time_zone": NO_ZONE,
                "webhook_secret": setup_blocks.webhook_secret_problem(setup_blocks.submitted_choices(form)),
            },
        }
    ]
