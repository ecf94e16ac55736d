"""Pause again: offered under each successful resume for UNDO_MINUTES, and the one pause a click on it makes,
across every process sharing the database. Time is the database's clock.

States, and the moves between them (each an UPDATE that names the state it leaves):

    offered  --a click, within its minutes (take)--------------------------------> taken (owner, lease)
    offered  --its minutes ran out (withdraw_expired)-----------------------------> withdrawn
    taken    --just before the request leaves for Truedy (start_sending)---------> sending
    taken    --nothing was sent (hand_back: someone else's claim; or its process
               died: hand_back_dead)-----------------------------------------------> offered (withdrawn by the
                                                                                     sweep once its minutes ran out)
    sending  --nothing was done: Truedy could not be reached, or refused at its
               rate limit before doing anything (hand_back)-----------------------> offered
    sending  --Truedy answered (end)----------------------------------------------> paused | refused | unknown
                                                                                     (an answer that does not say)
    sending  --its process died before the answer (end_dead)---------------------> unknown: never sent again

A second click finds it taken (someone is pausing it), ended (paused already) or withdrawn (too late), and
changes nothing. The process that holds a pause renews its lease every sweep (`renew_held`, every few seconds)
however long Truedy takes, so only a dead process's pause is ever taken for dead; and a move the database would
not take (its connection lost just then) is kept and tried again (`retry_unrecorded`), under the same renewed
lease, rather than its truth replaced by a lease running out.
"""

import json
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, select
from sqlalchemy.exc import SQLAlchemyError

from bot.storage import database_now, of_workspace, pause_offers, utc
from bot.storage.workspace_settings import WorkspaceId

log = logging.getLogger("bot.pause_offers")
_C = pause_offers.c
# A pause's process renews nothing: one request (and, when refused, one read) fits in this with room to spare
# (Truedy's timeouts are at most 25 s each).
LEASE = timedelta(minutes=2)
ENDED = ("paused", "refused", "unknown")


@dataclass(frozen=True)
class PauseOffer:
    id: int
    workspace: WorkspaceId
    campaign_id: str
    campaign_name: str | None
    resumed_by: str
    kind: str
    channel: str
    message_ts: str
    thread_ts: str
    shown: dict[str, Any]  # the message without the offer: {"text", "blocks"}
    offered_until: datetime
    state: str
    taken_by: str | None
    outcome: str | None


@dataclass(frozen=True)
class Taken:
    """This process now holds the offer (`owner`): the pause is its to make."""

    offer: PauseOffer
    owner: str


@dataclass(frozen=True)
class NotTaken:
    """Why a click took nothing: `offer` as it stands (None: not this workspace's), and whether its minutes are
    over (by the database's clock)."""

    offer: PauseOffer | None
    expired: bool


class PauseOffers:
    def __init__(self, engine: Engine, lease: timedelta = LEASE):
        self._engine = engine
        self._lease = lease
        # This process's pauses under way (owner tokens), and the moves of theirs the database would not take yet.
        self._held: set[str] = set()
        self._unrecorded: dict[str, Callable[[], bool]] = {}
        self._held_lock = threading.Lock()

    def offer(
        self,
        workspace: WorkspaceId,
        campaign_id: str,
        campaign_name: str | None,
        resumed_by: str,
        kind: str,
        where: tuple[str, str, str],
        shown: dict[str, Any],
        minutes: int,
    ) -> PauseOffer:
        """A new offer on the message at `where` (channel, message ts, thread for results) for `minutes`."""
        channel, message_ts, thread_ts = where
        with self._engine.begin() as connection:
            now = database_now(connection)
            row = (
                connection.execute(
                    pause_offers.insert()
                    .values(
                        enterprise_id=workspace.enterprise_id,
                        team_id=workspace.team_id,
                        campaign_id=campaign_id,
                        campaign_name=(campaign_name or None) and campaign_name[:255],
                        resumed_by=resumed_by,
                        kind=kind,
                        channel=channel,
                        message_ts=message_ts,
                        thread_ts=thread_ts,
                        shown=json.dumps(shown),
                        offered_until=now + timedelta(minutes=minutes),
                        state="offered",
                        created_at=now,
                    )
                    .returning(pause_offers)
                )
                .mappings()
                .one()
            )
        return _offer(row)

    def take(self, workspace: WorkspaceId, offer_id: int, user_id: str) -> Taken | NotTaken:
        """The offer, now held by this process for `user_id`'s pause, if it is offered and within its minutes."""
        owner = secrets.token_hex(16)
        with self._engine.begin() as connection:
            now = database_now(connection)
            taken = (
                connection.execute(
                    pause_offers.update()
                    .where(
                        _C.id == offer_id,
                        of_workspace(pause_offers, workspace),
                        _C.state == "offered",
                        _C.offered_until > now,
                    )
                    .values(state="taken", owner=owner, lease_expires_at=now + self._lease, taken_by=user_id)
                    .returning(pause_offers)
                )
                .mappings()
                .first()
            )
            if taken is not None:
                with self._held_lock:
                    self._held.add(owner)
                return Taken(_offer(taken), owner)
            row = (
                connection.execute(select(pause_offers).where(_C.id == offer_id, of_workspace(pause_offers, workspace)))
                .mappings()
                .first()
            )
        found = _offer(row) if row is not None else None
        return NotTaken(found, found is not None and found.offered_until <= now)

    def start_sending(self, taken: Taken) -> bool:
        """Record that the pause is about to leave for Truedy; False if this process no longer holds it."""
        return self._move(taken, "taken", state="sending", sending_at=_clock)

    def hand_back(self, taken: Taken, leaving: str = "taken") -> bool:
        """Nothing was done: offered again (withdrawn by the sweep once its minutes ran out)."""
        return self._move(
            taken, leaving, state="offered", owner=None, lease_expires_at=None, taken_by=None, sending_at=None
        )

    def end(self, taken: Taken, outcome: str, unknown: bool) -> bool:
        """Truedy answered: `paused`, refused (`outcome` says how), or with what does not say (`unknown`)."""
        state = "unknown" if unknown else "paused" if outcome == "paused" else "refused"
        return self._move(taken, "sending", state=state, outcome=outcome, ended_at=_clock)

    def expired(self, most: int = 100) -> list[PauseOffer]:
        """Offers whose minutes ran out, still offered: each to be withdrawn (by one process)."""
        with self._engine.connect() as connection:
            now = database_now(connection)
            rows = connection.execute(
                select(pause_offers)
                .where(_C.state == "offered", _C.offered_until <= now)
                .order_by(_C.offered_until)
                .limit(most)
            ).mappings()
            return [_offer(row) for row in rows]

    def withdraw_expired(self, offer: PauseOffer) -> bool:
        """True for the one process that withdrew it (and so shows the message without its button)."""
        with self._engine.begin() as connection:
            moved = connection.execute(
                pause_offers.update()
                .where(_C.id == offer.id, _C.state == "offered", _C.offered_until <= database_now(connection))
                .values(state="withdrawn", ended_at=database_now(connection))
            )
            return moved.rowcount == 1

    def dead(self, most: int = 100) -> list[PauseOffer]:
        """Pauses whose process died: taken (nothing was sent) or sending (it may have been), lease over; never
        one this process holds."""
        with self._held_lock:
            mine = list(self._held)
        with self._engine.connect() as connection:
            query = select(pause_offers).where(
                _C.state.in_(("taken", "sending")), _C.lease_expires_at < database_now(connection)
            )
            if mine:
                query = query.where(_C.owner.not_in(mine))
            return [_offer(row) for row in connection.execute(query.limit(most)).mappings()]

    def renew_held(self) -> None:
        """The leases of this process's pauses under way, from now: one statement."""
        with self._held_lock:
            owners = list(self._held)
        if owners:
            with self._engine.begin() as connection:
                connection.execute(
                    pause_offers.update()
                    .where(_C.owner.in_(owners), _C.state.in_(("taken", "sending")))
                    .values(lease_expires_at=database_now(connection) + self._lease)
                )

    def keep_trying(self, taken: Taken, move: Callable[[], bool]) -> None:
        """`move` failed in the database: tried again by `retry_unrecorded`, its lease renewed meanwhile."""
        with self._held_lock:
            self._unrecorded[taken.owner] = move

    def retry_unrecorded(self) -> None:
        with self._held_lock:
            waiting = list(self._unrecorded.items())
        for owner, move in waiting:
            try:
                move()
            except SQLAlchemyError:
                log.warning("pause again's ending not recorded yet", extra={"fields": {"event": "database_error"}})
                continue
            with self._held_lock:
                self._unrecorded.pop(owner, None)
                self._held.discard(owner)

    def hand_back_dead(self, offer: PauseOffer) -> bool:
        """A dead process's pause that was never sent: offered again; True for the one process that did."""
        with self._engine.begin() as connection:
            moved = connection.execute(
                pause_offers.update()
                .where(_C.id == offer.id, _C.state == "taken", _C.lease_expires_at < database_now(connection))
                .values(state="offered", owner=None, lease_expires_at=None, taken_by=None)
            )
            return moved.rowcount == 1

    def end_dead(self, offer: PauseOffer) -> bool:
        """A dead process's pause that may have been sent: unknown, never sent again; True for the one process."""
        with self._engine.begin() as connection:
            now = database_now(connection)
            moved = connection.execute(
                pause_offers.update()
                .where(_C.id == offer.id, _C.state == "sending", _C.lease_expires_at < now)
                .values(state="unknown", outcome="unknown", ended_at=now)
            )
            return moved.rowcount == 1

    def _move(self, taken: Taken, leaving: str, **values: Any) -> bool:
        with self._engine.begin() as connection:
            now = database_now(connection)
            values = {name: now if value is _clock else value for name, value in values.items()}
            moved = connection.execute(
                pause_offers.update()
                .where(and_(_C.id == taken.offer.id, _C.owner == taken.owner, _C.state == leaving))
                .values(**values)
            )
        if moved.rowcount == 0 or values.get("state") not in ("taken", "sending"):  # no longer this process's
            with self._held_lock:
                if taken.owner not in self._unrecorded:
                    self._held.discard(taken.owner)
        return moved.rowcount == 1


def _clock() -> None:
    """Stands for the database's clock in a move's values."""


def _offer(row: Any) -> PauseOffer:
    return PauseOffer(
        id=row["id"],
        workspace=WorkspaceId(row["enterprise_id"], row["team_id"]),
        campaign_id=row["campaign_id"],
        campaign_name=row["campaign_name"],
        resumed_by=row["resumed_by"],
        kind=row["kind"],
        channel=row["channel"],
        message_ts=row["message_ts"],
        thread_ts=row["thread_ts"],
        shown=json.loads(row["shown"]),
        offered_until=utc(row["offered_until"]) or datetime.now(UTC),
        state=row["state"],
        taken_by=row["taken_by"],
        outcome=row["outcome"],
    )
