"""Keeping a digest message true to its rows, and a Resume click on one of its rows."""

from dataclasses import dataclass
from datetime import UTC, datetime

from slack_bolt import Respond
from slack_sdk import WebClient

from bot import truedy
from bot.resume import NotStarted, ResumeOutcome, ResumeRequest
from bot.resume_flow import Ending
from bot.slack.blocks import alert_blocks, digest_blocks, messages
from bot.slack.replies import reply_in_thread, update_message
from bot.slack.undo import Undo
from bot.storage.alert_records import AlertRecords
from bot.storage.digests import AlertDigests
from bot.storage.inflight import AlreadyResuming, ShownAt

# Renders that find the digest changed again while they posted; past this, the next change renders it.
MAX_RENDERS = 5


def render_digest(client: WebClient, digests: AlertDigests, digest_id: int, per_minute: int) -> None:
    """Post the digest as the database has it, again if a row changed meanwhile: the last render wins, and
    it is always made after the last change."""
    for _ in range(MAX_RENDERS):
        digest = digests.get(digest_id)
        if digest is None or digest.message_ts is None:
            return
        message = digest_blocks.digest(digest, per_minute)
        update_message(client, digest.channel, digest.message_ts, message["text"], message["blocks"])
        if digests.version(digest_id) == digest.version:
            return


def row_after(user_id: str, outcome: ResumeOutcome) -> tuple[str, str]:
    """(kind, line) of a digest row once a resume of its campaign ended."""
    line, offer_resume = alert_blocks.final_state(user_id, outcome, datetime.now(UTC))
    if offer_resume:
        return "failed", line
    return ("resumed" if isinstance(outcome, truedy.Resumed) else "over"), line


@dataclass(frozen=True)
class DigestRowSurface:
    """A Resume click on a digest's row: the row shows the resume, the result goes in the digest's thread,
    and the row ends in its final state, as an alert's would."""

    client: WebClient
    respond: Respond
    digests: AlertDigests
    digest_id: int
    channel: str
    thread_ts: str
    request: ResumeRequest
    alerts: AlertRecords
    per_minute: int
    undo: Undo | None = None  # Pause again, under the result in the digest's thread

    def show_resuming(self) -> ShownAt:
        self._show("resuming", alert_blocks.resuming_state(self.request.user_id))
        return ShownAt("digest", self.channel, self.thread_ts)

    def show_ending(self, ending: Ending) -> None:
        campaign_id = self.request.campaign_id
        if isinstance(ending, NotStarted):
            self.respond(**messages.shutting_down())
            self._show("paused", alert_blocks.restarting_state())
            return
        if isinstance(ending, AlreadyResuming):
            self.respond(**messages.refusal(ending, campaign_id))
            self._show("resuming", alert_blocks.resuming_state(ending.user_id))
            return
        reply_ts = reply_in_thread(self.client, self.respond, self.channel, self.thread_ts, campaign_id, ending)
        if self.undo is not None and reply_ts is not None and isinstance(ending, truedy.Resumed):
            # A digest is drawn again from its rows as they change: the offer goes under the row's result instead.
            shown = messages.result_details(campaign_id, ending)
            where = (self.channel, reply_ts, self.thread_ts)
            offered = self.undo.offered(
                self.request.workspace, campaign_id, self._name(), self.request.user_id, "digest", where, shown
            )
            update_message(self.client, self.channel, reply_ts, offered["text"], offered["blocks"])
        kind, line = row_after(self.request.user_id, ending)
        if kind != "failed":
            self.alerts.close(self.request.workspace, campaign_id)
        self._show(kind, line)

    def _name(self) -> str | None:
        digest = self.digests.get(self.digest_id)
        rows = digest.rows if digest is not None else []
        return next((row.name for row in rows if row.campaign_id == self.request.campaign_id), None)

    def _show(self, kind: str, line: str) -> None:
        self.digests.set_row(self.digest_id, self.request.campaign_id, kind, line)
        render_digest(self.client, self.digests, self.digest_id, self.per_minute)
