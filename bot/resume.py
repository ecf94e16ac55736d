"""The one resume use-case, shared by the slash command and the alert button."""

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from bot.campaign_id import CampaignId
from bot.truedy import Resumed, TruedyClient, TruedyError

log = logging.getLogger("bot.resume")

ResumeOutcome = Resumed | TruedyError


@dataclass(frozen=True)
class ResumeRequest:
    team_id: str
    user_id: str
    campaign_id: CampaignId
    via: Literal["command", "button"]


class WorkspaceNotConfigured(Exception):
    def __init__(self, team_id: str):
        super().__init__(f"no Truedy API key for workspace {team_id}")
        self.team_id = team_id


@dataclass(frozen=True)
class AlreadyResuming:
    """Someone's resume of the same campaign in the same workspace is still in flight."""

    user_id: str
    since: datetime


class ResumeService:
    """Resumes with the requesting workspace's own key, one resume per campaign and workspace at a time.

    `claim()` is called while the request is being acknowledged, `resume()` later in the background; it
    ends the claim whatever happens, and `release()` ends one whose resume will not run.
    """

    def __init__(self, truedy: TruedyClient, keys_by_team: Mapping[str, str]):
        self._truedy = truedy
        self._keys_by_team = dict(keys_by_team)
        self._in_flight: dict[tuple[str, str], AlreadyResuming] = {}
        self._in_flight_lock = threading.Lock()

    def serves(self, team_id: str) -> bool:
        return team_id in self._keys_by_team

    def claim(self, request: ResumeRequest) -> AlreadyResuming | None:
        """None when the request now holds the campaign, else who already does."""
        key = (request.team_id, request.campaign_id)
        with self._in_flight_lock:
            holder = self._in_flight.get(key)
            if holder is None:
                self._in_flight[key] = AlreadyResuming(request.user_id, datetime.now(UTC))
            return holder

    def release(self, request: ResumeRequest) -> None:
        with self._in_flight_lock:
            self._in_flight.pop((request.team_id, request.campaign_id), None)

    def resume(self, request: ResumeRequest) -> ResumeOutcome:
        try:
            return self._resume(request)
        finally:
            self.release(request)

    def _resume(self, request: ResumeRequest) -> ResumeOutcome:
        # Only the requesting workspace's own key, never a fallback to another workspace's.
        api_key = self._keys_by_team.get(request.team_id)
        if api_key is None:
            raise WorkspaceNotConfigured(request.team_id)
        started = time.monotonic()
        outcome: ResumeOutcome
        try:
            outcome = self._truedy.resume(api_key, request.campaign_id)
        except TruedyError as error:
            outcome = error
        log.info(
            "resume attempt",
            extra={
                "fields": {
                    "event": "resume_attempt",
                    "team": request.team_id,
                    "user": request.user_id,
                    "campaign": request.campaign_id,
                    "via": request.via,
                    "outcome": outcome_name(outcome),
                    "truedy_request_id": outcome.request_id,
                    "latency_ms": round((time.monotonic() - started) * 1000),
                }
            },
        )
        return outcome


def outcome_name(outcome: ResumeOutcome) -> str:
    """`resumed`, or the error's type in snake case (`not_resumable`, `key_rejected`, ...)."""
    if isinstance(outcome, Resumed):
        return "resumed"
    name = type(outcome).__name__
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in name).lstrip("_")
