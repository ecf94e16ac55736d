"""Pause again through the real worker: offered under every successful resume of the command, the alert and a
schedule; a confirmed click pauses once with the workspace's key, says so in the thread, and puts an alert back
in its paused state; a click too late, a second click, a campaign paused meanwhile, someone not allowed and a
process that died while pausing each get what they should, on SQLite and PostgreSQL."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot import storage
from bot.slack.blocks import pause_blocks
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.e2e.test_schedules import make_due, scheduled_message
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign

_numbers = itertools.count(1)
ONLY_BOB = {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": ["U0BOB0001"]}}}
EVERYONE = {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": []}}}


@pytest.fixture(scope="module", params=KINDS)
def stack(request, loop, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"pause-{request.param}")
    with fresh_database(request.param, folder) as database_url:
        running = start_stack(loop, folder, DATABASE_URL=database_url)
        yield running
        stop_stack(running)


def new_campaign(stack, name: str = "Q2 Outreach") -> str:
    campaign_id = f"batch_undo{next(_numbers):06d}"
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id, name=name))
    return campaign_id


def pauses_of(stack, campaign_id: str) -> list:
    return [r for r in stack.truedy.pauses() if f"/{campaign_id}/" in r.path]


def offer_button(stack, channel: str, ts: str) -> dict | None:
    for block in stack.slack.messages[(channel, ts)].get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == pause_blocks.PAUSE_AGAIN_ACTION_ID:
                return element
    return None


def resumed_by_command(stack, campaign_id: str, channel: str) -> str:
    """The announcement's ts, once it is final and offers Pause again."""
    stack.command(campaign_id, channel_id=channel, user_id="U0ALICE01")
    announcement, _, _ = stack.result_in_thread(channel, campaign_id)
    ts = announcement.answer["ts"]
    wait_until(lambda: offer_button(stack, channel, ts), 10, "Pause again under the resume")
    return ts


def click_pause(stack, channel: str, ts: str, user_id: str = "U0BOB0001") -> dict:
    click = stack.slack.click(channel, ts, user_id=user_id, action_id=pause_blocks.PAUSE_AGAIN_ACTION_ID)
    assert stack.slack.wait_ack(stack.slack.push("interactive", click)).payload in (None, {})
    return click


def thread_replies(stack, channel: str, ts: str) -> list[str]:
    return [c.params["text"] for c in stack.slack.posts_in(channel) if c.params.get("thread_ts") == ts]


def set_offers(stack, campaign_id: str, **values) -> None:
    engine = storage.connect(stack.database_url)
    try:
        with engine.begin() as connection:
            offers = storage.pause_offers
            connection.execute(update(offers).where(offers.c.campaign_id == campaign_id).values(**values))
    finally:
        engine.dispose()


def test_a_resumed_campaign_is_paused_again_once_with_the_workspaces_key_and_the_thread_says_who(stack):
    campaign_id, channel = new_campaign(stack), "C0UNDO001"
    ts = resumed_by_command(stack, campaign_id, channel)
    button = offer_button(stack, channel, ts)
    assert button["style"] == "danger"
    assert button["confirm"]["text"]["text"] == f"Pause *{campaign_id}* again? Calls already placed finish."
    assert "*Pause again* is offered until <!date^" in str(stack.slack.messages[(channel, ts)]["blocks"])

    click_pause(stack, channel, ts)

    said = wait_until(lambda: [t for t in thread_replies(stack, channel, ts) if "paused" in t], 10, "the thread")
    assert said[-1].startswith(f":double_vertical_bar: <@U0BOB0001> paused `{campaign_id}` again.")
    (pause,) = pauses_of(stack, campaign_id)
    assert pause.authorization == f"Bearer {KEY_BOT_TEAM}"
    assert stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "paused"
    final = wait_until(
        lambda: (
            "Paused again by <@U0BOB0001>" in str(stack.slack.messages[(channel, ts)]["blocks"])
            and stack.slack.messages[(channel, ts)]
        ),
        10,
        "the announcement's final state",
    )
    assert offer_button(stack, channel, ts) is None and "resumed" in final["text"]
    history, _ = stack.command(f"history {campaign_id}", channel_id=channel)
    assert f"paused again by <@U0BOB0001> · `{campaign_id}` · paused" in stack.private_reply(history)["text"]


def test_an_alert_paused_again_is_back_in_its_paused_state_with_resume_and_can_be_resumed_again(stack):
    campaign_id, channel = new_campaign(stack, "Renewals"), "C0UNDO002"
    alert_ts = stack.post_alert(campaign_id, channel)
    resume = stack.slack.click(channel, alert_ts, user_id="U0ALICE01")
    stack.slack.wait_ack(stack.slack.push("interactive", resume))
    button = wait_until(lambda: offer_button(stack, channel, alert_ts), 10, "Pause again on the alert")
    assert button["confirm"]["text"]["text"] == "Pause *Renewals* again? Calls already placed finish."

    click_pause(stack, channel, alert_ts)

    def paused_again():
        blocks = stack.slack.messages[(channel, alert_ts)]["blocks"]
        return "*Paused again* by <@U0BOB0001>" in str(blocks) and blocks

    blocks = wait_until(paused_again, 10, "the alert back in its paused state")
    assert [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]][:2] == [
        "resume_campaign",
        "resume_later",
    ]
    assert len(pauses_of(stack, campaign_id)) == 1
    # Resumed again from the same alert: offered again, as any resume.
    again = stack.slack.click(channel, alert_ts, user_id="U0ALICE01")
    stack.slack.wait_ack(stack.slack.push("interactive", again))
    wait_until(lambda: offer_button(stack, channel, alert_ts), 10, "Pause again offered again")
    assert stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "running"


def test_two_people_clicking_pause_again_at_once_make_one_pause_request(stack):
    campaign_id, channel = new_campaign(stack), "C0UNDO003"
    ts = resumed_by_command(stack, campaign_id, channel)
    clicks = [
        stack.slack.click(channel, ts, user_id=user, action_id=pause_blocks.PAUSE_AGAIN_ACTION_ID)
        for user in ("U0BOB0001", "U0CAROL01")
    ]
    for envelope in stack.slack.push_many([("interactive", click) for click in clicks]):
        stack.slack.wait_ack(envelope)

    wait_until(lambda: [t for t in thread_replies(stack, channel, ts) if "paused" in t], 10, "the pause")
    told = wait_until(lambda: [r for c in clicks for r in stack.slack.responses_to(c)], 10, "the other clicker told")
    assert len(pauses_of(stack, campaign_id)) == 1
    assert any("Nothing more was sent" in r.params["text"] or "nothing more was sent" in r.params["text"] for r in told)


def test_a_click_after_its_minutes_does_nothing_and_the_button_goes(stack):
    campaign_id, channel = new_campaign(stack), "C0UNDO004"
    ts = resumed_by_command(stack, campaign_id, channel)
    set_offers(stack, campaign_id, offered_until=datetime.now(UTC) - timedelta(seconds=1))

    click = click_pause(stack, channel, ts)

    told = wait_until(lambda: stack.slack.responses_to(click), 10, "the clicker told")[0]
    assert "is no longer offered" in told.params["text"] and "Nothing was changed" in told.params["text"]
    wait_until(lambda: offer_button(stack, channel, ts) is None, 10, "the button gone")
    assert pauses_of(stack, campaign_id) == []
    assert stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "running"


def test_the_sweep_takes_the_button_away_once_its_minutes_are_over(stack):
    campaign_id, channel = new_campaign(stack), "C0UNDO005"
    ts = resumed_by_command(stack, campaign_id, channel)
    set_offers(stack, campaign_id, offered_until=datetime.now(UTC) - timedelta(seconds=1))
    wait_until(lambda: offer_button(stack, channel, ts) is None, 15, "the sweep taking the button away")
    assert "resumed" in stack.slack.messages[(channel, ts)]["text"] and pauses_of(stack, campaign_id) == []


def test_a_campaign_paused_meanwhile_is_explained_and_nothing_else_changes(stack):
    campaign_id, channel = new_campaign(stack), "C0UNDO006"
    ts = resumed_by_command(stack, campaign_id, channel)
    stack.truedy.set_status(KEY_BOT_TEAM, campaign_id, "paused")  # someone paused it in the dashboard

    click_pause(stack, channel, ts)

    said = wait_until(lambda: [t for t in thread_replies(stack, channel, ts) if "not paused again" in t], 10, "why")
    assert "it is already paused" in said[-1] and "Someone paused it meanwhile" in said[-1]
    assert len(pauses_of(stack, campaign_id)) == 1  # Truedy was asked once, and refused
    wait_until(lambda: offer_button(stack, channel, ts) is None, 10, "the offer over")


def test_someone_who_may_not_resume_cannot_pause_again(stack):
    campaign_id, channel = new_campaign(stack), "C0UNDO007"
    ts = resumed_by_command(stack, campaign_id, channel)
    stack.slack.admins.add("U0ADMIN01")
    stack.run_setup(BOT_TEAM, ONLY_BOB)
    try:
        click = click_pause(stack, channel, ts, user_id="U0MALLORY")
        refused = wait_until(lambda: stack.slack.responses_to(click), 10, "the refusal")[0]
        assert refused.params["text"].startswith(":lock: Only <@U0BOB0001> may resume")
        assert offer_button(stack, channel, ts) is not None and pauses_of(stack, campaign_id) == []
    finally:
        stack.run_setup(BOT_TEAM, EVERYONE)


def test_a_pause_whose_process_died_while_sending_is_said_unknown_and_never_sent_again(stack):
    campaign_id, channel = new_campaign(stack), "C0UNDO008"
    ts = resumed_by_command(stack, campaign_id, channel)
    # As a process killed right after recording that the request was leaving: its lease over.
    past = datetime.now(UTC) - timedelta(seconds=1)
    set_offers(stack, campaign_id, state="sending", owner="dead", taken_by="U0BOB0001", lease_expires_at=past)

    said = wait_until(
        lambda: [t for t in thread_replies(stack, channel, ts) if "may have been paused" in t], 15, "unknown"
    )
    assert said[-1].startswith(":grey_question: The bot stopped while pausing")
    wait_until(lambda: offer_button(stack, channel, ts) is None, 10, "the offer over")
    assert pauses_of(stack, campaign_id) == []  # never sent by the sweep


def test_a_pause_whose_process_died_before_sending_is_offered_again(stack):
    campaign_id, channel = new_campaign(stack), "C0UNDO009"
    ts = resumed_by_command(stack, campaign_id, channel)
    past = datetime.now(UTC) - timedelta(seconds=1)
    set_offers(stack, campaign_id, state="taken", owner="dead", taken_by="U0BOB0001", lease_expires_at=past)
    engine = storage.connect(stack.database_url)
    try:

        def offered() -> bool:
            with engine.connect() as connection:
                offers = storage.pause_offers
                row = connection.execute(offers.select().where(offers.c.campaign_id == campaign_id)).mappings().one()
            return row["state"] == "offered"

        wait_until(offered, 15, "the offer handed back")
    finally:
        engine.dispose()
    click_pause(stack, channel, ts)
    wait_until(lambda: len(pauses_of(stack, campaign_id)) == 1, 10, "the pause, once")


def test_a_scheduled_resume_offers_pause_again_on_its_message(stack):
    campaign_id, channel = new_campaign(stack), "C0UNDO010"
    stack.command(f"{campaign_id} in 2h", channel_id=channel, user_id="U0ALICE01")
    ts = scheduled_message(stack, channel, campaign_id).answer["ts"]
    make_due(stack, campaign_id)
    wait_until(lambda: offer_button(stack, channel, ts), 20, "Pause again on the schedule's message")
    assert "it was resumed" in stack.slack.messages[(channel, ts)]["text"]

    click_pause(stack, channel, ts)

    wait_until(lambda: [t for t in thread_replies(stack, channel, ts) if "paused" in t], 10, "the thread")
    assert len(pauses_of(stack, campaign_id)) == 1
    assert stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "paused"
