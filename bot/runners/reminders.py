"""Reminders of pauses nobody handles, in every process that serves Slack. Each process takes the reminders due
(bot.storage.reminders, whose docstring has the states and moves: once each across processes, at most one per
channel a second), looks at each afresh and either posts it in its alert's thread or puts it off:

- not due yet by the workspace's settings now (setup may have changed them): put off to its time;
- snoozed: put off to the snooze's end (or ended, when snoozed until resumed);
- inside the workspace's quiet hours: put off to their end;
- a scheduled resume waits for the campaign: put off by another interval; someone is resuming it: a minute;
- the alert is closed, or Truedy says the campaign is not paused any more: ended, nothing posted;
- Truedy could not say: put off a few minutes (reminding of a pause nobody can check helps nobody).

A reminder is counted just before it leaves for Slack: a process that dies then never posts it again, and the
next comes at its interval. Hand-written rather than on a scheduler library, for the reasons given in
bot.runners.resume_all: what is left to write is one short query a second and the checks above.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from datetime import UTC, datetime, timedelta
from urllib.error import URLError
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import truedy, when
from bot.slack.blocks import reminder_blocks
from bot.slack.blocks.messages import Message
from bot.storage.alert_channels import CHANNEL_REFUSALS
from bot.storage.alert_records import AlertRecords
from bot.storage.digests import AlertDigests
from bot.storage.reminders import PauseReminders, Reminder, new_owner, remind_after
from bot.storage.workspace_settings import WorkspaceId, Workspaces, WorkspaceSettings

log = logging.getLogger("bot.reminders")

TICK_SECONDS = 1.0
# Reminders being looked at by this process at once (each a Truedy read and a Slack post, mostly waiting on them);
# a turn takes no more than the threads free, so nothing it takes waits out its lease in a queue. bench/reminders.py:
# 8 posted 13 a second with 2 workers (Truedy answering in 0.6 s), 32 posted 52, 128 posted 123 (CPU-bound there).
THREADS = 128
SWEEP_EVERY_TICKS = 10
# Put off by this much when…
SOMEONE_RESUMING = timedelta(minutes=1)  # …a resume (or a pause) of the campaign is under way;
TRUEDY_UNSURE = timedelta(minutes=5)  # …Truedy could not say whether it is still paused, or Slack failed;
NO_WAY_TO_POST = timedelta(hours=1)  # …the workspace has no key or no bot token just now.
RATE_LIMITED = timedelta(seconds=30)  # Slack said `ratelimited` without a Retry-After
TOKEN_REFUSALS = frozenset({"invalid_auth", "token_revoked", "account_inactive", "not_authed"})
# Slack's answers that it would give again for this reminder: its reminders end.
SLACK_REFUSES_FOR_GOOD = CHANNEL_REFUSALS | {
    "thread_not_found",
    "message_not_found",
    "invalid_blocks",
    "msg_too_long",
    "missing_scope",
    "invalid_arguments",
}
# Slack's own failures, after which the message may be posted all the same (slack_sdk's docs: retry at your risk).
SLACK_MAY_HAVE_POSTED = frozenset({"internal_error", "fatal_error", "request_timeout"})
# However long Slack's Retry-After says, a channel waits at most this much.
LONGEST_RETRY_AFTER = timedelta(hours=1)
# At most this many list requests for a digest's reminder (500 campaigns), well within its lease; beyond, the rows
# the digest still shows paused are named without their contacts.
MAX_PAGES = 5


class ReminderRunner:
    def __init__(
        self,
        *,
        reminders: PauseReminders,
        workspaces: Workspaces,
        alerts: AlertRecords,
        digests: AlertDigests,
        truedy_client: truedy.TruedyClient,
        slack_for: Callable[[WorkspaceId], WebClient | None],
        remind_after: timedelta,
        remind_max: int,
        before_each_job: Callable[[], None] = lambda: None,
    ):
        self._reminders = reminders
        self._workspaces = workspaces
        self._alerts = alerts
        self._digests = digests
        self._truedy = truedy_client
        self._slack_for = slack_for
        self._remind_after = remind_after  # REMIND_AFTER_MINUTES, where setup set none
        self._remind_max = remind_max
        self._before_each_job = before_each_job
        self.owner = new_owner()
        self._under_way: set[Future] = set()  # reminders being looked at (or queued for a thread)
        self._busy_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="reminder")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="reminders", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No reminder is taken any more; those under way finish (`join`), those not started are handed back."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def join(self, timeout: float) -> None:
        """Until the reminders under way have ended (bounded by Truedy's and Slack's timeouts) or `timeout`; then
        what this process took and never started sending is handed back, for any process to take at once."""
        deadline = time.monotonic() + timeout
        self._thread.join(timeout)
        with self._busy_lock:
            under_way = list(self._under_way)
        wait(under_way, timeout=max(0.0, deadline - time.monotonic()))
        try:
            if handed := self._reminders.let_go(self.owner):
                log.info("reminders handed back", extra={"fields": {"event": "reminders_handed_back", "n": handed}})
        except Exception:  # their leases run out instead: another process takes them two minutes later
            log.exception("reminders not handed back", extra={"fields": {"event": "reminders_failed"}})

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(TICK_SECONDS):
            ticks += 1
            try:
                if ticks % SWEEP_EVERY_TICKS == 0 and (swept := self._reminders.sweep_dead()):
                    fields = {"event": "reminders_swept", "n": swept}
                    log.info("reminders of stopped processes", extra={"fields": fields})
                self.take_turn()
            except Exception:
                log.exception("reminders not taken", extra={"fields": {"event": "reminders_failed"}})

    def take_turn(self) -> int:
        """Take what is due (as many as there are free threads) and look at each on one; how many were taken."""
        with self._busy_lock:
            free = THREADS - len(self._under_way)
        if free <= 0:
            return 0
        self._before_each_job()
        due = self._reminders.take_due(self.owner, free)
        for reminder in due.reminders:
            try:
                future = self._pool.submit(self._remind_and_log, reminder, due.now)
            except RuntimeError:  # stopping: handed back by `join`
                continue
            with self._busy_lock:
                self._under_way.add(future)
            future.add_done_callback(self._done)
        return len(due.reminders)

    def _done(self, future: Future) -> None:
        with self._busy_lock:
            self._under_way.discard(future)

    def _remind_and_log(self, reminder: Reminder, now: datetime) -> None:
        try:
            self.remind(reminder, now)
        except Exception:
            fields = {"event": "reminder_failed", "team": reminder.workspace.team_id, "reminder": reminder.id}
            log.exception("reminder failed", extra={"fields": fields})
            self._reminders.put_off(reminder.id, self.owner, now + TRUEDY_UNSURE)

    def remind(self, reminder: Reminder, now: datetime) -> str:
        """Look at one reminder this process took (`now`: the database's clock then); what became of it."""
        settings = self._workspaces.get(reminder.workspace)
        if settings is None:
            return self._end(reminder, "uninstalled", now)
        after = remind_after(settings, self._remind_after)
        if after <= timedelta(0):
            return self._end(reminder, "off", now)
        if reminder.snoozed_for_good:
            return self._end(reminder, "snoozed", now)
        if reminder.sent >= self._remind_max:
            return self._end(reminder, "done", now)
        due = reminder.due_at(after)
        if reminder.snoozed_until is not None:
            due = max(due, reminder.snoozed_until)
        if due > now:
            return self._put_off(reminder, max(due, quiet_until(settings, due) or due), "not_due")
        if (quiet_end := quiet_until(settings, now)) is not None:  # due, or late: either way not now
            return self._put_off(reminder, quiet_end, "quiet_hours")
        if settings.api_key is None:
            return self._put_off(reminder, now + NO_WAY_TO_POST, "no_key")
        message = self._message(reminder, settings, settings.api_key, after, now)
        if isinstance(message, tuple):
            outcome, until = message
            return self._end(reminder, outcome, now) if until is None else self._put_off(reminder, until, outcome)
        slack = self._slack_for(reminder.workspace)
        if slack is None:
            return self._put_off(reminder, now + NO_WAY_TO_POST, "no_token")
        sending_at = self._reminders.start_sending(reminder.id, self.owner)
        if sending_at is None:
            # Snoozed meanwhile (looked at again at once, and put off to the snooze's end), or no longer ours.
            self._reminders.put_off(reminder.id, self.owner, now)
            return "snoozed_meanwhile"
        return self._post(slack, reminder, message, after, sending_at)

    def _message(
        self, reminder: Reminder, settings: WorkspaceSettings, api_key: str, after: timedelta, now: datetime
    ) -> Message | tuple[str, datetime | None]:
        """The reminder to post, or why not: (what became of it, until when it is put off; None: ended)."""
        number = reminder.sent + 1
        mention = reminder_blocks.mention_of(settings.escalate_to) if number >= 2 else None
        open_here = {
            alert.campaign_id
            for alert in self._alerts.open_alerts_of([reminder.workspace])[reminder.workspace]
            if alert.channel == reminder.channel and alert.message_ts == reminder.message_ts
        }
        if reminder.kind == "alert":
            campaign_id = reminder.campaign_id or ""
            if campaign_id not in open_here:
                return "over", None  # resumed here, or seen resumed elsewhere by a poll
            scheduled, resuming = self._reminders.handled(reminder.workspace, [campaign_id])
            if scheduled:
                return "scheduled", now + after
            if resuming:
                return "resuming", now + SOMEONE_RESUMING
            try:
                campaign = self._truedy.get_campaign(api_key, campaign_id)
            except truedy.CampaignNotFound:
                return "over", None
            except truedy.TruedyError as error:
                return _truedy_unsure(reminder, error, now)
            if campaign.status != "paused":
                return "over", None  # the watcher's next poll shows it on the alert
            waiting = reminder_blocks.Waiting(campaign.id, campaign.name, campaign.pending)
            return reminder_blocks.reminder(waiting, now - reminder.paused_at, number, mention)
        digest = self._digests.get(reminder.digest_id) if reminder.digest_id is not None else None
        rows = [row for row in digest.still_paused if row.campaign_id in open_here] if digest else []
        scheduled, resuming = self._reminders.handled(reminder.workspace, [row.campaign_id for row in rows])
        left = [row for row in rows if row.campaign_id not in scheduled | resuming]
        if not left:
            if not rows:
                return "over", None
            return ("resuming", now + SOMEONE_RESUMING) if resuming else ("scheduled", now + after)
        try:
            paused, complete = self._truedy.paused_campaigns(api_key, MAX_PAGES)
        except truedy.TruedyError as error:
            return _truedy_unsure(reminder, error, now)
        found = {campaign.id: campaign for campaign in paused}
        waiting = [
            reminder_blocks.Waiting(row.campaign_id, row.name, found[row.campaign_id].pending)
            if row.campaign_id in found
            else reminder_blocks.Waiting(row.campaign_id, row.name, None)
            for row in left
            if row.campaign_id in found or not complete
        ]
        if not waiting:
            return "over", None
        return reminder_blocks.digest_reminder(waiting, now - reminder.paused_at, number, mention)

    def _post(self, slack: WebClient, reminder: Reminder, message: Message, after: timedelta, now: datetime) -> str:
        """`now`: when it was counted (the database's clock), from which the next one's interval runs."""
        try:
            slack.chat_postMessage(channel=reminder.channel, thread_ts=reminder.message_ts, **message)
        except SlackApiError as error:
            code = str(error.response.get("error") or "unknown_error")
            fields = {"event": "reminder_refused", "team": reminder.workspace.team_id, "error": code}
            log.warning("slack refused a reminder", extra={"fields": fields})
            if code in SLACK_MAY_HAVE_POSTED:
                self._sent(reminder, after, now)  # counted: never posted twice
                return f"unknown:{code}"
            # Slack answered no: nothing was posted, so it is not counted.
            if code == "ratelimited":
                retry_at = now + _retry_after(error)
                self._reminders.hold_channel(reminder.workspace, reminder.channel, retry_at)  # its others wait too
            elif code in TOKEN_REFUSALS:
                retry_at = now + NO_WAY_TO_POST  # reinstalled meanwhile, perhaps
            elif code in SLACK_REFUSES_FOR_GOOD:
                retry_at = None  # asking again would be refused again
            else:
                retry_at = now + TRUEDY_UNSURE  # Slack having a bad moment
            self._reminders.not_sent(reminder.id, self.owner, reminder.last_sent_at, now, retry_at)
            return f"refused:{code}"
        except URLError:
            # No connection to Slack: the request never left (slack_sdk tried again, then gave up). Not counted.
            log.warning("reminder not posted: Slack out of reach", extra={"fields": {"event": "reminder_not_sent"}})
            self._reminders.not_sent(reminder.id, self.owner, reminder.last_sent_at, now, now + TRUEDY_UNSURE)
            return "not_sent"
        except Exception:
            # No answer once it left: it may be in the thread. Counted, never posted again; the next at its interval.
            log.exception("reminder may not have been posted", extra={"fields": {"event": "reminder_unknown"}})
            self._sent(reminder, after, now)
            return "unknown"
        self._sent(reminder, after, now)
        fields = {"event": "reminder_posted", "team": reminder.workspace.team_id, "number": reminder.sent + 1}
        log.info("reminder posted", extra={"fields": fields})
        return "posted"

    def _sent(self, reminder: Reminder, after: timedelta, now: datetime) -> None:
        sent = reminder.sent + 1
        last = sent >= self._remind_max
        self._reminders.sent(reminder.id, self.owner, now, None if last else now + after * 2 ** (sent - 1))

    def _end(self, reminder: Reminder, ending: str, now: datetime) -> str:
        self._reminders.end(reminder.id, self.owner, ending, now)
        return ending

    def _put_off(self, reminder: Reminder, until: datetime, why: str) -> str:
        self._reminders.put_off(reminder.id, self.owner, until)
        return why


def _retry_after(error: SlackApiError) -> timedelta:
    wait = str((error.response.headers or {}).get("Retry-After") or "")
    if not (wait.isascii() and wait.isdigit()) or len(wait) > 6:
        return RATE_LIMITED if not wait else LONGEST_RETRY_AFTER
    return min(timedelta(seconds=int(wait)), LONGEST_RETRY_AFTER)


def quiet_until(settings: WorkspaceSettings, moment: datetime) -> datetime | None:
    """When the workspace's quiet hours that `moment` falls in end; None outside them, or with none set."""
    quiet_from, quiet_to = when.clock_of(settings.quiet_from), when.clock_of(settings.quiet_to)
    if quiet_from is None or quiet_to is None:
        return None
    zone = when.zone_named(settings.time_zone) or ZoneInfo("UTC")
    return when.quiet_until(moment.astimezone(UTC), quiet_from, quiet_to, zone)


def _truedy_unsure(reminder: Reminder, error: truedy.TruedyError, now: datetime) -> tuple[str, datetime]:
    _log_truedy(reminder, error)
    # A key Truedy refuses stays refused until setup changes it: asked again in an hour, not every few minutes.
    refused = isinstance(error, truedy.KeyRejected | truedy.IpNotAllowed | truedy.BillingProblem)
    return "truedy_unsure", now + (NO_WAY_TO_POST if refused else TRUEDY_UNSURE)


def _log_truedy(reminder: Reminder, error: truedy.TruedyError) -> None:
    fields = {
        "event": "reminder_put_off",
        "team": reminder.workspace.team_id,
        "error": type(error).__name__,
        "truedy_request_id": error.request_id,
    }
    log.warning("Truedy could not say whether a reminded campaign is paused", extra={"fields": fields})
