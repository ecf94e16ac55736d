"""The one resume use-case, shared by the slash command and the alert button."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot import metrics
from bot.authorization import Authorizer, MembershipUnknown
from bot.storage.audit import AuditEntry, AuditLog
from bot.storage.inflight import AlreadyResuming, Claim, InFlightResumes, ShownAt
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import WorkspaceId, Workspaces, WorkspaceSettings
from bot.truedy import RateLimited, Resumed, TruedyClient, TruedyError
from bot.truedy.campaign_id import CampaignId

log = logging.getLogger("bot.resume")

ResumeOutcome = Resumed | TruedyError


@dataclass(frozen=True)
class ResumeRequest:
    team_id: str
    user_id: str
    campaign_id: CampaignId
    via: Literal["command", "button", "list", "resume_all", "schedule", "workflow"]
    enterprise_id: str = ""
    workflow: str | None = None  # via "workflow": the Workflow Builder run's execution id
    # A workflow run with no person Slack vouches for (a scheduled trigger): `user_id` only names someone (or is
    # ""), and grants nothing; such a run resumes where resumes are restricted only if an admin allowed
    # unattended runs (`allowed_by`, as setup had it when the run was admitted).
    unattended: bool = False
    allowed_by: str | None = None

    @property
    def workspace(self) -> WorkspaceId:
        return WorkspaceId(self.enterprise_id, self.team_id)


@dataclass(frozen=True)
class NotConnected:
    """The workspace has no Truedy key (`key_unreadable`: it has one that can no longer be decrypted)."""

    key_unreadable: bool = False


@dataclass(frozen=True)
class NotAllowed:
    """The workspace restricts resumes to others; `settings` names them."""

    settings: WorkspaceSettings


@dataclass(frozen=True)
class UnattendedNotAllowed:
    """A workflow run with no person (a scheduled trigger) in a workspace that restricts resumes, where no admin
    allowed unattended runs; `settings` names who may resume."""

    settings: WorkspaceSettings


@dataclass(frozen=True)
class CannotCheck:
    """Slack is rate-limiting the check of who may resume here: try again in `retry_after` seconds."""

    retry_after: int


Refusal = NotConnected | NotAllowed | UnattendedNotAllowed | CannotCheck | AlreadyResuming


@dataclass(frozen=True)
class NotStarted:
    """The bot was stopping before this resume's turn came (or a scheduled resume's lease went to another
    process meanwhile): nothing was sent to Truedy."""


class BotFailure(TruedyError):
    """The bot itself failed once the request may have left for Truedy: whether Truedy resumed is unknown."""

    outcome_unknown = True


class Interrupted(TruedyError):
    """The bot was stopping before Truedy answered: whether Truedy resumed is unknown."""

    outcome_unknown = True


class NotSent(TruedyError):
    """The bot failed before asking Truedy (the database, a key removed meanwhile): nothing was sent, so nothing
    was resumed. `detail` says what failed, for the headline."""


class WorkspaceNotConfigured(Exception):
    def __init__(self, team_id: str):
        super().__init__(f"no Truedy API key for workspace {team_id}")
        self.team_id = team_id


class ResumeService:
    """Resumes with the requesting workspace's own key, one resume per campaign and workspace at a time,
    each attempt logged and audited.

    `admit()` comes first, when the request is checked, and claims the campaign; `resume()` later, when a
    resume thread is free. Whoever admitted releases the claim once the result is shown.
    """

    def __init__(
        self,
        truedy: TruedyClient,
        workspaces: Workspaces,
        authorizer: Authorizer,
        in_flight: InFlightResumes,
        audit: AuditLog,
        poll_schedule: PollSchedule,
    ):
        self._truedy = truedy
        self._workspaces = workspaces
        self._authorizer = authorizer
        self._in_flight = in_flight
        self._audit = audit
        self._poll_schedule = poll_schedule

    def admit(self, request: ResumeRequest, slack: WebClient) -> Claim | Refusal:
        """The claim when the request may go ahead and now holds the campaign; else why not (audited)."""
        refusal = self.refusal(request.workspace, request.user_id, slack, unattended=request.unattended)
        if refusal is not None:
            if isinstance(refusal, NotAllowed | UnattendedNotAllowed | CannotCheck):
                self.record_refusal(request, "cannot_check" if isinstance(refusal, CannotCheck) else "not_allowed")
            return refusal
        return self.claim(request)

    def refusal(
        self, workspace: WorkspaceId, user_id: str, slack: WebClient, unattended: bool = False
    ) -> NotConnected | NotAllowed | UnattendedNotAllowed | CannotCheck | None:
        """Why this person may not resume in this workspace, or None if they may. `unattended`: a workflow run
        with no person (`user_id` grants nothing then): only the workspace's setup decides."""
        settings = self._workspaces.get(workspace)
        if settings is None or settings.api_key is None:
            return NotConnected(key_unreadable=settings is not None and settings.secrets_unreadable)
        if unattended:
            allowed = not settings.restricted or settings.unattended_allowed_by is not None
            return None if allowed else UnattendedNotAllowed(settings)
        try:
            if not self._authorizer.may_resume(settings, user_id, slack):
                return NotAllowed(settings)
        except MembershipUnknown as limited:
            return CannotCheck(limited.retry_after)
        return None

    def claim(self, request: ResumeRequest) -> Claim | AlreadyResuming:
        claimed = self._in_flight.claim(request.enterprise_id, request.team_id, request.campaign_id, request.user_id)
        if isinstance(claimed, AlreadyResuming):
            self.record_refusal(request, "already_in_flight")
        return claimed

    def release(self, claim: Claim) -> None:
        self._in_flight.release(claim)

    def shown(self, claim: Claim, via: str, shown_at: ShownAt) -> None:
        self._in_flight.shown(claim, via, shown_at)

    def resume(
        self, request: ResumeRequest, claim: Claim, before_sending: Callable[[], bool] | None = None
    ) -> ResumeOutcome | AlreadyResuming | NotStarted:
        """Resume, if `claim` still holds the campaign now that the resume starts (it may have waited in the
        queue); else who holds it instead, and nothing is sent. `before_sending` runs just before the request
        leaves (a scheduled resume records that moment): False, and nothing is sent (NotStarted).

        A failure of the bot's own before the request leaves is NotSent (nothing was resumed); once it may
        have left, BotFailure (whether Truedy resumed is unknown). WorkspaceNotConfigured: the key was removed
        since the request was admitted."""
        try:
            if holder := self._in_flight.hold(claim):
                self.record_refusal(request, "already_in_flight")
                return holder
            # Read now, not when the request arrived: a key saved in between by any worker is used.
            settings = self._workspaces.get(request.workspace)
            # Only the requesting workspace's own key, never a fallback to another workspace's.
            if settings is None or settings.api_key is None:
                raise WorkspaceNotConfigured(request.team_id)
            if before_sending is not None and not before_sending():
                return NotStarted()
        except WorkspaceNotConfigured:
            raise
        except Exception:
            log.exception("resume failed before asking Truedy", extra={"fields": {"event": "resume_not_sent"}})
            self.record_refusal(request, "not_sent")
            return NotSent("the bot failed before it asked Truedy")
        return self._resume(request, settings.api_key)

    def record_refusal(self, request: ResumeRequest, reason: str) -> None:
        """An attempt that ended without Truedy's answer (not allowed, already in flight, not started,
        interrupted by a shutdown): logged and audited like the others."""
        self._record(request, reason, None, None, unknown=reason in metrics.UNKNOWN_WITHOUT_ANSWER)

    def _resume(self, request: ResumeRequest, api_key: str) -> ResumeOutcome:
        """The request to Truedy and its answer. Whatever fails after it may have left is BotFailure; the
        answer is kept whatever happens to its records."""
        started = time.monotonic()
        outcome: ResumeOutcome
        try:
            outcome = self._truedy.resume(api_key, request.campaign_id)
        except TruedyError as error:
            outcome = error
        except Exception:
            log.exception("resume failed inside the bot", extra={"fields": {"event": "resume_failed"}})
            outcome = BotFailure("the bot failed while resuming")
        if isinstance(outcome, RateLimited):
            # Polling waits for the limit to reset, so that the requests left go to people's resumes.
            try:
                self._poll_schedule.defer(request.workspace, outcome.wait())
            except SQLAlchemyError:
                log.exception("polling not deferred", extra={"fields": {"event": "defer_failed"}})
        latency_ms = round((time.monotonic() - started) * 1000)
        unknown = isinstance(outcome, TruedyError) and outcome.outcome_unknown
        self._record(request, outcome_name(outcome), outcome.request_id, latency_ms, unknown)
        return outcome

    def _record(
        self, request: ResumeRequest, outcome: str, request_id: str | None, latency_ms: int | None, unknown: bool
    ) -> None:
        metrics.resume_attempted(request.via, outcome, unknown)
        log.info(
            "resume attempt",
            extra={
                "fields": {
                    "event": "resume_attempt",
                    "team": request.team_id,
                    "user": request.user_id,
                    "campaign": request.campaign_id,
                    "via": request.via,
                    "workflow": request.workflow,
                    "outcome": outcome,
                    "truedy_request_id": request_id,
                    "latency_ms": latency_ms,
                }
            },
        )
        entry = AuditEntry(
            datetime.now(UTC),
            request.user_id,
            request.campaign_id,
            request.via,
            outcome,
            request_id,
            latency_ms,
            request.workflow,
            request.unattended,
            request.allowed_by,
        )
        try:
            self._audit.record(request.enterprise_id, request.team_id, entry)
        except SQLAlchemyError:
            # What happened on Truedy matters more than its record: report it anyway, say the record is missing.
            log.exception("audit entry not saved", extra={"fields": {"event": "audit_failed", "outcome": outcome}})


def outcome_name(outcome: ResumeOutcome) -> str:
    """`resumed`, or the error's type in snake case (`not_resumable`, `key_rejected`, ...)."""
    if isinstance(outcome, Resumed):
        return "resumed"
    name = type(outcome).__name__
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name).lstrip("_")
