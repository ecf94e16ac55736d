"""Noticing paused campaigns by polling Truedy, and keeping one alert per pause up to date."""

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from bot import metrics, truedy
from bot.resume import outcome_name
from bot.slack.blocks import alert_blocks, digest_blocks, messages
from bot.slack.client import bot_user_id
from bot.slack.digest_message import render_digest
from bot.slack.replies import log_refusal, update_message
from bot.storage.alert_channels import CHANNEL_REFUSALS, AlertChannelProblems, ChannelProblem
from bot.storage.alert_records import AlertRecords, OpenAlert
from bot.storage.digests import AlertDigests
from bot.storage.inflight import InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import WorkspaceId, Workspaces, WorkspaceSettings

log = logging.getLogger("bot.watcher")

# How often due polls are looked for: a poll is at most a 720th of the interval late (0.14%), from 1 s (an
# interval of 12 minutes or less) to 5 s (an hour). Each look costs a few database round trips, so with long
# intervals the cost follows the polls, not the clock; a workspace a Truedy webhook made due waits as long.
MIN_TICK_SECONDS, MAX_TICK_SECONDS = 1.0, 5.0
# Polls running at once, at most. The pool starts a thread only when a poll waits for one, so the threads in
# use follow the work that is due (polls due a second times a poll's length: about 35 for 1,000 workspaces a
# minute whose Truedy answers in 2 s); the bound only keeps a Truedy that hangs for everyone from spawning
# more. A workspace whose Truedy hangs holds its own thread until its timeouts, nobody else's.
MAX_POLLS = 128
# How often workspaces without a poll yet (connected by another process, or before this release) get one.
SCHEDULING_SECONDS = 60.0
# A workspace where someone is resuming is polled this much later (people first).
PEOPLE_FIRST = timedelta(seconds=5)
# A workspace's bot client is looked up once and kept while the workspace is polled (finding and decrypting
# its installation was a fifth of a poll's cost): until its settings change (a reinstall needs setup again),
# Slack refuses its token, or it goes unused for two intervals (and at least this long).
CLIENT_SECONDS = 300.0
TOKEN_REFUSALS = ("invalid_auth", "token_revoked", "account_inactive", "not_authed")
# A channel Slack refused is tried again after this long (the bot may have been invited meanwhile), or at
# once when setup is saved.
CHANNEL_RETRY = timedelta(hours=1)
# At most this many list requests per workspace and poll (2,000 paused campaigns), so polling leaves most
# of Truedy's ~100 requests a minute per key to the people resuming.
MAX_PAGES = 20


@dataclass(frozen=True)
class PollInputs:
    """What a poll needs from the database, read before Truedy is asked."""

    settings: WorkspaceSettings | None
    resuming: bool  # someone is resuming in this workspace
    problem: ChannelProblem | None
    open_alerts: list[OpenAlert]


class PausedWatcher:
    def __init__(
        self,
        *,
        engine: Engine,
        workspaces: Workspaces,
        alerts: AlertRecords,
        schedule: PollSchedule,
        in_flight: InFlightResumes,
        channel_problems: AlertChannelProblems,
        truedy_client: truedy.TruedyClient,
        slack_for: Callable[[WorkspaceId], WebClient | None],
        interval: timedelta,
        channel_for: Callable[[WorkspaceSettings], str | None],
        dashboard_url: str | None,
        digests: AlertDigests,
        per_minute: int,
        remind_after: Callable[[WorkspaceSettings], timedelta] = lambda _: timedelta(0),
        before_each_poll: Callable[[], None] = lambda: None,
    ):
        self._engine = engine
        self._workspaces = workspaces
        self._alerts = alerts
        self._schedule = schedule
        self._in_flight = in_flight
        self._channel_problems = channel_problems
        self._truedy = truedy_client
        self._slack_for = slack_for
        self._interval = interval
        self._channel_for = channel_for
        self._dashboard_url = dashboard_url
        self._digests = digests
        self._per_minute = per_minute  # resume all's pace, for the digest's estimate
        self._remind_after = remind_after  # each alert posted is reminded of after this long (zero: never)
        self._before_each_poll = before_each_poll  # acks first: the worker makes polls wait for pending acks
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paused-watcher", daemon=True)
        self._pool = ThreadPoolExecutor(MAX_POLLS, thread_name_prefix="poll")
        self._polling: set[WorkspaceId] = set()
        self._polling_lock = threading.Lock()
        self._next_scheduling = 0.0
        # workspace -> (kept until, the settings' updated_at it was looked up with, its client)
        self._clients: dict[WorkspaceId, tuple[float, datetime | None, WebClient | None]] = {}
        self._tick = min(MAX_TICK_SECONDS, max(MIN_TICK_SECONDS, interval.total_seconds() / 720))
        self._client_seconds = max(CLIENT_SECONDS, 2 * interval.total_seconds())
        self._tally: Counter[str] = Counter()  # polls, failures and alerts, logged in a line now and then
        self._tally_since = time.monotonic()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No new poll; those under way finish (their requests are bounded by their timeouts)."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.poll_due_workspaces()
            except Exception:
                log.exception("scheduling polls failed", extra={"fields": {"event": "poll_failed"}})

    def poll_due_workspaces(self) -> None:
        """Start the polls that are due (one indexed query), each on a thread of the pool; now and then,
        give workspaces without one their first poll."""
        if time.monotonic() >= self._next_scheduling:
            self._schedule.schedule_new(self._interval)
            self._next_scheduling = time.monotonic() + min(SCHEDULING_SECONDS, self._interval.total_seconds())
            with self._polling_lock:
                now = time.monotonic()
                self._clients = {workspace: held for workspace, held in self._clients.items() if held[0] > now}
                tally, self._tally = self._tally, Counter()
                since, self._tally_since = self._tally_since, now
            if tally:
                fields = {"event": "polls_summary", "seconds": round(now - since), **tally}
                log.info("polls since the last summary", extra={"fields": fields})
        with self._polling_lock:
            free = MAX_POLLS - len(self._polling)
        if free <= 0:
            return
        self._before_each_poll()
        due = self._schedule.take_due(self._interval, free)
        with self._polling_lock:
            due = [workspace for workspace in due if workspace not in self._polling]  # else this turn is skipped
            self._polling.update(due)
        if not due:
            return
        try:
            # What the polls need from the database, read for all of them at once (a query per table, not per
            # poll); only the workspaces polled are read and decrypted.
            with self._engine.connect() as connection:
                settings = self._workspaces.get_many(due, connection)
                resuming = self._in_flight.busy_among(due, connection)
                problems = self._channel_problems.latest_of(due, connection)
                open_alerts = self._alerts.open_alerts_of(due, connection)
        except BaseException:
            with self._polling_lock:
                self._polling.difference_update(due)
            raise
        for workspace in due:
            found = settings.get(workspace)
            inputs = PollInputs(found, workspace in resuming, problems.get(workspace), open_alerts[workspace])
            self._pool.submit(self._poll_and_log, workspace, inputs)

    def _poll_and_log(self, workspace: WorkspaceId, inputs: PollInputs) -> None:
        try:
            self._before_each_poll()
            settings = inputs.settings
            if settings is None:
                return
            if settings.secrets_unreadable and not settings.secret_problem_told:
                self._tell_secrets_unreadable(settings)
            channel = self._channel_for(settings)
            if settings.api_key is None or channel is None:
                return
            # People first: no polling while someone is resuming in this workspace.
            if inputs.resuming:
                self._schedule.postpone(workspace, PEOPLE_FIRST)
                return
            self._poll(workspace, settings, settings.api_key, channel, inputs.problem, inputs.open_alerts)
        except Exception:
            log.exception("polling failed", extra={"fields": {"event": "poll_failed", "team": workspace.team_id}})
            metrics.polled("bot_failure")
            with self._polling_lock:
                self._tally.update(failed=1)
        finally:
            with self._polling_lock:
                self._polling.discard(workspace)

    def _client_for(self, workspace: WorkspaceId, settings: WorkspaceSettings) -> WebClient | None:
        now = time.monotonic()
        with self._polling_lock:
            held = self._clients.get(workspace)
            if held is not None and held[0] > now and held[1] == settings.updated_at:
                self._clients[workspace] = (now + self._client_seconds, *held[1:])
                return held[2]
        client = self._slack_for(workspace)
        with self._polling_lock:
            self._clients[workspace] = (now + self._client_seconds, settings.updated_at, client)
        return client

    def _poll(
        self,
        polled: WorkspaceId,
        settings: WorkspaceSettings,
        api_key: str,
        channel: str,
        problem: ChannelProblem | None,
        open_alerts: list[OpenAlert],
    ) -> None:
        """`open_alerts` are read before Truedy is asked: one closed meanwhile (a Resume click) is found closed
        when the poll tries to close it, and a new pause is claimed once, whatever was read."""
        workspace = settings.workspace
        if problem is not None and problem.channel == channel and datetime.now(UTC) - problem.since < CHANNEL_RETRY:
            # Slack refused this channel: nothing goes there until setup changes (or an hour passed).
            log.info(
                "alerts on hold",
                extra={"fields": {"event": "alerts_on_hold", "team": workspace.team_id, "error": problem.error}},
            )
            return
        try:
            paused, complete = self._truedy.paused_campaigns(api_key, MAX_PAGES)
        except truedy.TruedyError as error:
            metrics.polled(outcome_name(error))
            self._note_failure(settings, "list", error)
            return
        alerted, paused_ids = {alert.campaign_id for alert in open_alerts}, {campaign.id for campaign in paused}
        unalerted = [campaign for campaign in paused if campaign.id not in alerted]
        # Only a full list tells that a campaign is no longer paused.
        ending = [alert for alert in open_alerts if alert.campaign_id not in paused_ids] if complete else []
        if not unalerted and not ending:
            self._polled(workspace, len(paused), 0, 0, 0)  # most polls: nothing for Slack, no client needed
            return
        slack = self._client_for(polled, settings)
        if slack is None:
            # Its keys stay, but no bot token serves it (not installed, or another workspace's token).
            log.info(
                "not alerted: no bot token for this workspace",
                extra={"fields": {"event": "poll_skipped", "team": workspace.team_id}},
            )
            return
        new = [c for c in unalerted if self._alerts.claim_new_pause(workspace, c.id)]
        posted, refusal = 0, None
        if len(new) > digest_blocks.DIGEST_OVER:
            refusal = self._post_digest(slack, settings, channel, new)
            posted = len(new) if refusal is None else 0
        else:
            for campaign in new:
                refusal = self._post_alert(slack, settings, channel, campaign)
                if refusal is not None:
                    # No more posts this poll (the channel refuses, or Slack asks to slow down): the rest
                    # are alerted by a later poll.
                    for left in new[posted + 1 :]:
                        self._alerts.abandon(workspace, left.id)
                    break
                posted += 1
        if refusal in CHANNEL_REFUSALS:
            self._refused(slack, settings, channel, refusal)
        if refusal in TOKEN_REFUSALS:
            with self._polling_lock:
                self._clients.pop(polled, None)  # reinstalled with a new token, perhaps: look it up again
        if posted and problem is not None:
            self._channel_problems.clear(workspace)
        closed, digests_changed = 0, set[int]()
        for alert in ending:
            try:
                was_closed, digest_id = self._close_alert(slack, settings, api_key, alert)
            except truedy.TruedyError as error:
                self._note_failure(settings, "get", error)
                break
            closed += was_closed
            if digest_id is not None:
                digests_changed.add(digest_id)
        for digest_id in digests_changed:  # once each, however many of its rows changed
            render_digest(slack, self._digests, digest_id, self._per_minute)
        self._polled(workspace, len(paused), len(new), posted, closed)

    def _polled(self, workspace: WorkspaceId, paused: int, found: int, posted: int, closed: int) -> None:
        metrics.polled("ok", pauses_found=found, alerts_posted=posted)
        with self._polling_lock:
            self._tally.update(polls=1, alerts_posted=posted, alerts_closed=closed)
        # A line per poll only when it changed something: at 10,000 workspaces, polls come 170 a second.
        log.log(
            logging.INFO if posted or closed else logging.DEBUG,
            "polled paused campaigns",
            extra={
                "fields": {
                    "event": "polled",
                    "team": workspace.team_id,
                    "paused": paused,
                    "alerts_posted": posted,
                    "alerts_closed": closed,
                }
            },
        )

    def _tell_secrets_unreadable(self, settings: WorkspaceSettings) -> None:
        """Once: the admin who last saved setup hears that the workspace's secrets cannot be decrypted."""
        slack = self._client_for(settings.workspace, settings)
        if slack is None or not self._workspaces.secret_problem_told(settings.workspace):
            return
        fields = {"event": "secrets_unreadable", "team": settings.workspace.team_id}
        log.warning("a workspace's saved secrets cannot be decrypted", extra={"fields": fields})
        _tell_admin(slack, settings, messages.secrets_unreadable_notice(), "secrets_unreadable_notice")

    def _refused(self, slack: WebClient, settings: WorkspaceSettings, channel: str, error: str) -> None:
        """Slack will not take alerts in `channel`: stop posting there, and tell whoever set it up."""
        if not self._channel_problems.record(settings.workspace, channel, error):
            return  # known already (tried again after an hour): told before
        notice = messages.alert_channel_refused(channel, error, bot_user_id(slack))
        _tell_admin(slack, settings, notice, "alert_channel_notice")

    def _post_alert(
        self, slack: WebClient, settings: WorkspaceSettings, channel: str, campaign: truedy.Campaign
    ) -> str | None:
        """None once posted, else Slack's error (the pause is then alerted by a later poll)."""
        workspace = settings.workspace
        after = self._remind_after(settings)
        try:
            posted = slack.chat_postMessage(
                channel=channel, **alert_blocks.alert(campaign, self._dashboard_url, snooze=after > timedelta(0))
            )
        except SlackApiError as error:
            log_refusal("alert", error)
            self._alerts.abandon(workspace, campaign.id)
            return str(error.response.get("error") or "unknown_error")
        except Exception:
            self._alerts.abandon(workspace, campaign.id)
            raise
        self._alerts.posted(workspace, campaign.id, posted["channel"], posted["ts"], after)
        log.info(
            "alert posted",
            extra={"fields": {"event": "alert_posted", "team": workspace.team_id, "campaign": campaign.id}},
        )
        return None

    def _post_digest(
        self, slack: WebClient, settings: WorkspaceSettings, channel: str, campaigns: list[truedy.Campaign]
    ) -> str | None:
        """One message for all of `campaigns`; None once posted, else Slack's error (they are alerted by a
        later poll)."""
        workspace = settings.workspace
        digest_id = self._digests.create(workspace, channel, campaigns)
        try:
            digest = self._digests.get(digest_id)
            assert digest is not None
            posted = slack.chat_postMessage(channel=channel, **digest_blocks.digest(digest, self._per_minute))
        except BaseException as error:
            self._digests.discard(digest_id)
            for campaign in campaigns:
                self._alerts.abandon(workspace, campaign.id)
            if not isinstance(error, SlackApiError):
                raise
            log_refusal("digest", error)
            return str(error.response.get("error") or "unknown_error")
        self._digests.posted(digest_id, posted["channel"], posted["ts"], workspace, self._remind_after(settings))
        for campaign in campaigns:
            self._alerts.posted(workspace, campaign.id, posted["channel"], posted["ts"])
        log.info(
            "digest posted",
            extra={"fields": {"event": "digest_posted", "team": workspace.team_id, "campaigns": len(campaigns)}},
        )
        return None

    def _close_alert(
        self, slack: WebClient, settings: WorkspaceSettings, api_key: str, alert: OpenAlert
    ) -> tuple[bool, int | None]:
        """Whether this closed the alert (not when the campaign is still paused, or someone else closed
        it), and the digest whose row now shows it (rendered by the caller, once for all its rows)."""
        try:
            campaign = self._truedy.get_campaign(api_key, alert.campaign_id)
        except truedy.CampaignNotFound:
            campaign = None
        if campaign is not None and campaign.status == "paused":
            return False, None  # the list lagged behind; still paused
        if not self._alerts.close(settings.workspace, alert.campaign_id):
            return False, None
        if campaign is None:
            state = alert_blocks.gone_state(alert.campaign_id)
        else:
            state = alert_blocks.no_longer_paused_state(campaign.status, datetime.now(UTC))
        digest_id = self._digests.find(settings.workspace, alert.channel, alert.message_ts)
        if digest_id is not None:
            self._digests.set_row(digest_id, alert.campaign_id, "over", state)
            return True, digest_id
        shown = alert_blocks.alert(campaign, self._dashboard_url)["blocks"] if campaign is not None else []
        blocks = alert_blocks.with_state(shown, state, offer_resume=False)
        update_message(
            slack, alert.channel, alert.message_ts, alert_blocks.state_text(alert.campaign_id, state), blocks
        )
        return True, None

    def _note_failure(self, settings: WorkspaceSettings, call: str, error: truedy.TruedyError) -> None:
        with self._polling_lock:
            self._tally.update(failed=1)
        if isinstance(error, truedy.RateLimited):
            hinted = error.retry_at is not None or error.retry_in is not None
            self._schedule.defer(settings.workspace, error.wait() if hinted else self._interval)
        log.warning(
            "polling Truedy failed",
            extra={
                "fields": {
                    "event": "poll_failed",
                    "team": settings.workspace.team_id,
                    "call": call,
                    "error": type(error).__name__,
                    "truedy_request_id": error.request_id,
                }
            },
        )


def _tell_admin(slack: WebClient, settings: WorkspaceSettings, message: messages.Message, step: str) -> None:
    """A direct message to the admin who last saved setup; none when the settings came from the environment
    (`/resume-campaign status` and the logs say it then)."""
    admin = settings.updated_by
    if admin is None or not admin.startswith(("U", "W")):
        return
    try:
        slack.chat_postMessage(channel=admin, **message)
    except SlackApiError as error:
        log_refusal(step, error)
