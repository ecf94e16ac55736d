"""Resume later at a time picked in Slack's own datetimepicker, through the real worker: opened from an alert's
menu, a row of the list and `/resume-campaign <id> at`; its submission checked on its field (nothing kept when
refused); the schedule announced where it was asked for, and run once at the picked moment."""

import itertools
import time

import pytest
from sqlalchemy import func, select

from bot import storage
from bot.slack.blocks import time_picker_blocks
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign

_numbers = itertools.count(1)
ONLY_BOB = {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": ["U0BOB0001"]}}}
EVERYONE = {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": []}}}


@pytest.fixture(scope="module", params=KINDS)
def stack(request, loop, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"picker-{request.param}")
    with fresh_database(request.param, folder) as database_url:
        running = start_stack(loop, folder, DATABASE_URL=database_url)
        yield running
        stop_stack(running)


def new_campaign(stack, name: str = "Q2 Outreach Campaign") -> str:
    campaign_id = f"batch_pick{next(_numbers):06d}"
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id, name=name))
    return campaign_id


def picker_opened(stack, opened_before: int) -> dict:
    """The picker the worker opened, once its summary was read from Truedy (its views.update)."""
    view = wait_until(lambda: stack.slack.opened_views()[opened_before:], 10, "the picker")[0]["view"]
    assert view["callback_id"] == time_picker_blocks.CALLBACK_ID
    return view


def summary_shown(stack, campaign_id: str) -> dict:
    def updated():
        return [
            c.params["view"]
            for c in stack.slack.calls_to("views.update")
            if f"`{campaign_id}`" in str(c.params["view"]) and "reading it from Truedy" not in str(c.params["view"])
        ]

    return wait_until(updated, 10, "the picker's summary")[-1]


def submit(stack, view: dict, seconds, user_id: str = "U0BOB0001"):
    picked = {"type": "datetimepicker", "selected_date_time": seconds}
    values = {time_picker_blocks.WHEN_BLOCK_ID: {time_picker_blocks.WHEN_ACTION_ID: picked}}
    submission = stack.slack.view_submission(view, values, user_id=user_id, team_id=BOT_TEAM)
    return stack.slack.wait_ack(stack.slack.push("view_submission", submission)).payload


def schedules_of(stack, campaign_id: str) -> int:
    engine = storage.connect(stack.database_url)
    try:
        with engine.connect() as connection:
            table = storage.scheduled_resumes
            return connection.execute(
                select(func.count()).select_from(table).where(table.c.campaign_id == campaign_id)
            ).scalar_one()
    finally:
        engine.dispose()


def resumes_of(stack, campaign_id: str) -> list:
    return [r for r in stack.truedy.resumes() if f"/{campaign_id}/" in r.path]


def open_from_alert(stack, campaign_id: str, channel: str, user_id: str = "U0BOB0001") -> tuple[str, dict]:
    alert_ts = stack.post_alert(campaign_id, channel)
    opened = len(stack.slack.opened_views())
    click = stack.slack.click(channel, alert_ts, user_id=user_id, action_id="resume_later", option=2)
    assert click["actions"][0]["selected_option"]["text"]["text"] == "Pick a time…"
    assert stack.slack.wait_ack(stack.slack.push("interactive", click)).payload in (None, {})
    return alert_ts, picker_opened(stack, opened)


def test_a_time_picked_from_an_alert_is_scheduled_in_its_thread_and_runs_once_at_that_moment(stack):
    campaign_id, channel = new_campaign(stack, "Renewals <EMEA>"), "C0PICK001"
    alert_ts, view = open_from_alert(stack, campaign_id, channel)
    element = view["blocks"][1]["element"]
    assert element["type"] == "datetimepicker"
    # It opens an hour or so ahead, on a quarter of an hour.
    assert element["initial_date_time"] % 900 == 0 and 3600 <= element["initial_date_time"] - time.time() <= 4500
    shown = summary_shown(stack, campaign_id)
    assert "*Renewals &lt;EMEA&gt;*" in shown["blocks"][0]["text"]["text"] and "Paused" in str(shown)

    due = int(time.time()) + 4
    due_monotonic = time.monotonic() + (due - time.time())
    assert submit(stack, shown, due) in (None, {})
    message = wait_until(
        lambda: [
            c for c in stack.slack.posts_in(channel) if f"scheduled `{campaign_id}` to resume" in c.params["text"]
        ],
        10,
        "the scheduled message",
    )[0]
    assert message.params["thread_ts"] == alert_ts and f"<!date^{due}^" in message.params["text"]
    assert message.params["text"].startswith(":alarm_clock: <@U0BOB0001> scheduled")

    resumed = wait_until(lambda: resumes_of(stack, campaign_id), 20, "the resume at its time")
    assert resumed[0].at >= due_monotonic - 1  # not before its time (the database's clock is this machine's)
    assert resumed[0].authorization == f"Bearer {KEY_BOT_TEAM}"
    wait_until(
        lambda: "it was resumed" in stack.slack.messages[(channel, message.answer["ts"])]["text"], 15, "its ending"
    )
    assert len(resumes_of(stack, campaign_id)) == 1 and schedules_of(stack, campaign_id) == 1


@pytest.mark.parametrize(
    "picked, said",
    [
        (lambda now: now - 60, time_picker_blocks.PASSED),
        (lambda now: now + 31 * 86400, time_picker_blocks.TOO_FAR),
        (lambda now: 253402300800 * 1000, time_picker_blocks.TOO_FAR),  # past the calendar's end
        (lambda now: "soon", time_picker_blocks.NO_TIME),
        (lambda now: None, time_picker_blocks.NO_TIME),
    ],
    ids=["past", "31 days ahead", "year 10000", "not a number", "nothing"],
)
def test_a_picked_time_that_cannot_be_scheduled_is_said_on_its_field_and_nothing_is_kept(stack, picked, said):
    campaign_id, channel = new_campaign(stack), "C0PICK002"
    _, view = open_from_alert(stack, campaign_id, channel)
    posted = len(stack.slack.posts_in(channel))

    ack = submit(stack, view, picked(int(time.time())))

    assert ack == {"response_action": "errors", "errors": {time_picker_blocks.WHEN_BLOCK_ID: said}}
    assert schedules_of(stack, campaign_id) == 0
    assert len(stack.slack.posts_in(channel)) == posted


def test_a_campaign_already_scheduled_is_said_on_the_field_with_when_and_by_whom(stack):
    campaign_id, channel = new_campaign(stack), "C0PICK003"
    stack.command(f"{campaign_id} in 2h", channel_id=channel, user_id="U0ALICE01")
    wait_until(lambda: schedules_of(stack, campaign_id) == 1, 10, "the typed schedule")
    _, view = open_from_alert(stack, campaign_id, channel)

    ack = submit(stack, view, int(time.time()) + 600)

    error = ack["errors"][time_picker_blocks.WHEN_BLOCK_ID]
    assert f"`{campaign_id}` is already scheduled to resume" in error and "<@U0ALICE01>" in error
    assert schedules_of(stack, campaign_id) == 1


def test_the_command_with_at_and_no_time_opens_the_picker_and_announces_in_its_channel(stack):
    campaign_id, channel = new_campaign(stack), "C0PICK004"
    opened = len(stack.slack.opened_views())
    payload, ack = stack.command(f"{campaign_id} at", channel_id=channel, user_id="U0BOB0001")
    assert ack.payload in (None, {})
    view = picker_opened(stack, opened)
    assert stack.slack.opened_views()[opened]["trigger_id"] == payload["trigger_id"]

    assert submit(stack, view, int(time.time()) + 7200) in (None, {})

    message = wait_until(
        lambda: [c for c in stack.slack.posts_in(channel) if f"scheduled `{campaign_id}`" in c.params["text"]],
        10,
        "the scheduled message",
    )[0]
    assert "thread_ts" not in message.params or message.params["thread_ts"] is None
    assert "Cancel" in str(message.params["blocks"])


def test_a_row_of_the_list_opens_the_picker_and_announces_in_the_lists_channel(stack):
    campaign_id, channel = new_campaign(stack, "Listed for later"), "C0PICK005"
    listed, _ = stack.command("list", channel_id=channel, user_id="U0BOB0001")
    reply = stack.private_reply(listed)
    row = next(i for i, b in enumerate(reply["blocks"]) if f"`{campaign_id}`" in str(b.get("text", "")))
    assert reply["blocks"][row + 1]["elements"][0]["text"]["text"] == "Resume later…"
    opened = len(stack.slack.opened_views())
    value = reply["blocks"][row + 1]["elements"][0]["value"]
    index = [b["elements"][0]["value"] for b in reply["blocks"] if b.get("type") == "actions"].index(value)
    click = stack.slack.click_private(reply, "pick_time_listed", channel, user_id="U0BOB0001", index=index)
    assert stack.slack.wait_ack(stack.slack.push("interactive", click)).payload in (None, {})
    view = picker_opened(stack, opened)

    assert submit(stack, view, int(time.time()) + 3600) in (None, {})

    wait_until(
        lambda: [c for c in stack.slack.posts_in(channel) if f"scheduled `{campaign_id}`" in c.params["text"]],
        10,
        "the scheduled message",
    )


def test_someone_who_may_not_resume_gets_no_picker_and_one_allowed_no_more_cannot_submit(stack):
    campaign_id, channel = new_campaign(stack), "C0PICK006"
    _, view = open_from_alert(stack, campaign_id, channel, user_id="U0MALLORY")  # before restrictions
    stack.slack.admins.add("U0ADMIN01")
    stack.run_setup(BOT_TEAM, ONLY_BOB)
    try:
        alert_ts = stack.post_alert(campaign_id, channel)
        opened = len(stack.slack.opened_views())
        click = stack.slack.click(channel, alert_ts, user_id="U0MALLORY", action_id="resume_later", option=2)
        stack.slack.wait_ack(stack.slack.push("interactive", click))
        refused = wait_until(lambda: stack.slack.responses_to(click), 10, "the refusal")[0]
        assert refused.params["text"].startswith(":lock: Only <@U0BOB0001> may resume")
        assert len(stack.slack.opened_views()) == opened

        ack = submit(stack, view, int(time.time()) + 3600, user_id="U0MALLORY")
        assert ack["errors"][time_picker_blocks.WHEN_BLOCK_ID].startswith(":lock: Only <@U0BOB0001> may resume")
        assert schedules_of(stack, campaign_id) == 0
    finally:
        stack.run_setup(BOT_TEAM, EVERYONE)
