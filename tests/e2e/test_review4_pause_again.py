"""Review 4 of Pause again: defects found by trying to break it through the real worker (fake Slack, fake
Truedy). Each test fails today; see its docstring for what should happen instead."""

from datetime import UTC, datetime, timedelta

import pytest

from bot import storage
from bot.slack.blocks import pause_blocks
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.e2e.test_pause_again import (
    click_pause,
    new_campaign,
    offer_button,
    pauses_of,
    resumed_by_command,
    set_offers,
    thread_replies,
)
from tests.fakes.loop import wait_until
from tests.fakes.truedy import Scripted, campaign

CAMPAIGNS = "/api/public/v1/batch-calls"
WATCHED_CHANNEL = "C0R4WATCH"


@pytest.fixture(scope="module")
def stack(loop, tmp_path_factory):
    # Truedy's read timeout at its highest (20 s): slow answers are answers, not timeouts.
    running = start_stack(loop, tmp_path_factory.mktemp("review4-pause"), TRUEDY_READ_TIMEOUT="20")
    yield running
    stop_stack(running)


def offer_state(stack, campaign_id: str) -> str | None:
    engine = storage.connect(stack.database_url)
    try:
        with engine.connect() as connection:
            offers = storage.pause_offers
            row = connection.execute(offers.select().where(offers.c.campaign_id == campaign_id)).mappings().first()
        return None if row is None else row["state"]
    finally:
        engine.dispose()


def test_a_pause_still_waiting_for_truedy_is_not_ended_as_dead_and_the_thread_does_not_say_both(stack):
    """The offer's lease (2 min) is never renewed while its live process waits for Truedy, and Truedy's answer
    has no overall deadline (a read timeout of up to 20 s per read: an answer trickled a byte at a time lasts
    as long as Truedy likes). Once the lease is over, the sweep (of this very process) takes the live pause for
    a dead one: the thread says "The bot stopped while pausing… may have been paused", the audit says
    `interrupted`, the message gets its pre-pause form back; then Truedy's answer arrives, `end` silently finds
    the row ended, and the thread also says "<@bob> paused it again" and the message changes again.
    Here the 2 minutes are passed by moving the lease back, as the existing tests do for dead processes.
    Should: a live process's pause is not ended by the sweep (its lease renewed while it waits), and the
    thread says one outcome."""
    campaign_id, channel = new_campaign(stack), "C0R4LEASE"
    ts = resumed_by_command(stack, campaign_id, channel)
    stack.truedy.script(Scripted(path=f"{CAMPAIGNS}/{campaign_id}/pause", delay=15, contract=True))

    click_pause(stack, channel, ts)
    wait_until(lambda: offer_state(stack, campaign_id) == "sending" and pauses_of(stack, campaign_id), 10, "sending")
    # As two minutes of a slow Truedy would: the lease is over while the request is still out.
    set_offers(stack, campaign_id, lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))

    # The live process's own answer, once Truedy gave it (15 s after the request).
    said = wait_until(
        lambda: [t for t in thread_replies(stack, channel, ts) if f"paused `{campaign_id}` again" in t],
        30,
        "the pause's answer in the thread",
    )
    assert stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "paused"
    everything = thread_replies(stack, channel, ts)
    assert not [t for t in everything if "may have been paused" in t], (
        "a live pause was ended as a dead one: the thread says both that the bot stopped and that it paused",
        everything,
        said,
    )


def test_a_command_resume_in_a_channel_the_bot_cannot_post_in_still_offers_pause_again(stack):
    """/resume-campaign <id> in a channel the bot is not in (Slack refuses chat.postMessage there): the resume
    succeeds and its result goes privately to the requester, without Pause again. The promise is that every
    successful resume of the command offers Pause again for UNDO_MINUTES; the commonest case of a command in a
    channel without the bot gets no undo at all. Should: the private result (or a DM) offers Pause again."""
    campaign_id, channel = new_campaign(stack), "C0R4NOBOT"
    stack.slack.fail("chat.postMessage", "not_in_channel", channel=channel, times=50)
    try:
        payload, _ = stack.command(campaign_id, channel_id=channel, user_id="U0ALICE01")
        wait_until(lambda: stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "running", 10, "the resume")
        result = wait_until(
            lambda: [r for r in stack.slack.responses_to(payload) if "Resuming" not in r.params.get("text", "")],
            10,
            "the private result",
        )
        buttons = [
            element
            for answer in result
            for block in answer.params.get("blocks") or []
            if block.get("type") == "actions"
            for element in block.get("elements") or []
        ]

        # A DM to the requester that carries it (posted, then updated with the offer's button).
        def offered_in_dm():
            posted = stack.slack.calls_to("chat.postMessage")
            dms = {c.answer.get("channel") for c in posted if c.params.get("channel") == "U0ALICE01"}
            updates = stack.slack.calls_to("chat.update")
            return [
                c
                for c in updates
                if c.params.get("channel") in dms and pause_blocks.PAUSE_AGAIN_ACTION_ID in str(c.params)
            ]

        direct = wait_until(offered_in_dm, 10, "Pause again in the requester's DM")
        assert [b for b in buttons if b.get("action_id") == pause_blocks.PAUSE_AGAIN_ACTION_ID] or direct, (
            "a successful resume by the command offered no Pause again",
            [r.params.get("text") for r in result],
        )
    finally:
        stack.slack.recover("chat.postMessage", channel=channel)


@pytest.fixture
def watching(loop, tmp_path):
    running = start_stack(
        loop, tmp_path, ALERT_CHANNEL=WATCHED_CHANNEL, PAUSED_POLL_SECONDS="1", TRUEDY_READ_TIMEOUT="20"
    )
    yield running
    stop_stack(running)


def alerts_of(stack, campaign_id: str) -> list:
    return [
        c
        for c in stack.slack.posts_in(WATCHED_CHANNEL)
        if c.answer.get("ok") and "thread_ts" not in c.params and campaign_id in str(c.params.get("blocks"))
    ]


def test_an_alert_paused_again_while_a_poll_is_out_gets_no_second_alert(watching):
    """The alert's Resume closes its record; Pause again reopens it (alerts.posted) only after Truedy paused the
    campaign, the thread was told and Truedy was read again for the alert's summary. A poll whose inputs were
    read before the click (nobody resuming then, no open alert) and whose list comes back after Truedy paused
    the campaign claims the pause as a new one and posts a second alert; then Pause again reopens the record on
    the first alert, so the second one is never closed or updated (its Resume button stays for good).
    Should: one alert for this pause (the one paused again), as the doc says ("is again the pause's alert, for
    the watcher")."""
    stack = watching
    campaign_id = f"batch_r4watch{datetime.now(UTC).microsecond:06d}"
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id, name="Renewals"))
    alert = wait_until(lambda: alerts_of(stack, campaign_id), 15, "the watcher's alert")[0]
    alert_ts = alert.answer["ts"]
    resume = stack.slack.click(WATCHED_CHANNEL, alert_ts, user_id="U0ALICE01")
    stack.slack.wait_ack(stack.slack.push("interactive", resume))
    wait_until(lambda: offer_button(stack, WATCHED_CHANNEL, alert_ts), 10, "Pause again on the alert")

    # The next poll's list is slow (3 s); Truedy's read of the campaign after the pause slower still (8 s).
    stack.truedy.script(
        Scripted(path=CAMPAIGNS, delay=3, contract=True),
        Scripted(path=f"{CAMPAIGNS}/{campaign_id}", delay=8, contract=True),
    )
    wait_until(lambda: [r for r in stack.truedy.lists() if r.scripted], 10, "a poll under way")
    click_pause(stack, WATCHED_CHANNEL, alert_ts)

    def paused_again():
        return "*Paused again* by <@U0BOB0001>" in str(stack.slack.messages[(WATCHED_CHANNEL, alert_ts)]["blocks"])

    wait_until(paused_again, 20, "the alert back in its paused state")
    assert stack.truedy.status_of(KEY_BOT_TEAM, campaign_id) == "paused"
    assert len(alerts_of(stack, campaign_id)) == 1, "a second alert for the pause that Pause again made"
