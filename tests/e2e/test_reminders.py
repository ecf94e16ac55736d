"""Reminders of pauses nobody handles, through the real worker (a 3-second REMIND_AFTER_MINUTES set by the
tests): reminded in the alert's thread at growing intervals, at most REMIND_MAX times, mentioning the escalation
target from the second on; never once the campaign is resumed (here or elsewhere) or scheduled, nor while
snoozed or in quiet hours; one digest reminder for a digest; each reminder once with two workers, and paced in a
channel under Slack's rate limit, on SQLite and PostgreSQL."""

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot import storage
from bot.slack.blocks import reminder_blocks
from bot.storage import pause_reminders, workspaces
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.e2e.test_pause_again import click_pause, offer_button
from tests.e2e.test_two_workers import two_workers_on
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign

CHANNEL = "C0REMIND1"
AFTER_SECONDS = 3
REMINDING = {
    "ALERT_CHANNEL": CHANNEL,
    "PAUSED_POLL_SECONDS": "1",
    "REMIND_AFTER_MINUTES": str(AFTER_SECONDS / 60),
    "REMIND_MAX": "3",
}
_numbers = itertools.count(1)


@pytest.fixture(scope="module", params=KINDS)
def stack(request, loop, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"reminders-{request.param}")
    with fresh_database(request.param, folder) as database_url:
        running = start_stack(loop, folder, DATABASE_URL=database_url, **REMINDING)
        yield running
        stop_stack(running)


def paused(stack, name: str = "Q2 Outreach") -> str:
    campaign_id = f"batch_remind{next(_numbers):05d}"
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id, name=name))
    return campaign_id


def alert_of(stack, campaign_id: str, channel: str = CHANNEL):
    """The alert's post, once the watcher posted it."""

    def found():
        return [
            call
            for call in stack.slack.posts_in(channel)
            if call.answer.get("ok") and "thread_ts" not in call.params and f"`{campaign_id}`" in str(call.params)
        ]

    return wait_until(found, 15, f"the alert of {campaign_id}")[0]


def reminders_of(stack, alert_ts: str, channel: str = CHANNEL) -> list:
    return [
        call
        for call in stack.slack.posts_in(channel)
        if call.answer.get("ok") and call.params.get("thread_ts") == alert_ts and "Still paused" in call.params["text"]
    ]


def row_of(stack, alert_ts: str) -> dict:
    """The alert's reminders row, once the watcher has written it (with the alert's record, just after posting)."""

    def found() -> dict | None:
        engine = storage.connect(stack.database_url)
        try:
            with engine.connect() as connection:
                query = select(pause_reminders).where(pause_reminders.c.message_ts == alert_ts)
                row = connection.execute(query).mappings().first()
                return None if row is None else dict(row)
        finally:
            engine.dispose()

    return wait_until(found, 10, "the alert's reminders row")


def set_up(stack, **values) -> None:
    """As if setup had saved these for the bot's workspace."""
    engine = storage.connect(stack.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(update(workspaces).where(workspaces.c.team_id == BOT_TEAM).values(**values))
    finally:
        engine.dispose()


def make_due(stack, alert_ts: str) -> None:
    """As if the time it was put off to had come."""
    engine = storage.connect(stack.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(pause_reminders)
                .where(pause_reminders.c.message_ts == alert_ts)
                .values(next_at=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        engine.dispose()


def ended(stack, alert_ts: str, ending: str) -> None:
    wait_until(lambda: row_of(stack, alert_ts)["state"] == "ended", 15, "the reminders to end")
    assert row_of(stack, alert_ts)["ending"] == ending


def test_a_pause_left_alone_is_reminded_at_growing_intervals_up_to_remind_max(stack):
    """3 s after the alert, then 3 s and 6 s later; how long, how many contacts wait, its number; then no more."""
    campaign_id = paused(stack, name="Q2 Outreach")
    alert = alert_of(stack, campaign_id)
    ts = alert.answer["ts"]
    assert any(
        element.get("action_id") == reminder_blocks.SNOOZE_ACTION_ID
        for block in alert.params["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    )
    reminders = wait_until(lambda: r if len(r := reminders_of(stack, ts)) >= 3 else None, 30, "three reminders")
    first, second, third = reminders
    assert first.params["text"].startswith(":alarm_clock: *Still paused after")
    assert "*Q2 Outreach*" in first.params["text"] and "188 contacts" in first.params["text"]
    assert [r.params["blocks"][1]["elements"][0]["text"] for r in reminders] == [
        "Reminder 1",
        "Reminder 2",
        "Reminder 3",
    ]
    # Each at least its interval after the one before (a little less for the moment between counting and posting).
    assert first.at - alert.at >= AFTER_SECONDS - 0.5
    assert second.at - first.at >= AFTER_SECONDS - 0.5
    assert third.at - second.at >= 2 * AFTER_SECONDS - 0.5
    ended(stack, ts, "done")
    assert len(reminders_of(stack, ts)) == 3
    assert {r.params["channel"] for r in reminders} == {CHANNEL}


def test_reminders_stop_once_the_campaign_is_resumed_here_or_elsewhere_or_scheduled(stack):
    by_click, elsewhere, scheduled = paused(stack), paused(stack), paused(stack)
    clicked_ts = alert_of(stack, by_click).answer["ts"]
    elsewhere_ts = alert_of(stack, elsewhere).answer["ts"]
    scheduled_ts = alert_of(stack, scheduled).answer["ts"]
    stack.slack.push("interactive", stack.slack.click(CHANNEL, clicked_ts))
    stack.truedy.set_status(KEY_BOT_TEAM, elsewhere, "running")  # the dashboard
    later = stack.slack.click(CHANNEL, scheduled_ts, action_id="resume_later", option=1)  # in 1 hour
    stack.slack.push("interactive", later)
    for ts in (clicked_ts, elsewhere_ts):
        ended(stack, ts, "over")
    # The schedule keeps it from reminders, however often it is looked at.
    wait_until(lambda: row_of(stack, scheduled_ts)["next_at"] is not None, 5, "the schedule's row")
    make_due(stack, scheduled_ts)
    wait_until(
        lambda: storage.utc(row_of(stack, scheduled_ts)["next_at"]) > datetime.now(UTC) + timedelta(seconds=1),
        15,
        "the reminder put off while the schedule waits",
    )
    for ts in (clicked_ts, elsewhere_ts, scheduled_ts):
        assert reminders_of(stack, ts) == []


def test_snooze_silences_the_reminders_and_says_who_snoozed(stack):
    """An hour, or until resumed; said in the thread with who chose it; a reminder's own menu snoozes too."""
    for_an_hour, for_good = paused(stack), paused(stack)
    hour_ts, good_ts = alert_of(stack, for_an_hour).answer["ts"], alert_of(stack, for_good).answer["ts"]
    stack.slack.push("interactive", stack.slack.click(CHANNEL, hour_ts, action_id="snooze_reminders", option=0))
    stack.slack.push(
        "interactive", stack.slack.click(CHANNEL, good_ts, action_id="snooze_reminders", option=2, user_id="U0CAROL01")
    )
    said = wait_until(
        lambda: (
            [c for c in stack.slack.posts_in(CHANNEL) if "snoozed the reminders" in c.params["text"]][-2:]
            if len([c for c in stack.slack.posts_in(CHANNEL) if "snoozed the reminders" in c.params["text"]]) >= 2
            else None
        ),
        10,
        "both snoozes said",
    )
    by_thread = {c.params["thread_ts"]: c.params["text"] for c in said}
    assert by_thread[hour_ts].startswith(":no_bell: <@U0BOB0001> snoozed the reminders of this pause until <!date^")
    assert by_thread[good_ts] == (
        ":no_bell: <@U0CAROL01> snoozed the reminders of this pause until the campaign is resumed."
    )
    row = row_of(stack, hour_ts)
    assert row["snoozed_by"] == "U0BOB0001"
    assert storage.utc(row["snoozed_until"]) > datetime.now(UTC) + timedelta(minutes=59)
    ended(stack, good_ts, "snoozed")
    # Looked at when it falls due: put off to the snooze's end, nothing posted.
    make_due(stack, hour_ts)
    wait_until(
        lambda: storage.utc(row_of(stack, hour_ts)["next_at"]) > datetime.now(UTC) + timedelta(minutes=59),
        15,
        "put off to the snooze's end",
    )
    assert reminders_of(stack, hour_ts) == [] and reminders_of(stack, good_ts) == []


def test_a_reminders_own_menu_snoozes_its_alert(stack):
    campaign_id = paused(stack)
    ts = alert_of(stack, campaign_id).answer["ts"]
    first = wait_until(lambda: reminders_of(stack, ts), 15, "the first reminder")[0]
    menu = stack.slack.click(CHANNEL, first.answer["ts"], action_id="snooze_reminders", option=2)
    assert menu["container"]["thread_ts"] == ts
    stack.slack.push("interactive", menu)
    ended(stack, ts, "snoozed")
    assert row_of(stack, ts)["snoozed_by"] == "U0BOB0001"


def test_someone_not_allowed_to_resume_cannot_snooze(stack):
    campaign_id = paused(stack)
    ts = alert_of(stack, campaign_id).answer["ts"]
    set_up(stack, allowed_users=json.dumps(["U0BOB0001"]))
    try:
        click = stack.slack.click(CHANNEL, ts, action_id="snooze_reminders", option=2, user_id="U0CAROL01")
        stack.slack.push("interactive", click)
        refusal = wait_until(lambda: stack.slack.responses_to(click), 10, "the refusal")[0]
        assert refusal.params["response_type"] == "ephemeral"
        assert row_of(stack, ts)["snoozed_by"] is None and not row_of(stack, ts)["snoozed_for_good"]
    finally:
        set_up(stack, allowed_users="[]")


def test_a_digest_is_reminded_as_one_message_listing_its_campaigns(stack):
    ids = [paused(stack, name=f"Wave {n}") for n in range(7)]
    digest = wait_until(
        lambda: [
            c
            for c in stack.slack.posts_in(CHANNEL)
            if c.answer.get("ok") and "thread_ts" not in c.params and "7 campaigns paused" in c.params["text"]
        ],
        15,
        "the digest",
    )[0]
    ts = digest.answer["ts"]
    first = wait_until(lambda: reminders_of(stack, ts), 15, "the digest's reminder")[0]
    text = first.params["text"]
    assert "7 campaigns of this digest" in text and f"{7 * 188:,} contacts" in text
    assert all(f"*Wave {n}*" in text for n in range(7))
    for campaign_id in ids:
        stack.truedy.set_status(KEY_BOT_TEAM, campaign_id, "running")
    ended(stack, ts, "over")
    assert len(reminders_of(stack, ts)) <= 2  # the second may have been on its way


@pytest.fixture(params=KINDS)
def own_stack(request, loop, tmp_path):
    with fresh_database(request.param, tmp_path) as database_url:
        running = start_stack(loop, tmp_path, DATABASE_URL=database_url, **REMINDING)
        yield running
        stop_stack(running)


def test_quiet_hours_put_reminders_off_to_their_end_and_escalation_comes_from_the_second(own_stack):
    stack = own_stack
    now = datetime.now(UTC)
    quiet_to = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    set_up(
        stack,
        quiet_from=f"{now - timedelta(hours=1):%H:%M}",
        quiet_to=f"{quiet_to:%H:%M}",
        time_zone="UTC",
        escalate_to="S0ONCALL1",
    )
    campaign_id = paused(stack)
    ts = alert_of(stack, campaign_id).answer["ts"]
    wait_until(
        lambda: row_of(stack, ts)["sent"] == 0 and storage.utc(row_of(stack, ts)["next_at"]) == quiet_to,
        15,
        "the reminder put off to the quiet hours' end",
    )
    assert reminders_of(stack, ts) == []

    set_up(stack, quiet_from=None, quiet_to=None)
    make_due(stack, ts)  # as if the quiet hours had ended
    reminders = wait_until(lambda: r if len(r := reminders_of(stack, ts)) >= 2 else None, 20, "two reminders")
    assert "<!subteam" not in reminders[0].params["text"]
    assert reminders[1].params["text"].startswith("<!subteam^S0ONCALL1> :alarm_clock: *Still paused after")


@pytest.mark.parametrize("kind", KINDS)
def test_two_workers_post_each_reminder_once_paced_in_one_channel(loop, tmp_path, kind):
    """Alerts come in fives (more would make a digest); with two workers, each alert gets REMIND_MAX reminders,
    numbered once each, under Slack's rate limit of the channel (more than 2 posts in a second are refused)."""
    with two_workers_on(loop, tmp_path, kind, **{**REMINDING, "REMIND_MAX": "2"}) as (stack, _second):
        stack.slack.channel_post_limit = (2, 1.0)
        alerts = []
        for _ in range(3):
            ids = [paused(stack) for _ in range(5)]
            alerts += [alert_of(stack, campaign_id).answer["ts"] for campaign_id in ids]
        wait_until(lambda: all(len(reminders_of(stack, ts)) >= 2 for ts in alerts), 90, "every reminder")
        for ts in alerts:
            wait_until(lambda ts=ts: row_of(stack, ts)["state"] == "ended", 10, "the last reminder's end")
            numbers = [r.params["blocks"][1]["elements"][0]["text"] for r in reminders_of(stack, ts)]
            assert numbers == ["Reminder 1", "Reminder 2"], ts
        attempts = sorted(
            call.at
            for call in stack.slack.calls_to("chat.postMessage")
            if call.params.get("channel") == CHANNEL and "Still paused" in str(call.params.get("text"))
        )
        # Paced by the database: never three reminders in one second of the channel, across both workers.
        assert all(later - earlier >= 1.0 for earlier, later in zip(attempts, attempts[2:], strict=False))


def test_an_alert_paused_again_is_reminded_again_from_its_new_pause(stack):
    """Resumed (its reminders end), paused again with Pause again: the alert is back with Resume and Snooze, and
    its reminders start over."""
    campaign_id = paused(stack, name="Renewals")
    ts = alert_of(stack, campaign_id).answer["ts"]
    stack.slack.push("interactive", stack.slack.click(CHANNEL, ts, user_id="U0ALICE01"))
    wait_until(lambda: offer_button(stack, CHANNEL, ts), 10, "Pause again on the alert")
    ended(stack, ts, "over")
    click_pause(stack, CHANNEL, ts)
    wait_until(lambda: "*Paused again*" in str(stack.slack.messages[(CHANNEL, ts)]["blocks"]), 10, "paused again")
    assert reminder_blocks.SNOOZE_ACTION_ID in str(stack.slack.messages[(CHANNEL, ts)]["blocks"])
    first = wait_until(lambda: reminders_of(stack, ts), 15, "a reminder of the new pause")[0]
    assert "*Renewals*" in first.params["text"]
    assert first.params["blocks"][1]["elements"][0]["text"] == "Reminder 1"
