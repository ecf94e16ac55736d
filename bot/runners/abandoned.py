"""Ending what a worker that died mid-resume (SIGKILL, out of memory) left saying "Resuming…".

A resume's claim records where it shows as under way. A claim that expired (its worker stopped refreshing
it) and still shows somewhere is taken by one process, which asks Truedy where the campaign stands and
shows the final state there: the announcement says the bot stopped before Truedy answered, and an alert or
a digest row gets its Resume button back if the campaign is still paused. Resume all's progress message
needs none of this: its job is taken over by the next worker (bot.runners.resume_all).
"""

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from slack_sdk import WebClient

from bot import truedy
from bot.resume import ResumeRequest, ResumeService
from bot.slack.blocks import alert_blocks, messages
from bot.slack.digest_message import render_digest
from bot.slack.replies import update_message
from bot.storage.alert_records import AlertRecords
from bot.storage.digests import AlertDigests
from bot.storage.inflight import Abandoned, InFlightResumes
from bot.storage.workspace_settings import WorkspaceId, Workspaces
from bot.truedy.campaign_id import CampaignId

log = logging.getLogger("bot.abandoned")

# How often every process looks for them: one indexed query, whatever the number of workspaces.
SWEEP_SECONDS = 5.0


class AbandonedResumes:
    def __init__(
        self,
        *,
        in_flight: InFlightResumes,
        resumes: ResumeService,
        workspaces: Workspaces,
        truedy_client: truedy.TruedyClient,
        slack_for: Callable[[WorkspaceId], WebClient | None],
        alerts: AlertRecords,
        digests: AlertDigests,
        dashboard_url: str | None,
        per_minute: int,
    ):
        self._in_flight = in_flight
        self._resumes = resumes
        self._workspaces = workspaces
        self._truedy = truedy_client
        self._slack_for = slack_for
        self._alerts = alerts
        self._digests = digests
        self._dashboard_url = dashboard_url
        self._per_minute = per_minute

    def keep_sweeping(self, stop: threading.Event) -> None:
        """Sweep at once (the start after a crash), then every SWEEP_SECONDS until `stop` is set."""
        while True:
            try:
                self.sweep()
            except Exception:
                log.exception("sweeping abandoned resumes failed", extra={"fields": {"event": "sweep_failed"}})
            if stop.wait(SWEEP_SECONDS):
                return

    def sweep(self) -> None:
        for left in self._in_flight.abandoned():
            try:
                campaign = self._campaign(left)
            except truedy.TruedyError:
                continue  # Truedy cannot say right now: the next sweep asks again
            if self._in_flight.take_abandoned(left):
                self._end(left, campaign)

    def _campaign(self, left: Abandoned) -> truedy.Campaign | None:
        """The campaign as Truedy has it now; None when it is gone or the workspace has no key any more."""
        settings = self._workspaces.get(WorkspaceId(left.enterprise_id, left.team_id))
        if settings is None or settings.api_key is None:
            return None
        try:
            return self._truedy.get_campaign(settings.api_key, left.campaign_id)
        except truedy.CampaignNotFound:
            return None

    def _end(self, left: Abandoned, campaign: truedy.Campaign | None) -> None:
        workspace = WorkspaceId(left.enterprise_id, left.team_id)
        via = left.via if left.via in ("command", "button", "list") else "button"
        request = ResumeRequest(left.team_id, left.user_id, CampaignId(left.campaign_id), via, left.enterprise_id)  # type: ignore[arg-type]
        self._resumes.record_refusal(request, "interrupted")
        fields = {"event": "abandoned_resume_ended", "team": left.team_id, "campaign": left.campaign_id}
        log.warning("a resume whose worker died is ended where it showed", extra={"fields": fields})
        slack = self._slack_for(workspace)
        if slack is None:
            return
        still_paused = campaign is not None and campaign.status == "paused"
        where = left.shown_at
        if where.kind == "announcement":
            message = messages.abandoned(request, campaign.status if campaign else None)
            update_message(slack, where.channel, where.ts, message["text"], message["blocks"])
            return
        state = alert_blocks.abandoned_state(left.user_id, campaign, datetime.now(UTC))
        if not still_paused:
            self._alerts.close(workspace, left.campaign_id)
        if where.kind == "digest":
            digest_id = self._digests.find(workspace, where.channel, where.ts)
            if digest_id is not None:
                self._digests.set_row(digest_id, left.campaign_id, "paused" if still_paused else "over", state)
                render_digest(slack, self._digests, digest_id, self._per_minute)
            return
        shown = alert_blocks.alert(campaign, self._dashboard_url)["blocks"] if campaign is not None else []
        blocks = alert_blocks.with_state(shown, state, offer_resume=still_paused)
        update_message(slack, where.channel, where.ts, alert_blocks.state_text(left.campaign_id, state), blocks)
