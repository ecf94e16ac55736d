"""Where a resume shows in Slack, and how it ends there: the command's announcement, or the clicked alert."""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import truedy
from bot.resume import NotSent, NotStarted, ResumeRequest, outcome_name
from bot.resume_flow import Ending
from bot.slack.blocks import alert_blocks, messages, schedule_blocks
from bot.slack.client import bot_user_id
from bot.slack.replies import DirectMessage, log_refusal, reply_in_thread, update_message
from bot.slack.undo import Undo, name_in_alert
from bot.storage.alert_records import AlertRecords
from bot.storage.inflight import AlreadyResuming, ShownAt
from bot.storage.schedules import ScheduledResume, ScheduledResumes

log = logging.getLogger("bot.surfaces")


@dataclass
class Announcement:
    """`/resume-campaign <id>`: "@alice is resuming…" in the channel, the result in its thread, and the
    message's final state; privately to the requester when the bot cannot post there."""

    client: WebClient
    respond: Respond
    channel: str
    request: ResumeRequest
    # For an id Truedy does not know: the paused campaigns so named, offered privately, or None if none is.
    campaigns_named: Callable[[str], messages.Message | None] | None = None
    # What was typed may be a name rather than an id ("renewals"): nothing is said in the channel until
    # Truedy has answered about a campaign of that id, so that a name never reads "is resuming" there.
    quiet_until_answered: bool = False
    posted: dict | None = None
    undo: Undo | None = None  # Pause again under a successful resume

    def show_resuming(self) -> ShownAt | None:
        if self.quiet_until_answered:
            return None
        try:
            self.posted = self.client.chat_postMessage(channel=self.channel, **messages.resuming(self.request))
        except SlackApiError as error:
            log_refusal("announce", error)
            self.respond(**messages.private_notice_cannot_post(self.request.campaign_id, bot_user_id(self.client)))
            return None
        return ShownAt("announcement", self.posted["channel"], self.posted["ts"])

    def show_ending(self, ending: Ending) -> None:
        campaign_id = self.request.campaign_id
        if isinstance(ending, NotStarted | AlreadyResuming):
            private = (
                messages.shutting_down() if isinstance(ending, NotStarted) else messages.refusal(ending, campaign_id)
            )
            self.respond(**private)
            if self.posted is not None:
                self._update(messages.not_started(self.request, ending))
            return
        # One word shaped like an id may be a campaign's name: offer those so named before "not found".
        named = (
            self.campaigns_named(campaign_id)
            if isinstance(ending, truedy.CampaignNotFound) and self.campaigns_named is not None
            else None
        )
        if named is not None:
            self.respond(**named)
            if self.posted is not None:
                self._update(messages.looked_up_as_name(self.request))
            return
        if self.posted is None and self.quiet_until_answered:
            self._announce_ending(ending)
            return
        if self.posted is None:
            self.respond(**messages.private_result(campaign_id, ending))
            self._offer_in_dm(ending)
            return
        reply_in_thread(self.client, self.respond, self.posted["channel"], self.posted["ts"], campaign_id, ending)
        self._update(self._offering(messages.resumed_summary(self.request, ending), ending, self.posted))

    def _offering(self, shown: messages.Message, ending: Ending, posted: dict) -> messages.Message:
        if self.undo is None or not isinstance(ending, truedy.Resumed):
            return shown
        where = (posted["channel"], posted["ts"], posted["ts"])
        request = self.request
        return self.undo.offered(
            request.workspace, request.campaign_id, None, request.user_id, "announcement", where, shown
        )

    def _offer_in_dm(self, ending: Ending) -> None:
        """The channel would not take the announcement: Pause again comes in the requester's DM with the bot."""
        if self.undo is None or self.undo.minutes <= 0 or not isinstance(ending, truedy.Resumed):
            return  # the DM is only there to carry the offer
        shown = messages.resumed_summary(self.request, ending)
        try:
            posted = self.client.chat_postMessage(channel=self.request.user_id, **shown)
        except SlackApiError as error:
            log_refusal("announce", error)
            return
        offered = self._offering(shown, ending, posted)
        if offered is not shown:
            update_message(self.client, posted["channel"], posted["ts"], offered["text"], offered["blocks"])

    def _announce_ending(self, ending: Ending) -> None:
        """The channel hears of it once Truedy answered: the outcome, with the details in its thread."""
        campaign_id = self.request.campaign_id
        try:
            posted = self.client.chat_postMessage(
                channel=self.channel, **messages.resumed_summary(self.request, ending)
            )
        except SlackApiError as error:
            log_refusal("announce", error)
            self.respond(**messages.private_result(campaign_id, ending))
            self._offer_in_dm(ending)
            return
        reply_in_thread(self.client, self.respond, posted["channel"], posted["ts"], campaign_id, ending)
        summary = messages.resumed_summary(self.request, ending)
        offered = self._offering(summary, ending, posted)
        if offered is not summary:  # Pause again offered: the message just posted gets its button
            update_message(self.client, posted["channel"], posted["ts"], offered["text"], offered["blocks"])

    def _update(self, message: messages.Message) -> None:
        assert self.posted is not None
        update_message(self.client, self.posted["channel"], self.posted["ts"], message["text"], message["blocks"])


@dataclass(frozen=True)
class ClickedAlert:
    channel: str
    ts: str
    thread_ts: str  # where results go: the alert's own thread, or the thread the alert is a reply in
    blocks: list  # the alert as it was clicked, Resume button included

    @classmethod
    def from_click(cls, body: dict) -> "ClickedAlert":
        container, message = body["container"], body.get("message") or {}
        return cls(
            channel=container["channel_id"],
            ts=container["message_ts"],
            thread_ts=container.get("thread_ts") or container["message_ts"],
            blocks=message.get("blocks") or [],
        )


@dataclass(frozen=True)
class AlertSurface:
    """A Resume click: the alert's status line shows the resume (without the button, so nobody clicks
    twice), the result goes in its thread, and the alert ends in its final state."""

    client: WebClient
    respond: Respond
    alert: ClickedAlert
    request: ResumeRequest
    alerts: AlertRecords
    undo: Undo | None = None  # Pause again under a successful resume

    def show_resuming(self) -> ShownAt:
        self._show(alert_blocks.resuming_state(self.request.user_id), offer_resume=False)
        return ShownAt("alert", self.alert.channel, self.alert.ts)

    def show_ending(self, ending: Ending) -> None:
        campaign_id = self.request.campaign_id
        if isinstance(ending, NotStarted):
            self.respond(**messages.shutting_down())
            self._show(alert_blocks.restarting_state(), offer_resume=True)
            return
        if isinstance(ending, AlreadyResuming):
            self.respond(**messages.refusal(ending, campaign_id))
            self._show(alert_blocks.resuming_state(ending.user_id), offer_resume=False)
            return
        reply_in_thread(self.client, self.respond, self.alert.channel, self.alert.thread_ts, campaign_id, ending)
        state, offer_resume = alert_blocks.final_state(self.request.user_id, ending, datetime.now(UTC))
        if not offer_resume:
            # This pause is over as far as the alert goes: the watcher must not alert it again or rewrite it.
            self.alerts.close(self.request.workspace, campaign_id)
        shown = self._message(state, offer_resume)
        if self.undo is not None and isinstance(ending, truedy.Resumed):
            where = (self.alert.channel, self.alert.ts, self.alert.thread_ts)
            name = name_in_alert(self.alert.blocks)
            shown = self.undo.offered(
                self.request.workspace, campaign_id, name, self.request.user_id, "alert", where, shown
            )
        update_message(self.client, self.alert.channel, self.alert.ts, shown["text"], shown["blocks"])

    def _show(self, state: str, offer_resume: bool) -> None:
        shown = self._message(state, offer_resume)
        update_message(self.client, self.alert.channel, self.alert.ts, shown["text"], shown["blocks"])

    def _message(self, state: str, offer_resume: bool) -> messages.Message:
        blocks = alert_blocks.with_state(self.alert.blocks, state, offer_resume)
        return {"text": alert_blocks.state_text(self.request.campaign_id, state), "blocks": blocks}


@dataclass(frozen=True)
class ListedCampaign:
    """A Resume click on someone's private list: announced in the channel and answered in its thread as
    the command is, then their list shows the page again as it is now, with what happened on top."""

    announcement: Announcement
    refresh_list: Callable[[str | None], None]

    def show_resuming(self) -> ShownAt | None:
        return self.announcement.show_resuming()

    def show_ending(self, ending: Ending) -> None:
        self.announcement.show_ending(ending)
        if not isinstance(ending, NotStarted | AlreadyResuming):
            self.refresh_list(messages.resumed_summary(self.announcement.request, ending)["text"])


@dataclass
class ScheduledSurface:
    """A scheduled resume whose time came, held by this process (`owner`, bot.storage.schedules): its
    "scheduled" message shows it running, then its ending, with the result in its thread, as a click's would.
    The schedule moves with it: ended once Truedy answered (or it was refused for good); handed back to be
    tried again when nothing was done (Truedy's rate limit, no connection, the bot failed before asking,
    someone else was resuming the campaign).

    `done` tells the runner when the surface is through with the schedule (its lease is no longer renewed), with
    the move the database would not take then, if any, for the runner to try again meanwhile."""

    client: WebClient
    schedule: ScheduledResume
    schedules: ScheduledResumes
    owner: str
    done: Callable[[int, Callable[[], object] | None], None] = lambda _id, _retry: None
    # Given up after this many failures (before Truedy, or no connection to it) that do not go away.
    most_failures: int = 10
    _message: tuple[str, str] | None = None  # (channel, ts) of the message that shows it
    unrecorded: Callable[[], object] | None = None  # a move the database would not take
    undo: Undo | None = None  # Pause again under a successful resume

    def show_resuming(self) -> ShownAt | None:
        self._show(schedule_blocks.running(self.schedule))
        # Nothing is recorded with the claim: if this process dies, the schedule's own lease tells its ending
        # (run again if it was never sent, "may have resumed" if it was), not the sweep of abandoned clicks.
        return None

    def show_ending(self, ending: Ending) -> None:
        try:
            self._end(ending)
        finally:
            self.done(self.schedule.id, self.unrecorded)

    def _end(self, ending: Ending) -> None:
        schedule = self.schedule
        if isinstance(ending, NotStarted):
            # The bot is stopping before it was sent (it runs at the next start, or on another process now), or its
            # lease went to another process, which shows it from now on.
            if self.schedules.holds(schedule.id, self.owner):
                self._show(schedule_blocks.scheduled(schedule))
            return
        if isinstance(ending, AlreadyResuming):
            # Someone else resumes it right now: tried again once they are done (it then says what it finds).
            self.try_again_in(SOMEONE_ELSE_SECONDS, "someone else was resuming it at its time")
            return
        if isinstance(ending, truedy.RateLimited):
            # Many schedules at the same time meet Truedy's per-key limit: this one waits for it, not fails. The wait
            # is Truedy's, counted from now: the database's clock decides when it is due again.
            retry_at, wait = ending.retry_at_or_in_a_minute(), ending.wait()
            if self._move(partial(self.schedules.hand_back, schedule.id, self.owner, wait, ("sending",))):
                self._show(schedule_blocks.rate_limited(schedule, retry_at))
            return
        if isinstance(ending, truedy.TruedyUnreachable | NotSent):
            # Nothing reached Truedy: tried again a little later, a few times.
            self.try_again_later(messages.explain(ending)[0], leaving=("taken", "sending"), ending=ending)
            return
        ended = self._move(partial(self.schedules.end, schedule.id, self.owner, outcome_name(ending), "sending"))
        if ended is False:
            log.warning(  # its lease ran out meanwhile: the truth is still worth telling
                "scheduled resume answered after it was given up",
                extra={"fields": {"event": "schedule_late_answer", "schedule": schedule.id}},
            )
        self._show_ended(ending)  # Truedy answered: said, whether or not the database took it yet

    def refused(self, why: str) -> None:
        """Refused for good before Truedy was asked (the checks of the resume flow): said in the channel, over."""
        # Shown also when the database takes it only later (None): the runner records it then.
        if self._move(partial(self.schedules.end, self.schedule.id, self.owner, "refused", "taken")) is not False:
            self._show(schedule_blocks.refused(self.schedule, why))

    def try_again_in(self, seconds: float, why: str) -> None:
        """Not started now, for a reason that passes by itself: pending again, due `seconds` from now."""
        self._move(partial(self.schedules.hand_back, self.schedule.id, self.owner, timedelta(seconds=seconds)))
        log.info(
            "scheduled resume handed back",
            extra={"fields": {"event": "schedule_handed_back", "schedule": self.schedule.id, "why": why}},
        )

    def try_again_later(
        self, why: str, leaving: tuple[str, ...] = ("taken",), ending: truedy.TruedyError | None = None
    ) -> None:
        """Nothing reached Truedy because something failed: tried again after a growing wait, and given up (said
        so, nothing having been sent) after `most_failures`. Waits that were no failure (a rate limit, someone
        else resuming, a restart) do not count."""
        schedule = self.schedule
        if schedule.failures + 1 >= self.most_failures:
            outcome = outcome_name(ending) if ending is not None else "not_sent"
            for state in leaving:
                if self._move(partial(self.schedules.end, schedule.id, self.owner, outcome, state)) is not False:
                    self._show(schedule_blocks.given_up(schedule, why))
                    return
            return
        wait = timedelta(seconds=min(RETRY_AT_MOST_SECONDS, RETRY_SECONDS * 2**schedule.failures))
        handed = partial(self.schedules.hand_back, schedule.id, self.owner, wait, leaving, failed=True)
        if self._move(handed):
            self._show(schedule_blocks.retrying(schedule, why, datetime.now(UTC) + wait))

    def _move(self, move: Callable[[], bool]) -> bool | None:
        """A move of the schedule; None when the database would not take it now (the runner tries it again,
        renewing the schedule's lease meanwhile, so that its truth is not replaced by a lease running out)."""
        try:
            return move()
        except SQLAlchemyError:
            log.exception("scheduled resume not moved", extra={"fields": {"event": "database_error"}})
            self.unrecorded = move
            return None

    def _show_ended(self, ending: truedy.TruedyError | truedy.Resumed) -> None:
        if self._message is None and self.schedule.message_ts:
            self._message = (self.schedule.channel, self.schedule.message_ts)
        if self._message is not None:
            answers = DirectMessage(self.client, self.schedule.scheduled_by)
            thread = self.schedule.thread_ts or self._message[1]
            reply_in_thread(self.client, answers, self._message[0], thread, self.schedule.campaign_id, ending)
        shown = schedule_blocks.ended(self.schedule, ending)
        if self.undo is not None and self._message is not None and isinstance(ending, truedy.Resumed):
            schedule = self.schedule
            where = (*self._message, schedule.thread_ts or self._message[1])
            shown = self.undo.offered(
                schedule.workspace, schedule.campaign_id, None, schedule.scheduled_by, "schedule", where, shown
            )
        self._show(shown)

    def _show(self, message: messages.Message) -> None:
        """The schedule's message updated; posted anew if it never was (the channel refused it then)."""
        if self._message is None and self.schedule.message_ts:
            self._message = (self.schedule.channel, self.schedule.message_ts)
        if self._message is not None:
            update_message(self.client, *self._message, message["text"], message["blocks"])
            return
        try:
            posted = self.client.chat_postMessage(
                channel=self.schedule.channel, thread_ts=self.schedule.thread_ts, **message
            )
            self._message = (posted["channel"], posted["ts"])
        except SlackApiError as error:
            log_refusal("schedule", error)
            DirectMessage(self.client, self.schedule.scheduled_by)(**message)


# A schedule that meets someone else's resume of its campaign tries again this much later.
SOMEONE_ELSE_SECONDS = 10.0
# A schedule that could not reach Truedy tries again after 30 s, 1 min, 2 min… at most 10 min apart.
RETRY_SECONDS = 30.0
RETRY_AT_MOST_SECONDS = 600.0
