"""Review 5 of reminders of pauses nobody handles: what a Slack that fails in ordinary ways, a setup change and a
daylight-saving night do to ReminderRunner (bot.runners.reminders) on a real database, a real TruedyClient against
the fake Truedy and a WebClient configured as the worker configures the reminders' (bot.slack.client)."""

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from slack_sdk import WebClient
from sqlalchemy import select, update

from bot import when
from bot.runners.reminders import ReminderRunner
from bot.slack.client import configure_slack_client
from bot.storage import pause_reminders, reminder_channels, utc
from bot.storage import workspaces as workspaces_table
from bot.storage.alert_records import AlertRecords
from bot.storage.digests import AlertDigests
from bot.storage.reminders import PauseReminders
from bot.storage.workspace_settings import ReminderChoices, SetupChoices, WorkspaceId
from bot.truedy import TruedyClient
from tests.fakes.loop import serve
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign

TEAM = WorkspaceId("", BOT_TEAM)
KEY = "truedy_ReviewFiveKey000000000001"
CHANNEL = "C0REVIEW5"
HOUR = timedelta(hours=1)
LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def configured(token: str, api_url: str) -> WebClient:
    """A bot client as the worker gives the reminders (tokens.for_polling: no waiting out rate limits)."""
    return configure_slack_client(
        WebClient(token=token), SimpleNamespace(slack_api_url=api_url), wait_out_rate_limits=False
    )


class Harness:
    def __init__(self, engine, workspaces, slack, truedy, slack_api_url: str | None = None):
        workspaces.seed_keys({TEAM.team_id: KEY})
        self.engine, self.slack, self.truedy, self.workspaces = engine, slack, truedy, workspaces
        self.reminders = PauseReminders(engine)
        self.alerts = AlertRecords(engine)
        self.setup_client = WebClient(token=slack.bot_token, base_url=slack.api_url)  # posts the alerts
        self.client = configured(slack.bot_token, slack_api_url or slack.api_url)
        self.runner = ReminderRunner(
            reminders=self.reminders,
            workspaces=workspaces,
            alerts=self.alerts,
            digests=AlertDigests(engine),
            truedy_client=TruedyClient(truedy.api_url, connect_timeout=1, read_timeout=2, max_connections=8),
            slack_for=lambda _: self.client,
            remind_after=HOUR,
            remind_max=5,
        )

    def alert(self, campaign_id: str, after: timedelta = HOUR) -> str:
        """A paused campaign alerted (as the watcher does: posted, recorded open, tracked); its alert's ts."""
        self.truedy.add(KEY, campaign(campaign_id))
        ts = self.setup_client.chat_postMessage(channel=CHANNEL, text=f"`{campaign_id}` is paused")["ts"]
        assert self.alerts.claim_new_pause(TEAM, campaign_id)
        self.alerts.posted(TEAM, campaign_id, CHANNEL, ts)
        assert self.reminders.track(TEAM, CHANNEL, ts, after, campaign_id=campaign_id)
        return ts

    def age(self, ts: str, by: timedelta) -> None:
        """As if `by` had passed since the row's times were written."""
        row = self.row(ts)
        values = {name: utc(row[name]) - by for name in ("paused_at", "next_at", "last_sent_at") if row[name]}
        with self.engine.begin() as connection:
            connection.execute(update(pause_reminders).where(pause_reminders.c.id == row["id"]).values(**values))

    def due(self, ts: str) -> None:
        """As if its first one's time had come."""
        self.age(ts, HOUR + timedelta(minutes=1))

    def turn(self) -> list[str]:
        """One turn, each reminder taken looked at on this thread: what became of each."""
        with self.engine.begin() as connection:
            connection.execute(update(reminder_channels).values(next_post_at=LONG_AGO))
        taken = self.reminders.take_due(self.runner.owner, 8)
        return [self.runner.remind(reminder, taken.now) for reminder in taken.reminders]

    def row(self, ts: str) -> dict:
        with self.engine.connect() as connection:
            query = select(pause_reminders).where(pause_reminders.c.message_ts == ts)
            return dict(connection.execute(query).mappings().one())

    def reminders_posted(self, ts: str) -> list:
        return [
            call
            for call in self.slack.posts_in(CHANNEL)
            if call.params.get("thread_ts") == ts and "Still paused" in str(call.params.get("text"))
        ]


@pytest.fixture
def harness(engine, workspaces, slack, truedy):
    return Harness(engine, workspaces, slack, truedy)


# --- Slack failing in ordinary ways -------------------------------------------------------------------------------


@pytest.mark.parametrize("error", ["internal_error", "fatal_error", "service_unavailable", "request_timeout"])
def test_a_transient_slack_error_does_not_end_the_pauses_reminders_for_good(harness, error):
    """Defect: any Slack error other than `ratelimited` or a token refusal (Slack's own transient `internal_error`,
    `fatal_error`, `service_unavailable`, `request_timeout`) ends the reminders as `refused`, so the pause is never
    reminded again, silently. Correct: only refusals that would be refused again (the channel, the thread, the
    message) end them; a transient one puts the reminder off (counted if Slack says it may have posted), and the
    later ones still come."""
    ts = harness.alert("batch_rv5slack01")
    harness.due(ts)
    harness.slack.fail("chat.postMessage", error, channel=CHANNEL)
    (outcome,) = harness.turn()
    assert outcome in (f"refused:{error}", f"unknown:{error}")  # uncounted, or counted where Slack may have posted
    row = harness.row(ts)
    assert row["state"] != "ended", (
        f"one transient `{error}` from Slack ended this pause's reminders for good (ending={row['ending']!r})"
    )


def test_slack_out_of_reach_before_the_post_left_is_not_counted_as_maybe_posted(engine, workspaces, slack, truedy):
    """Defect: when the post never left (connection refused: Slack, or the way to it, down for a moment), the
    runner counts it as maybe posted (`unknown`) and never posts it: that reminder is lost and the next comes at
    twice the interval. Correct: a request that could not even connect is "never sent": uncounted and tried again
    (put off a few minutes), as the scheduler hands back a schedule on a network failure before Truedy is asked."""
    harness = Harness(engine, workspaces, slack, truedy, slack_api_url="http://127.0.0.1:9/api/")  # nothing listens
    ts = harness.alert("batch_rv5reach01")
    harness.due(ts)
    outcome = harness.turn()
    row = harness.row(ts)
    assert (row["sent"], row["state"]) == (0, "waiting"), (
        f"a post that never left Slack's way ({outcome}) was counted as sent={row['sent']}: that reminder is lost"
    )


class AnswersLost:
    """Between the bot and the fake Slack: every call goes through, but the answer to a reminder's post never
    comes back (Slack took it, then the connection dropped), as a flaky network or a proxy does."""

    def __init__(self, loop, slack):
        self.loop, self.slack = loop, slack
        app = web.Application()
        app.router.add_post("/api/{method}", self._forward)
        self._runner, self.port = loop.run(serve(app))

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def stop(self) -> None:
        self.loop.run(self._runner.cleanup())

    async def _forward(self, request: web.Request) -> web.Response:
        method, body = request.match_info["method"], await request.read()
        headers = {name: request.headers[name] for name in ("Content-Type", "Authorization") if name in request.headers}
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.slack.api_url + method, data=body, headers=headers) as answer,
        ):
            status, payload = answer.status, await answer.read()
        if method == "chat.postMessage" and b"Still paused" in body:
            request.transport.close()  # posted in Slack; the bot never hears it
            return web.Response(status=500)
        return web.Response(status=status, body=payload, content_type="application/json")


def test_a_reminder_whose_answer_was_lost_is_posted_once(engine, workspaces, slack, truedy, loop):
    """Defect: the reminders' WebClient keeps slack_sdk's default ConnectionErrorRetryHandler, which sends the post
    again when the connection drops before the answer (RemoteDisconnected, ConnectionResetError): a reminder Slack
    took is posted twice, though the runner means "maybe sent: never resend" (`_post`'s `except Exception`).
    Correct: chat.postMessage of a reminder leaves once; a lost answer is counted and never sent again."""
    lossy = AnswersLost(loop, slack)
    try:
        harness = Harness(engine, workspaces, slack, truedy, slack_api_url=lossy.api_url)
        ts = harness.alert("batch_rv5lost001")
        harness.due(ts)
        assert harness.turn() == ["unknown"]
        posted = harness.reminders_posted(ts)
        assert len(posted) == 1, f"Slack took the same reminder {len(posted)} times (slack_sdk sent it again)"
    finally:
        lossy.stop()


# --- setup changed while reminders wait ---------------------------------------------------------------------------


def test_a_shorter_remind_after_from_setup_applies_to_reminders_already_waiting(harness):
    """Defect: docs/automation.md says "Setup's changes apply to reminders already waiting", but a row is only
    looked at when its stored `next_at` comes, computed with the old setting: an admin who shortens *Remind after*
    from a day to 5 minutes gets no reminder of the pauses already alerted for almost a day. Correct: a reminder due
    by the settings now (alerted 10 minutes ago, Remind after 5) is taken and posted."""
    with harness.engine.begin() as connection:
        connection.execute(update(workspaces_table).values(remind_after_minutes=1440))
    ts = harness.alert("batch_rv5setup01", after=timedelta(minutes=1440))
    harness.age(ts, timedelta(minutes=10))  # alerted 10 minutes ago
    shorter = ReminderChoices(5, None, None, None, None)
    harness.workspaces.save_setup(TEAM, SetupChoices(None, None, (), None, reminders=shorter), "U0ADMIN01")
    outcomes = harness.turn()
    assert outcomes == ["posted"], (
        f"alerted 10 min ago with Remind after 5 min, nothing was taken ({outcomes}); it waits until "
        f"{harness.row(ts)['next_at']}, a day after its alert"
    )


# --- quiet hours on the night clocks go back ---------------------------------------------------------------------


def test_quiet_hours_never_end_before_the_moment_they_were_asked_about():
    """Defect: when clocks go back, a moment in the repeated hour (01:15 EST, after 01:30 EDT has passed) is read
    as inside quiet hours 22:00-01:30 and their end is given as 01:30 *EDT*, 45 minutes in the past: the runner puts
    the reminder off to a moment already gone, takes it again a second later, and so on, a take and a put-off a
    second per reminder until 01:30 EST. Correct: an end that is never before the moment asked about."""
    new_york = ZoneInfo("America/New_York")
    now = datetime(2026, 11, 1, 6, 15, tzinfo=UTC)  # 01:15 EST, the second 01:15 of the night
    assert now.astimezone(new_york).fold == 1
    end = when.quiet_until(now, time(22, 0), time(1, 30), new_york)
    assert end is None or end > now, f"the quiet hours end at {end:%H:%M} UTC, before now ({now:%H:%M} UTC)"


def test_slacks_retry_after_for_a_channel_holds_the_channels_other_reminders_too(harness):
    """Defect: Slack's `ratelimited` with Retry-After (chat.postMessage's limit is per channel) puts off only the
    reminder that met it; the channel's next turn stays a second later, so the next reminder of that channel is
    prepared (a Truedy read with the workspace's key) and posted into the same limit a second later, and the next,
    each refused again. Correct: the channel's next turn (reminder_channels) waits out the Retry-After."""
    first, second = harness.alert("batch_rv5rate001"), harness.alert("batch_rv5rate002")
    harness.due(first)
    harness.due(second)
    harness.slack.fail("chat.postMessage", "ratelimited", channel=CHANNEL, retry_after=30, times=10)
    assert harness.turn() == ["refused:ratelimited"]
    now = harness.reminders.now()
    with harness.engine.connect() as connection:
        turn = utc(
            connection.execute(
                select(reminder_channels.c.next_post_at).where(reminder_channels.c.channel == CHANNEL)
            ).scalar_one()
        )
    assert turn >= now + timedelta(seconds=29), (
        f"after Slack said Retry-After: 30 for {CHANNEL}, its next reminder may go {(turn - now).total_seconds():.1f}"
        " s later"
    )
