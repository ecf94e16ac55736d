"""Pause again: the undo of a resume. Every successful resume of the command, the alert's button, the list, a
digest's row (under its result in the digest's thread) and a schedule shows **Pause again** on its final message
for UNDO_MINUTES (bot.slack.undo); a click (confirmed in Slack's dialog)
pauses the campaign with the workspace's own key, once, as the person who clicked, if they may resume here.

The offer is a row (bot.storage.pause_again has its states and moves): a click takes it, its request's leaving
is recorded before it leaves, and its ending is kept, so that a second click, a crash or the offer's minutes
running out are each told apart. The pause takes the campaign's claim as a resume does: a pause and a resume
of one campaign never cross.

Truedy's guide documents pause (from running or scheduled; calls already placed finish) but not its answers:
bot.truedy.TruedyClient.pause treats them as resume's are.
"""

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from http.client import HTTPException

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import resume, truedy
from bot.resume import BotFailure
from bot.services import Services
from bot.slack.blocks import alert_blocks, messages, pause_blocks
from bot.slack.blocks.messages import Message
from bot.slack.digest_message import render_digest
from bot.slack.permissions import may_resume
from bot.slack.replies import DirectMessage, log_refusal, update_message
from bot.storage.audit import AuditEntry, AuditLog
from bot.storage.inflight import AlreadyResuming, InFlightResumes
from bot.storage.pause_again import NotTaken, PauseOffer, Taken
from bot.storage.reminders import remind_after
from bot.storage.workspace_settings import WorkspaceId, Workspaces

log = logging.getLogger("bot.pause_again")

VIA = "pause_again"  # in the audit trail: "paused again by @bob"


def pause_again(
    services: Services, workspace: WorkspaceId, user_id: str, value: str, client: WebClient, respond: Respond
) -> None:
    """A confirmed click on Pause again: checked, then the one pause; what changed nothing is said privately."""
    if not re.fullmatch(r"[0-9]{1,18}", value):
        respond(**messages.invalid_button(value), replace_original=False)
        return
    if not may_resume(services, workspace, user_id, client, respond, replace_original=False):
        return
    settings = services.workspaces.get(workspace)
    if settings is None or settings.api_key is None:
        respond(**messages.workspace_not_configured(), replace_original=False)
        return
    taken = services.pause_offers.take(workspace, int(value), user_id)
    if isinstance(taken, NotTaken):
        respond(**pause_blocks.not_taken(taken), replace_original=False)
        if taken.expired and taken.offer is not None and services.pause_offers.withdraw_expired(taken.offer):
            show(client, taken.offer, taken.offer.shown)  # the sweep would, a few seconds later
        return
    offer = taken.offer
    claim = services.in_flight.claim(workspace.enterprise_id, workspace.team_id, offer.campaign_id, user_id)
    if isinstance(claim, AlreadyResuming):
        services.pause_offers.hand_back(taken)
        respond(**pause_blocks.someone_else_is_changing_it(claim, offer.campaign_id), replace_original=False)
        return
    try:
        _pause(
            services, settings.api_key, taken, user_id, client, respond, remind_after(settings, services.remind_after)
        )
    finally:
        services.in_flight.release(claim)


def _pause(
    services: Services,
    api_key: str,
    taken: Taken,
    user_id: str,
    client: WebClient,
    respond: Respond,
    after: timedelta = timedelta(0),
) -> None:
    """`after`: how long after the pause its reminders start (zero: the workspace has none)."""
    offer, offers = taken.offer, services.pause_offers
    show(client, offer, pause_blocks.pausing(offer.shown, user_id))
    reopened = _reopen(services, offer)
    if not offers.start_sending(taken):
        _close(services, offer, reopened)
        return  # its lease ran out meanwhile: the sweep hands it back, and nothing was sent
    started = time.monotonic()
    outcome: truedy.Paused | truedy.TruedyError
    try:
        outcome = services.truedy.pause(api_key, offer.campaign_id)
    except truedy.TruedyError as error:
        outcome = error
    except Exception:
        log.exception("pause failed inside the bot", extra={"fields": {"event": "pause_failed"}})
        outcome = BotFailure("the bot failed while pausing")
    latency_ms = round((time.monotonic() - started) * 1000)
    name = outcome_name(outcome)
    record(services.audit, offer.workspace, offer.campaign_id, user_id, name, outcome.request_id, latency_ms)
    if isinstance(outcome, truedy.RateLimited | truedy.TruedyUnreachable):
        # Nothing was done: offered again, as it was, and the clicker told why.
        offers.hand_back(taken, leaving="sending")
        _close(services, offer, reopened)
        show(client, offer, pause_blocks.with_offer(offer.shown, offer))
        respond(**pause_blocks.not_sent(offer, outcome), replace_original=False)
        return
    unknown = isinstance(outcome, truedy.TruedyError) and outcome.outcome_unknown
    try:
        offers.end(taken, name, unknown)
    except SQLAlchemyError:  # what Truedy said is worth more than its record: said anyway, and recorded later
        log.exception("pause again not recorded", extra={"fields": {"event": "database_error"}})
        offers.keep_trying(taken, partial(offers.end, taken, name, unknown))
    _tell_thread(client, offer, pause_blocks.result(offer, user_id, outcome), user_id)
    if isinstance(outcome, truedy.Paused):
        _show_paused(services, api_key, offer, user_id, client, after)
    else:
        _close(services, offer, reopened)
        show(client, offer, offer.shown)


def _show_paused(
    services: Services, api_key: str, offer: PauseOffer, user_id: str, client: WebClient, after: timedelta
) -> None:
    """An alert goes back to its paused state with its Resume button (and is the open alert of this pause again,
    for the watcher); another message says who paused it again, and the watcher alerts the pause as any other."""
    now = datetime.now(UTC)
    state = pause_blocks.paused_again_state(user_id, now)
    if offer.kind == "digest":
        # The row in the digest (the thread the offer is in) is paused again, with Resume; and its alert again.
        show(client, offer, pause_blocks.paused_again_summary(offer.shown, user_id, now))
        digest_id = services.digests.find(offer.workspace, offer.channel, offer.thread_ts)
        if digest_id is not None:
            services.digests.set_row(digest_id, offer.campaign_id, "paused", state)
            render_digest(client, services.digests, digest_id, services.resume_all_per_minute)
            if after > timedelta(0):
                services.reminders.restart(offer.workspace, offer.channel, offer.thread_ts, after, digest_id=digest_id)
        return
    if offer.kind != "alert":
        show(client, offer, pause_blocks.paused_again_summary(offer.shown, user_id, now))
        return
    try:
        campaign = services.truedy.get_campaign(api_key, offer.campaign_id)
    except truedy.TruedyError:  # shown without its progress: the Resume button is what matters
        campaign = truedy.Campaign(offer.campaign_id, offer.campaign_name, "paused", *([None] * 7))
    shown = alert_blocks.alert(campaign, services.dashboard_url, snooze=after > timedelta(0))["blocks"]
    blocks = alert_blocks.with_state(shown, state, offer_resume=True)
    show(client, offer, {"text": alert_blocks.state_text(offer.campaign_id, state), "blocks": blocks})
    if after > timedelta(0):  # a pause like any other: reminded if nobody handles it
        services.reminders.restart(
            offer.workspace, offer.channel, offer.message_ts, after, campaign_id=offer.campaign_id
        )


def _reopen(services: Services, offer: PauseOffer) -> bool:
    """From an alert (or a digest's row), before the pause leaves: the alert (the digest) is this pause's alert
    again, so that a poll meanwhile does not alert it anew. False for other messages (the watcher alerts their
    pause as any other), and when another alert already holds the campaign's record."""
    if offer.kind not in ("alert", "digest"):
        return False
    message_ts = offer.message_ts if offer.kind == "alert" else offer.thread_ts  # a digest's row: the digest
    try:
        return services.alerts.reopen(offer.workspace, offer.campaign_id, offer.channel, message_ts)
    except SQLAlchemyError:
        log.exception("alert not reopened", extra={"fields": {"event": "database_error"}})
        return False


def _close(services: Services, offer: PauseOffer, reopened: bool) -> None:
    """Not paused again after all: the record reopened for it is closed again, as the resume left it."""
    if reopened:
        try:
            services.alerts.close(offer.workspace, offer.campaign_id)
        except SQLAlchemyError:
            log.exception("alert not closed again", extra={"fields": {"event": "database_error"}})


# Slack out of reach for one call (slack_sdk's urllib raises these): the pause's other steps still happen.
_UNREACHABLE = (OSError, HTTPException)


def show(client: WebClient, offer: PauseOffer, message: Message) -> None:
    """The offer's message as it should read now."""
    try:
        update_message(client, offer.channel, offer.message_ts, message["text"], message["blocks"])
    except _UNREACHABLE:
        log.warning("pause again's message not updated", extra={"fields": {"event": "slack_unreachable"}})


def _tell_thread(client: WebClient, offer: PauseOffer, message: Message, user_id: str) -> None:
    try:
        client.chat_postMessage(channel=offer.channel, thread_ts=offer.thread_ts, **message)
    except (SlackApiError, *_UNREACHABLE) as error:
        if isinstance(error, SlackApiError):
            log_refusal("pause_again", error)
        try:
            DirectMessage(client, user_id)(**message)
        except (SlackApiError, *_UNREACHABLE):
            log.warning("pause again's result not told", extra={"fields": {"event": "slack_unreachable"}})


def record(
    audit: AuditLog,
    workspace: WorkspaceId,
    campaign_id: str,
    user_id: str,
    outcome: str,
    request_id: str | None,
    latency_ms: int | None,
) -> None:
    entry = AuditEntry(datetime.now(UTC), user_id, campaign_id, VIA, outcome, request_id, latency_ms)
    log.info(
        "pause again attempt",
        extra={
            "fields": {
                "event": "pause_attempt",
                "team": workspace.team_id,
                "user": user_id,
                "campaign": campaign_id,
                "outcome": outcome,
                "truedy_request_id": request_id,
                "latency_ms": latency_ms,
            }
        },
    )
    try:
        audit.record(workspace.enterprise_id, workspace.team_id, entry)
    except SQLAlchemyError:
        log.exception("audit entry not saved", extra={"fields": {"event": "audit_failed", "outcome": outcome}})


@dataclass(frozen=True)
class PauseAll:
    """Pause all again's pause of one campaign (bot.runners.resume_all runs the job): under the campaign's claim,
    with the workspace's own key read now, audited as any Pause again ("paused again by @bob")."""

    truedy: truedy.TruedyClient
    workspaces: Workspaces
    in_flight: InFlightResumes
    audit: AuditLog

    def pause(
        self, workspace: WorkspaceId, user_id: str, campaign_id: str
    ) -> truedy.Paused | truedy.TruedyError | AlreadyResuming | None:
        """What Truedy said, or who holds the campaign (nothing sent), or None: the workspace has no key."""
        settings = self.workspaces.get(workspace)
        if settings is None or settings.api_key is None:
            return None
        claim = self.in_flight.claim(workspace.enterprise_id, workspace.team_id, campaign_id, user_id)
        if isinstance(claim, AlreadyResuming):
            return claim
        try:
            started = time.monotonic()
            outcome: truedy.Paused | truedy.TruedyError
            try:
                outcome = self.truedy.pause(settings.api_key, campaign_id)
            except truedy.TruedyError as error:
                outcome = error
            except Exception:
                log.exception("pause failed inside the bot", extra={"fields": {"event": "pause_failed"}})
                outcome = BotFailure("the bot failed while pausing")
            latency_ms = round((time.monotonic() - started) * 1000)
            record(self.audit, workspace, campaign_id, user_id, outcome_name(outcome), outcome.request_id, latency_ms)
            return outcome
        finally:
            try:
                self.in_flight.release(claim)
            except SQLAlchemyError:  # the claim expires by itself; the outcome is recorded already
                log.exception("pause lock not released", extra={"fields": {"event": "release_failed"}})


def outcome_name(outcome: truedy.Paused | truedy.TruedyError) -> str:
    """`paused`, or the error's type in snake case (`not_pausable`, `rate_limited`, ...)."""
    return "paused" if isinstance(outcome, truedy.Paused) else resume.outcome_name(outcome)
