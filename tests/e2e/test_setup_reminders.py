"""An admin sets the reminders of pauses nobody handles in the setup modal, submitted as Slack submits it (every
field, null where nothing was chosen); what is saved is read from the database around the bot. Every test here
runs on SQLite, and again on PostgreSQL when TEST_DATABASE_URL is set."""

import pytest
from sqlalchemy import select

from bot import storage
from bot.slack.blocks import setup_blocks
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign
from tests.fakes.view_state import values_of

REMINDER_COLUMNS = ("remind_after_minutes", "quiet_from", "quiet_to", "time_zone", "escalate_to")


@pytest.fixture(scope="module", params=KINDS)
def stack(request, loop, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"setup-reminders-{request.param}")
    with fresh_database(request.param, folder) as database_url:
        running = start_stack(loop, folder, DATABASE_URL=database_url)
        running.slack.admins.add("U0ADMIN01")
        running.slack.usergroups["S0OPS0001"] = ("ops-leads", ["U0CAROL01"])
        running.slack.usergroups["S0SALES01"] = ("sales", ["U0DAVE001"])
        running.truedy.add(KEY_BOT_TEAM, campaign("batch_remind01"))
        yield running
        stop_stack(running)


def open_setup(stack) -> dict:
    opened = len(stack.slack.opened_views())
    stack.command("setup", team_id=BOT_TEAM, user_id="U0ADMIN01")
    return wait_until(lambda: stack.slack.opened_views()[opened:], 10, "the setup modal")[0]["view"]


def submit(stack, view: dict, chosen: dict) -> dict | None:
    submission = stack.slack.view_submission(view, values_of(view, chosen), user_id="U0ADMIN01", team_id=BOT_TEAM)
    return stack.slack.wait_ack(stack.slack.push("view_submission", submission)).payload


def saved_reminders(stack) -> dict:
    engine = storage.connect(stack.database_url)
    try:
        with engine.connect() as connection:
            table = storage.workspaces
            columns = [table.c[name] for name in REMINDER_COLUMNS]
            row = connection.execute(select(*columns).where(table.c.team_id == BOT_TEAM)).mappings().one()
            return dict(row)
    finally:
        engine.dispose()


def field(view: dict, block_id: str) -> dict:
    return next(block for block in view["blocks"] if block.get("block_id") == block_id)["element"]


def suggested(stack, action_id: str, block_id: str, typed: str) -> list[str]:
    suggestion = stack.slack.block_suggestion(action_id, block_id, typed, BOT_TEAM)
    return [
        option["value"]
        for option in stack.slack.wait_ack(stack.slack.push("interactive", suggestion)).payload["options"]
    ]


def test_the_reminder_settings_are_saved_as_chosen_and_shown_again(stack):
    view = open_setup(stack)
    # Found as the admin types: the time zone by a city, the group by its handle.
    assert suggested(stack, setup_blocks.TIME_ZONE_ACTION_ID, "time_zone", "new york") == ["America/New_York"]
    assert suggested(stack, setup_blocks.ESCALATE_GROUP_ACTION_ID, "escalate_group", "ops") == ["S0OPS0001"]

    chosen = {
        "remind_after": "30",
        "quiet_from": "22:00",
        "quiet_to": "07:00",
        "time_zone": "America/New_York",
        "escalate_group": "S0OPS0001",
    }
    assert submit(stack, view, chosen) in (None, {})  # the modal closes
    assert saved_reminders(stack) == {
        "remind_after_minutes": 30,
        "quiet_from": "22:00",
        "quiet_to": "07:00",
        "time_zone": "America/New_York",
        "escalate_to": "S0OPS0001",
    }

    # Opened again, the form shows them; a person instead of the group, and the bot's default, are saved.
    view = open_setup(stack)
    assert field(view, "remind_after")["initial_value"] == "30"
    assert field(view, "quiet_from")["initial_time"] == "22:00"
    assert field(view, "time_zone")["initial_option"]["value"] == "America/New_York"
    assert field(view, "escalate_group")["initial_option"] == {
        "text": {"type": "plain_text", "text": "@ops-leads"},
        "value": "S0OPS0001",
    }
    chosen = {"quiet_from": "22:00", "quiet_to": "07:00", "time_zone": "Europe/Paris", "escalate_person": "U0CAROL01"}
    assert submit(stack, view, chosen) in (None, {})
    assert saved_reminders(stack) == {
        "remind_after_minutes": None,
        "quiet_from": "22:00",
        "quiet_to": "07:00",
        "time_zone": "Europe/Paris",
        "escalate_to": "U0CAROL01",
    }


def test_a_form_with_problems_says_every_one_under_its_field_and_saves_nothing(stack):
    view = open_setup(stack)
    before = saved_reminders(stack)
    checks = len(stack.truedy.received)
    chosen = {
        "api_key": "truedy_NewKeyNeverChecked0001",
        "remind_after": "1441",  # a forged one: Slack's own field stops at 1440
        "quiet_from": "22:00",
        "escalate_person": "U0CAROL01",
        "escalate_group": "S0SALES01",
    }
    assert submit(stack, view, chosen) == {
        "response_action": "errors",
        "errors": {
            "remind_after": "A whole number of minutes, 0 to 1440 (0: no reminders; empty: the bot's default).",
            "quiet_to": "Choose when the quiet hours end too, or leave both empty.",
            "time_zone": "Choose the time zone the quiet hours are in.",
            "escalate_group": "Choose a person or a group, not both.",
        },
    }
    assert saved_reminders(stack) == before
    # Answered before the key was checked: Truedy never saw it.
    assert [r for r in stack.truedy.received[checks:] if "NewKeyNeverChecked" in (r.authorization or "")] == []

    same = {"quiet_from": "09:00", "quiet_to": "09:00", "time_zone": "Mars/Olympus_Mons"}
    assert submit(stack, view, same) == {
        "response_action": "errors",
        "errors": {
            "quiet_to": "From and to are the same time: leave both empty for no quiet hours.",
            "time_zone": "Not a time zone I know: type a city and choose one in the list.",
        },
    }
    assert saved_reminders(stack) == before


def test_when_slack_will_not_list_the_groups_the_saved_group_is_kept(stack):
    view = open_setup(stack)
    assert submit(stack, view, {"escalate_group": "S0SALES01", "remind_after": "0"}) in (None, {})

    stack.slack.fail("usergroups.list", "ratelimited", times=1)
    view = open_setup(stack)
    assert "escalate_group" not in [block.get("block_id") for block in view["blocks"]]
    assert "Saving keeps <!subteam^S0SALES01>, unless you choose a person above." in str(view["blocks"][-1])
    assert submit(stack, view, {"remind_after": "0"}) in (None, {})
    assert saved_reminders(stack)["escalate_to"] == "S0SALES01"
    assert saved_reminders(stack)["remind_after_minutes"] == 0
