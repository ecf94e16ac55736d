"""One resume per campaign and workspace at a time, across every worker sharing the database.

A claim is a row with an owner token. Its holder keeps it alive (`refresh_held`, every few seconds, for as
long as the resume is queued or running) and is the only one that can release it; a claim whose worker
died expires after LOCK_TTL and can then be taken by anyone. Expiry is timed by the database's clock, so a
worker whose own clock runs ahead cannot take a live claim.
"""

import logging
import secrets
import threading
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, Engine, and_, delete, select
from sqlalchemy.exc import SQLAlchemyError

from bot.storage import (
    database_clock,
    database_now,
    insert_if_absent,
    of_workspace,
    of_workspaces,
    reading,
    resume_locks,
    utc,
)
from bot.storage.workspace_settings import WorkspaceId

log = logging.getLogger("bot.inflight")

# How long a campaign stays blocked after the worker holding it died.
LOCK_TTL = timedelta(seconds=60)
# Held claims are refreshed this often, so a live holder never lets its claim expire.
REFRESH_SECONDS = 10.0


@dataclass(frozen=True)
class Claim:
    enterprise_id: str
    team_id: str
    campaign_id: str
    user_id: str
    owner: str


@dataclass(frozen=True)
class ShownAt:
    """Where a resume shows as under way: the command's announcement, the clicked alert, or a digest."""

    kind: Literal["announcement", "alert", "digest"]
    channel: str
    ts: str


@dataclass(frozen=True)
class Abandoned:
    """A claim whose worker died mid-resume (it expired, by the database's clock), and where it shows."""

    enterprise_id: str
    team_id: str
    campaign_id: str
    user_id: str
    via: str
    shown_at: ShownAt
    owner: str


@dataclass(frozen=True)
class AlreadyResuming:
    """Someone's resume of the same campaign in the same workspace is still in flight."""

    user_id: str
    since: datetime


class InFlightResumes:
    def __init__(self, engine: Engine, ttl: timedelta = LOCK_TTL):
        self._engine = engine
        self._ttl = ttl
        self._held: set[Claim] = set()
        self._held_lock = threading.Lock()

    def claim(self, enterprise_id: str, team_id: str, campaign_id: str, user_id: str) -> Claim | AlreadyResuming:
        """The claim when the caller now holds the campaign, else who already does."""
        claim = Claim(enterprise_id, team_id, campaign_id, user_id, secrets.token_hex(16))
        holder = self._take(claim)
        if holder is None:
            with self._held_lock:
                self._held.add(claim)
            return claim
        return holder

    def hold(self, claim: Claim) -> AlreadyResuming | None:
        """Make sure `claim` is still held, refreshed from now (taking it back if it expired and nobody else
        took it); else who holds the campaign instead. Called when the resume actually starts."""
        with self._engine.begin() as connection:
            refreshed = connection.execute(
                resume_locks.update()
                .where(_is(claim), resume_locks.c.owner == claim.owner)
                .values(expires_at=database_now(connection) + self._ttl)
            )
        if refreshed.rowcount == 1:
            return None
        return self._take(claim)

    def refresh_held(self) -> None:
        """Extend every claim this process holds (queued or running resumes): one statement."""
        with self._held_lock:
            owners = [claim.owner for claim in self._held]
        if not owners:
            return
        with self._engine.begin() as connection:
            connection.execute(
                resume_locks.update()
                .where(resume_locks.c.owner.in_(owners))
                .values(expires_at=database_now(connection) + self._ttl)
            )

    def keep_alive(self, stop: threading.Event) -> None:
        """Run `refresh_held` every REFRESH_SECONDS until `stop` is set (a thread of the worker's)."""
        while not stop.wait(REFRESH_SECONDS):
            try:
                self.refresh_held()
            except SQLAlchemyError:
                log.exception("resume locks not refreshed", extra={"fields": {"event": "lock_refresh_failed"}})

    def shown(self, claim: Claim, via: str, shown_at: ShownAt) -> None:
        """Record where the resume shows as under way, for whoever ends it if this worker dies."""
        with self._engine.begin() as connection:
            connection.execute(
                resume_locks.update()
                .where(_is(claim), resume_locks.c.owner == claim.owner)
                .values(shown_as=shown_at.kind, shown_channel=shown_at.channel, shown_ts=shown_at.ts, via=via)
            )

    def abandoned(self, most: int = 50) -> list[Abandoned]:
        """Claims whose worker died, oldest first, that show somewhere as under way."""
        with self._engine.connect() as connection:
            query = (
                select(resume_locks)
                .where(resume_locks.c.expires_at < database_now(connection), resume_locks.c.shown_as.is_not(None))
                .order_by(resume_locks.c.expires_at)
                .limit(most)
            )
            rows = connection.execute(query).mappings().all()
        return [
            Abandoned(
                row["enterprise_id"],
                row["team_id"],
                row["campaign_id"],
                row["user_id"],
                row["via"] or "button",
                ShownAt(row["shown_as"], row["shown_channel"], row["shown_ts"]),
                row["owner"],
            )
            for row in rows
        ]

    def take_abandoned(self, left: Abandoned) -> bool:
        """Remove that claim, if it is still the one left behind; True for the one process that did."""
        with self._engine.begin() as connection:
            taken = connection.execute(
                delete(resume_locks).where(
                    of_workspace(resume_locks, left),
                    resume_locks.c.campaign_id == left.campaign_id,
                    resume_locks.c.owner == left.owner,
                    resume_locks.c.expires_at < database_now(connection),
                )
            )
            return taken.rowcount == 1

    def release(self, claim: Claim) -> None:
        """Only this claim's own row: a claim that expired and was taken by someone else stays theirs."""
        with self._held_lock:
            self._held.discard(claim)
        with self._engine.begin() as connection:
            connection.execute(delete(resume_locks).where(_is(claim), resume_locks.c.owner == claim.owner))

    def busy_among(self, wanted: Collection[WorkspaceId], connection: Connection | None = None) -> set[WorkspaceId]:
        """Those of `wanted` where someone is resuming a campaign right now, in one query."""
        if not wanted:
            return set()
        with reading(self._engine, connection) as connection:
            query = select(resume_locks.c.enterprise_id, resume_locks.c.team_id).where(
                of_workspaces(resume_locks, wanted), resume_locks.c.expires_at >= database_clock(connection)
            )
            return {WorkspaceId(*row) for row in connection.execute(query.distinct())}

    def _take(self, claim: Claim) -> AlreadyResuming | None:
        # Two statements on the common path (the clock, the insert): it runs for every resume.
        for _ in range(3):
            with self._engine.begin() as connection:
                now = database_now(connection)
                row = {
                    "enterprise_id": claim.enterprise_id,
                    "team_id": claim.team_id,
                    "campaign_id": claim.campaign_id,
                    "user_id": claim.user_id,
                    "owner": claim.owner,
                    "started_at": now,
                    "expires_at": now + self._ttl,
                }
                if insert_if_absent(connection, resume_locks, row):
                    return None
                holder = connection.execute(select(resume_locks).where(_is(claim)).with_for_update()).mappings().first()
                if holder is None:
                    continue  # released in between: try again
                if holder["owner"] == claim.owner:
                    return None
                # A dead worker's claim that shows as under way somewhere is the sweep's to end (bot.runners.abandoned,
                # within seconds): taking it here would leave that message saying "Resuming…" for good.
                if (utc(holder["expires_at"]) or now) >= now or holder["shown_as"] is not None:
                    return AlreadyResuming(holder["user_id"], utc(holder["started_at"]) or now)
                # Left by a worker that died: remove that claim (and only that one), then try again.
                connection.execute(delete(resume_locks).where(_is(claim), resume_locks.c.owner == holder["owner"]))
        return AlreadyResuming("", now)  # taken and released three times over in between: someone is at it


def _is(claim: Claim):
    return and_(of_workspace(resume_locks, claim), resume_locks.c.campaign_id == claim.campaign_id)
