"""Where a resume shows in Slack, and how it ends there: the command's announcement, or the clicked alert."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import truedy
from bot.resume import NotStarted, ResumeRequest
from bot.resume_flow import Ending
from bot.slack import alert_blocks, messages
from bot.slack.client import bot_user_id
from bot.slack.replies import log_refusal, reply_in_thread, update_message
from bot.storage.alert_records import AlertRecords
from bot.storage.inflight import AlreadyResuming, ShownAt


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
            return
        reply_in_thread(self.client, self.respond, self.posted["channel"], self.posted["ts"], campaign_id, ending)
        self._update(messages.resumed_summary(self.request, ending))

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
            return
        reply_in_thread(self.client, self.respond, posted["channel"], posted["ts"], campaign_id, ending)

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
        self._show(state, offer_resume)

    def _show(self, state: str, offer_resume: bool) -> None:
        blocks = alert_blocks.with_state(self.alert.blocks, state, offer_resume)
        update_message(
            self.client,
            self.alert.channel,
            self.alert.ts,
            alert_blocks.state_text(self.request.campaign_id, state),
            blocks,
        )


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
