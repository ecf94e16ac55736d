"""Reminders' state machine on both databases (taken once, paced per channel, counted before sending, swept after a
death, snoozed), quiet hours across midnight and daylight saving, and the messages under Slack's Block Kit rules."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot import when
from bot.slack.blocks import alert_blocks, reminder_blocks
from bot.storage import pause_reminders, reminder_channels
from bot.storage.reminders import PauseReminders, Reminder
from bot.storage.workspace_settings import WorkspaceId
from tests.fakes.block_kit import message_problems
from tests.fakes.truedy import campaign as truedy_campaign

ACME, OTHER = WorkspaceId("", "T0ACME001"), WorkspaceId("", "T0OTHER01")
HOUR = timedelta(hours=1)


@pytest.fixture
def reminders(engine):
    return PauseReminders(engine)


def due_now(engine) -> None:
    with engine.begin() as connection:
        connection.execute(update(pause_reminders).values(next_at=datetime(2000, 1, 1, tzinfo=UTC)))


def turns_come(engine) -> None:
    """As if each channel's pace (a second) had passed."""
    with engine.begin() as connection:
        connection.execute(update(reminder_channels).values(next_post_at=datetime(2000, 1, 1, tzinfo=UTC)))


def state_of(engine, reminder_id: int) -> dict:
    with engine.connect() as connection:
        return dict(
            connection.execute(select(pause_reminders).where(pause_reminders.c.id == reminder_id)).mappings().one()
        )


def test_one_message_has_one_row_of_reminders(reminders):
    assert reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    assert not reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    assert reminders.track(OTHER, "C1", "1.1", HOUR, campaign_id="batch_a")  # another workspace's channel


def test_nothing_is_taken_before_its_time(engine, reminders):
    reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    assert reminders.take_due("me", 10).reminders == []


def test_a_reminder_is_taken_by_one_process_only(engine, reminders):
    reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    due_now(engine)
    first, second = reminders.take_due("one", 10), reminders.take_due("two", 10)
    assert [r.campaign_id for r in first.reminders] == ["batch_a"] and second.reminders == []


def test_one_reminder_per_channel_a_turn_and_the_channel_waits_its_pace(engine, reminders):
    for n in range(3):
        reminders.track(ACME, "C1", f"1.{n}", HOUR, campaign_id=f"batch_a{n}")
    reminders.track(ACME, "C2", "2.0", HOUR, campaign_id="batch_b")
    due_now(engine)
    taken = reminders.take_due("me", 10).reminders
    assert sorted(r.channel for r in taken) == ["C1", "C2"]
    assert reminders.take_due("me", 10).reminders == []  # C1's next turn is a second later
    turns_come(engine)
    assert [r.channel for r in reminders.take_due("me", 10).reminders] == ["C1"]


def test_counted_before_it_leaves_and_a_death_while_sending_never_posts_it_again(engine, reminders):
    reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    due_now(engine)
    taken = reminders.take_due("dead", 10).reminders[0]
    assert reminders.start_sending(taken.id, "dead") is not None
    assert state_of(engine, taken.id)["sent"] == 1
    with engine.begin() as connection:  # its process died: the lease ran out
        connection.execute(update(pause_reminders).values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
    assert reminders.sweep_dead() == 1
    turns_come(engine)
    again = reminders.take_due("alive", 10).reminders[0]
    assert again.sent == 1 and again.due_at(HOUR) == again.last_sent_at + HOUR  # the next, not the same again
    assert not reminders.sent(taken.id, "dead", reminders.now(), None)  # the dead process's late answer changes nothing


def test_a_death_before_sending_leaves_it_uncounted_for_any_process(engine, reminders):
    reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    due_now(engine)
    taken = reminders.take_due("dead", 10).reminders[0]
    with engine.begin() as connection:
        connection.execute(update(pause_reminders).values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
    reminders.sweep_dead()
    turns_come(engine)
    again = reminders.take_due("alive", 10).reminders[0]
    assert again.id == taken.id and again.sent == 0
    assert reminders.start_sending(taken.id, "dead") is None  # no longer the dead one's


def test_slack_refusing_a_reminder_leaves_it_uncounted(engine, reminders):
    reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    due_now(engine)
    taken = reminders.take_due("me", 10).reminders[0]
    reminders.start_sending(taken.id, "me")
    retry = datetime(2030, 1, 1, tzinfo=UTC)
    assert reminders.not_sent(taken.id, "me", taken.last_sent_at, reminders.now(), retry)
    row = state_of(engine, taken.id)
    assert (row["state"], row["sent"], row["last_sent_at"]) == ("waiting", 0, None)


def test_growing_intervals_from_the_last_one_sent():
    reminder = _reminder(sent=0, last_sent_at=None)
    assert reminder.due_at(HOUR) == reminder.paused_at + HOUR
    sent_at = datetime(2026, 12, 7, 12, tzinfo=UTC)
    assert [_reminder(sent=n, last_sent_at=sent_at).due_at(HOUR) - sent_at for n in (1, 2, 3)] == [
        HOUR,
        2 * HOUR,
        4 * HOUR,
    ]


def test_a_snooze_while_it_is_being_prepared_keeps_it_from_leaving(engine, reminders):
    reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    due_now(engine)
    taken = reminders.take_due("me", 10).reminders[0]
    snoozed = reminders.snooze(ACME, "C1", "1.1", "U0BOB0001", None)
    assert snoozed is not None and snoozed.snoozed_for_good and snoozed.snoozed_by == "U0BOB0001"
    assert reminders.start_sending(taken.id, "me") is None
    assert state_of(engine, taken.id)["sent"] == 0


def test_a_timed_snooze_moves_a_waiting_reminder_to_its_end(engine, reminders):
    reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    until = reminders.now() + 3 * HOUR
    reminders.snooze(ACME, "C1", "1.1", "U0BOB0001", until)
    assert abs(_utc(state_of(engine, 1)["next_at"]) - until) < timedelta(seconds=1)


def test_another_workspaces_message_cannot_be_snoozed(reminders):
    reminders.track(ACME, "C1", "1.1", HOUR, campaign_id="batch_a")
    assert reminders.snooze(OTHER, "C1", "1.1", "U0EVE0001", None) is None
    assert not reminders.get(ACME, "C1", "1.1").snoozed_for_good


# --- quiet hours ----------------------------------------------------------------------------------------------

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        (datetime(2026, 12, 7, 23, 30, tzinfo=PARIS), datetime(2026, 12, 8, 7, 0, tzinfo=PARIS)),
        (datetime(2026, 12, 8, 6, 59, tzinfo=PARIS), datetime(2026, 12, 8, 7, 0, tzinfo=PARIS)),
        (datetime(2026, 12, 8, 7, 0, tzinfo=PARIS), None),
        (datetime(2026, 12, 7, 21, 59, tzinfo=PARIS), None),
        (datetime(2026, 12, 7, 22, 0, tzinfo=PARIS), datetime(2026, 12, 8, 7, 0, tzinfo=PARIS)),
        # The night clocks go forward: 07:00 Paris is 05:00 UTC, an hour less of night.
        (datetime(2027, 3, 28, 1, 30, tzinfo=PARIS), datetime(2027, 3, 28, 7, 0, tzinfo=PARIS)),
    ],
)
def test_quiet_hours_across_midnight(local, expected):
    found = when.quiet_until(local.astimezone(UTC), time(22, 0), time(7, 0), PARIS)
    assert found == (expected.astimezone(UTC) if expected else None)


def test_quiet_hours_within_a_day_and_equal_ends():
    noon = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    assert when.quiet_until(noon, time(11, 0), time(14, 0), ZoneInfo("UTC")) == noon.replace(hour=14)
    assert when.quiet_until(noon, time(13, 0), time(14, 0), ZoneInfo("UTC")) is None
    assert when.quiet_until(noon, time(12, 0), time(12, 0), ZoneInfo("UTC")) is None


def test_clock_and_zone_readers_refuse_garbage():
    assert when.clock_of("07:30") == time(7, 30)
    assert when.clock_of("25:00") is None and when.clock_of("") is None and when.clock_of(None) is None
    assert when.zone_named("Europe/Paris") == PARIS
    assert when.zone_named("../../etc/passwd") is None and when.zone_named("Mars/Olympus") is None


# --- messages -----------------------------------------------------------------------------------------------


def test_reminders_and_snoozes_pass_slacks_rules_with_hostile_names():
    hostile = "<!channel> *Q2* `x` " + "y" * 400
    waiting = reminder_blocks.Waiting("batch_a", hostile, 1234)
    messages = [
        reminder_blocks.reminder(waiting, timedelta(hours=1, minutes=5), 2, "<!subteam^S0ONCALL1>"),
        reminder_blocks.digest_reminder([waiting] * 40, timedelta(days=2, hours=3), 1, None),
        reminder_blocks.snoozed("U0BOB0001", datetime(2026, 12, 8, 9, tzinfo=UTC)),
        reminder_blocks.snoozed("U0BOB0001", None),
    ]
    for message in messages:
        assert message_problems(message) == []
        assert "<!channel>" not in message["text"]
    assert messages[0]["text"].startswith("<!subteam^S0ONCALL1> :alarm_clock: *Still paused after 1 h 5 min:*")
    assert "1,234 contacts" in messages[0]["text"]
    assert "40 campaigns of this digest" in messages[1]["text"] and "and 30 more" in messages[1]["text"]


def test_the_alert_offers_snooze_only_when_the_workspace_reminds_and_hides_it_once_resumed():
    campaign = _campaign()
    plain, snoozing = alert_blocks.alert(campaign, None), alert_blocks.alert(campaign, None, snooze=True)
    assert reminder_blocks.SNOOZE_ACTION_ID not in str(plain) and reminder_blocks.SNOOZE_ACTION_ID in str(snoozing)
    assert message_problems(snoozing) == []
    resumed = alert_blocks.with_state(snoozing["blocks"], "resumed", offer_resume=False)
    assert reminder_blocks.SNOOZE_ACTION_ID not in str(resumed)


@pytest.mark.parametrize(
    ("target", "mention"),
    [("S0ONCALL1", "<!subteam^S0ONCALL1>"), ("U0BOB0001", "<@U0BOB0001>"), ("W0BOB0001", "<@W0BOB0001>")],
)
def test_escalation_targets_are_mentioned_as_slack_does(target, mention):
    assert reminder_blocks.mention_of(target) == mention


@pytest.mark.parametrize("target", [None, "", "C0CHANNEL", "S0>!everyone", "<!here>"])
def test_anything_else_is_mentioned_as_nobody(target):
    assert reminder_blocks.mention_of(target) is None


def test_durations_read_to_the_minute():
    assert [reminder_blocks.duration(timedelta(seconds=s)) for s in (20, 60, 3600, 3900, 86400, 90000, 2 * 86400)] == [
        "less than a minute",
        "1 min",
        "1 h",
        "1 h 5 min",
        "1 day",
        "1 day 1 h",
        "2 days",
    ]


def _reminder(sent: int, last_sent_at: datetime | None) -> Reminder:
    return Reminder(
        1,
        ACME,
        "alert",
        "batch_a",
        None,
        "C1",
        "1.1",
        datetime(2026, 12, 7, 10, tzinfo=UTC),
        sent,
        last_sent_at,
        None,
        False,
        None,
    )


def _campaign():
    from bot.truedy import _campaign as read

    return read(truedy_campaign("batch_a"), None)


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def test_five_hundred_due_at_once_in_one_channel_are_taken_one_a_turn_each_once_by_two_processes(engine, reminders):
    """Slack takes about one message a second per channel: 500 due at the same minute in one channel are taken one
    per turn of the channel, across two processes taking at once, none lost, none twice (the second between turns
    stands in for a real one)."""
    for n in range(500):
        reminders.track(ACME, "C1", f"1.{n:03d}", HOUR, campaign_id=f"batch_a{n:03d}")
    reminders.track(ACME, "C2", "2.0", HOUR, campaign_id="batch_b")
    due_now(engine)
    taken: list[str] = []
    other_channel = 0
    for turn in range(600):
        for owner in ("one", "two"):
            for reminder in reminders.take_due(owner, 50).reminders:
                if reminder.channel == "C1":
                    taken.append(reminder.message_ts)
                else:
                    other_channel += 1
        assert len(taken) == min(turn + 1, 500)  # one per turn of the channel, whichever process takes it
        turns_come(engine)
    assert sorted(taken) == sorted(f"1.{n:03d}" for n in range(500)) and other_channel == 1
