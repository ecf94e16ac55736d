"""The ends of Pause again that no click gives (bot.storage.pause_again): an offer whose minutes ran out loses
its button (Pause all again's too, under a resume-all's summary); a pause whose process died is offered again
when it was never sent, and said "may have been paused" in its thread when it may have been (never sent again).
Each is taken by one process, by the database's clock."""

import logging
import threading
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.slack import pause_again, resume_all_requests
from bot.slack.blocks import pause_blocks
from bot.slack.replies import log_refusal
from bot.storage.audit import AuditLog
from bot.storage.pause_again import PauseOffer, PauseOffers
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.workspace_settings import WorkspaceId

log = logging.getLogger("bot.pause_offers")

# How often every process looks: two indexed queries, whatever the number of offers. A button stays at most this
# much past its minutes (a click then is refused, by the database's clock, and takes it away at once).
SWEEP_SECONDS = 5.0


class PauseOfferSweeps:
    def __init__(
        self,
        offers: PauseOffers,
        audit: AuditLog,
        slack_for: Callable[[WorkspaceId], WebClient | None],
        jobs: ResumeAllJobs | None = None,
    ):
        self._offers = offers
        self._audit = audit
        self._slack_for = slack_for
        self._jobs = jobs  # resume-alls offering Pause all again

    def keep_sweeping(self, stop: threading.Event) -> None:
        """Sweep at once (the start after a crash), then every SWEEP_SECONDS until `stop` is set."""
        while True:
            try:
                self.sweep()
            except Exception:
                log.exception("sweeping pause offers failed", extra={"fields": {"event": "sweep_failed"}})
            if stop.wait(SWEEP_SECONDS):
                return

    def sweep(self) -> None:
        # This process's own pauses first: however long Truedy takes, they are never taken for dead ones.
        self._offers.renew_held()
        self._offers.retry_unrecorded()
        for offer in self._offers.expired():
            if self._offers.withdraw_expired(offer):
                self._show(offer, offer.shown)
        for job in self._jobs.withdraw_expired_undos() if self._jobs is not None else ():
            if (slack := self._slack_for(job.workspace)) is not None:
                resume_all_requests.show_summary(self._jobs, job, slack)
        for offer in self._offers.dead():
            if offer.state == "taken" and self._offers.hand_back_dead(offer):
                self._show(offer, pause_blocks.with_offer(offer.shown, offer))  # withdrawn next, if its time is up
            elif offer.state == "sending" and self._offers.end_dead(offer):
                pause_again.record(
                    self._audit, offer.workspace, offer.campaign_id, offer.taken_by or "", "interrupted", None, None
                )
                log.warning(
                    "a pause whose process died is ended as unknown",
                    extra={"fields": {"event": "pause_interrupted", "team": offer.workspace.team_id}},
                )
                slack = self._slack_for(offer.workspace)
                if slack is not None:
                    told = pause_blocks.stopped_while_pausing(offer)
                    try:
                        slack.chat_postMessage(channel=offer.channel, thread_ts=offer.thread_ts, **told)
                    except SlackApiError as error:
                        log_refusal("pause_again", error)
                    pause_again.show(slack, offer, offer.shown)

    def _show(self, offer: PauseOffer, message: dict) -> None:
        slack = self._slack_for(offer.workspace)
        if slack is not None:  # uninstalled meanwhile: nowhere to show it
            pause_again.show(slack, offer, message)
