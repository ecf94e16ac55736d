"""Pause again: offered under each successful resume for UNDO_MINUTES, and the one pause a click on it makes,
across every process sharing the database. Time is the database's clock.

States, and the moves between them (each an UPDATE that names the state it leaves):

    offered  --a click, within its minutes (take)--------------------------------> taken (owner, lease)
    offered  --its minutes ran out (withdraw_expired)-----------------------------> withdrawn
    taken    --just before the request leaves for Truedy (start_sending)---------> sending
    taken    --nothing was sent (hand_back: someone else's claim, a shutdown; or its
               process died: hand_back_dead)---------------------------------------> offered (withdrawn by the
                                                                                     sweep once its minutes ran out)
    sending  --nothing was done: Truedy could not be reached, or refused at its
               rate limit before doing anything (hand_back)-----------------------> offered
    sending  --Truedy answered (end)----------------------------------------------> paused | refused | unknown
                                                                                     (an answer that does not say)
    sending  --its process died before the answer (end_dead)---------------------> unknown: never sent again

A second click finds it taken (someone is pausing it), ended (paused already) or withdrawn (too late), and
changes nothing.
"""

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, select

from bot.storage import database_now, of_workspace, pause_offers, utc
from bot.storage.workspace_settings import WorkspaceId

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
        """Pauses whose process died: taken (nothing was sent) or sending (it may have been), lease over."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(pause_offers)
                .where(_C.state.in_(("taken", "sending")), _C.lease_expires_at < database_now(connection))
                .limit(most)
            ).mappings()
            return [_offer(row) for row in rows]

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
