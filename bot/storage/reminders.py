"""Reminders of a pause nobody handles: one row per alert (or digest) message, reminded in its thread at growing
intervals, taken once across every process sharing the database. Time is the database's clock.

States, and the moves between them (each an UPDATE that names the state it leaves, and `owner` where it has one):

    waiting  --due, and its channel's turn (take_due)---------------------------> taken (owner, lease)
    taken    --not now: not due by the workspace's settings, quiet hours, snoozed,
               a schedule or a resume is under way, Truedy could not say (put_off) --> waiting (later, uncounted)
    taken    --nothing left to remind: the pause is over, reminders are off, the
               last was sent, snoozed until resumed, Slack refuses the channel (end) --> ended
    taken    --just before the reminder leaves for Slack (start_sending: counted) --> sending
    sending  --Slack took it (sent)-----------------------------------------------> waiting (the next one, at its
                                                                                    interval) | ended (the last)
    sending  --Slack refused it, so nothing was posted (not_sent: uncounted)------> waiting (rate limited) | ended
    taken    --its process died (sweep_dead: nothing was sent)---------------------> waiting, looked at again at once
    sending  --its process died, or Slack's answer was lost (sweep_dead): maybe
               posted, so counted and never posted again--------------------------> waiting (the next one)

A snooze (`snooze`) marks the row in any state but ended; `start_sending` refuses a snoozed row, so a reminder
being prepared when someone snoozes is not posted. Each process takes at most one reminder per channel per turn,
and a channel's next turn is a second later (`reminder_channels`): Slack takes about one message a second per
channel, so a crowd due in one channel is posted paced, each once.
"""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, bindparam, func, or_, select, text, true, tuple_

from bot.storage import (
    database_now,
    insert_if_absent,
    of_workspace,
    pause_reminders,
    reminder_channels,
    resume_locks,
    scheduled_resumes,
    utc,
    workspace_key,
    writing_first,
)
from bot.storage.workspace_settings import WorkspaceId, WorkspaceSettings

_C = pause_reminders.c
# A reminder's work is one Truedy read and one Slack post, each bounded by its timeouts (Truedy's are at most
# 25 s each): no renewal is needed within this.
LEASE = timedelta(minutes=2)
# A channel's reminders are at least this far apart, across processes.
PACE = timedelta(seconds=1)
# Any number that fits in a PostgreSQL advisory lock: the processes taking reminders take turns on it.
_TAKING_LOCK = 7451204
# An ended row (its `next_at` is when it ended) is kept this long, for whoever looks into what was reminded.
KEPT_ENDED = timedelta(days=30)
ACTIVE_SCHEDULE = ("pending", "taken", "sending")


@dataclass(frozen=True)
class Reminder:
    id: int
    workspace: WorkspaceId
    kind: str  # "alert" or "digest"
    campaign_id: str | None
    digest_id: int | None
    channel: str
    message_ts: str
    paused_at: datetime
    sent: int
    last_sent_at: datetime | None
    snoozed_until: datetime | None
    snoozed_for_good: bool
    snoozed_by: str | None

    def due_at(self, remind_after: timedelta) -> datetime:
        """The first after `remind_after` from its alert; each next one twice as long after the one before
        (an hour, then 1 h, 2 h, 4 h… later), counted from when the last one was actually sent."""
        if self.sent == 0 or self.last_sent_at is None:
            return self.paused_at + remind_after
        return self.last_sent_at + remind_after * 2 ** (self.sent - 1)


@dataclass(frozen=True)
class Due:
    """The reminders this process took, and the database's clock when it took them."""

    reminders: list[Reminder]
    now: datetime


class PauseReminders:
    def __init__(self, engine: Engine):
        self._engine = engine

    def now(self) -> datetime:
        with self._engine.connect() as connection:
            return database_now(connection)

    def track(
        self,
        workspace: WorkspaceId,
        channel: str,
        message_ts: str,
        remind_after: timedelta,
        *,
        campaign_id: str | None = None,
        digest_id: int | None = None,
    ) -> bool:
        """An alert (`campaign_id`) or a digest (`digest_id`) was posted: its first reminder is due after
        `remind_after`. False when that message has its reminders already."""
        with self._engine.begin() as connection:
            return track_in(connection, workspace, channel, message_ts, remind_after, campaign_id, digest_id)

    def restart(
        self,
        workspace: WorkspaceId,
        channel: str,
        message_ts: str,
        remind_after: timedelta,
        *,
        campaign_id: str | None = None,
        digest_id: int | None = None,
    ) -> None:
        """The message alerts a pause again (Pause again put it back): its reminders start over, from now. One being
        posted right now is left to finish."""
        with self._engine.begin() as connection:
            now = database_now(connection)
            fresh = {
                "state": "waiting",
                "ending": None,
                "paused_at": now,
                "next_at": now + remind_after,
                "sent": 0,
                "last_sent_at": None,
                "snoozed_until": None,
                "snoozed_for_good": False,
                "snoozed_by": None,
                "owner": None,
                "lease_expires_at": None,
            }
            restarted = connection.execute(
                pause_reminders.update()
                .where(
                    of_workspace(pause_reminders, workspace),
                    _C.channel == channel,
                    _C.message_ts == message_ts,
                    _C.state.in_(("waiting", "ended")),
                )
                .values(**fresh)
            )
            if restarted.rowcount == 0:
                values = {
                    **workspace_key(workspace),
                    **fresh,
                    "kind": "alert" if digest_id is None else "digest",
                    "campaign_id": campaign_id,
                    "digest_id": digest_id,
                    "channel": channel,
                    "message_ts": message_ts,
                    "created_at": now,
                }
                insert_if_absent(connection, pause_reminders, values)

    def take_due(self, owner: str, most: int) -> Due:
        """Up to `most` reminders due, oldest first, at most one per channel and only in channels whose turn has
        come; each channel's next turn is PACE later. The processes take turns here (SQLite's write lock, a
        PostgreSQL advisory lock): a window over the due rows cannot be locked row by row (`FOR UPDATE` is not
        allowed with window functions), and a turn is one short transaction a second."""
        with writing_first(self._engine).begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _TAKING_LOCK})
            now = database_now(connection)
            ranked = (
                select(
                    _C.id,
                    _C.enterprise_id,
                    _C.team_id,
                    _C.channel,
                    _C.next_at,
                    func.row_number()
                    .over(partition_by=(_C.enterprise_id, _C.team_id, _C.channel), order_by=(_C.next_at, _C.id))
                    .label("place"),
                )
                .where(_C.state == "waiting", _C.next_at <= now)
                .subquery()
            )
            paced = reminder_channels.c
            turns = (
                select(ranked.c.id, ranked.c.enterprise_id, ranked.c.team_id, ranked.c.channel)
                .select_from(
                    ranked.outerjoin(
                        reminder_channels,
                        and_(
                            paced.enterprise_id == ranked.c.enterprise_id,
                            paced.team_id == ranked.c.team_id,
                            paced.channel == ranked.c.channel,
                        ),
                    )
                )
                .where(ranked.c.place == 1, or_(paced.next_post_at.is_(None), paced.next_post_at <= now))
                .order_by(ranked.c.next_at)
                .limit(most)
            )
            chosen = connection.execute(turns).all()
            if not chosen:
                return Due([], now)
            ids = [row.id for row in chosen]
            connection.execute(
                pause_reminders.update()
                .where(_C.id.in_(ids), _C.state == "waiting")
                .values(state="taken", owner=owner, lease_expires_at=now + LEASE)
            )
            channels = [(row.enterprise_id, row.team_id, row.channel) for row in chosen]
            connection.execute(
                reminder_channels.update()
                .where(tuple_(paced.enterprise_id, paced.team_id, paced.channel).in_(channels))
                .values(next_post_at=now + PACE)
            )
            for enterprise_id, team_id, channel in channels:
                turn = {"enterprise_id": enterprise_id, "team_id": team_id, "channel": channel}
                insert_if_absent(connection, reminder_channels, {**turn, "next_post_at": now + PACE})
            rows = connection.execute(select(pause_reminders).where(_C.id.in_(ids))).mappings().all()
        return Due([_reminder(row) for row in rows], now)

    def put_off(self, reminder_id: int, owner: str, until: datetime) -> bool:
        return self._move(reminder_id, owner, "taken", state="waiting", next_at=until)

    def end(self, reminder_id: int, owner: str, ending: str, now: datetime) -> bool:
        return self._move(reminder_id, owner, "taken", state="ended", ending=ending, next_at=now)

    def start_sending(self, reminder_id: int, owner: str) -> datetime | None:
        """Counted before it leaves (a crash after this never posts it again): the moment it was, by the database's
        clock; None when it is no longer this process's, or someone snoozed it meanwhile."""
        with self._engine.begin() as connection:
            now = database_now(connection)
            moved = connection.execute(
                pause_reminders.update()
                .where(
                    _C.id == reminder_id,
                    _C.state == "taken",
                    _C.owner == owner,
                    _C.snoozed_for_good.is_not(true()),
                    or_(_C.snoozed_until.is_(None), _C.snoozed_until <= now),
                )
                .values(state="sending", sent=_C.sent + 1, last_sent_at=now, lease_expires_at=now + LEASE)
            )
        return now if moved.rowcount == 1 else None

    def sent(self, reminder_id: int, owner: str, now: datetime, next_at: datetime | None) -> bool:
        """Slack took it: the next is due at `next_at`, or None: that was the last."""
        if next_at is None:
            return self._move(reminder_id, owner, "sending", state="ended", ending="done", next_at=now)
        return self._move(reminder_id, owner, "sending", state="waiting", next_at=next_at)

    def not_sent(
        self, reminder_id: int, owner: str, last_sent_at: datetime | None, now: datetime, retry_at: datetime | None
    ) -> bool:
        """Slack refused it, so nothing was posted: uncounted again, and tried at `retry_at`, or None: ended."""
        uncounted = {"sent": _C.sent - 1, "last_sent_at": last_sent_at}
        if retry_at is None:
            return self._move(reminder_id, owner, "sending", state="ended", ending="refused", next_at=now, **uncounted)
        return self._move(reminder_id, owner, "sending", state="waiting", next_at=retry_at, **uncounted)

    def hold_channel(self, workspace: WorkspaceId, channel: str, until: datetime) -> None:
        """Slack's rate limit for this channel: none of its reminders is taken before `until`."""
        paced = reminder_channels.c
        with self._engine.begin() as connection:
            connection.execute(
                reminder_channels.update()
                .where(paced.enterprise_id == workspace.enterprise_id, paced.team_id == workspace.team_id)
                .where(paced.channel == channel, paced.next_post_at < until)
                .values(next_post_at=until)
            )

    def let_go(self, owner: str) -> int:
        """At shutdown: what this process took and never started sending is looked at again at once, by any process
        (what it was sending stays, for the sweep to count as maybe posted)."""
        with self._engine.begin() as connection:
            let = connection.execute(
                pause_reminders.update()
                .where(_C.state == "taken", _C.owner == owner)
                .values(state="waiting", next_at=database_now(connection), owner=None, lease_expires_at=None)
            )
        return let.rowcount

    def sweep_dead(self) -> int:
        """Reminders whose process died: looked at again at once (one that may have been posted stays counted, so
        it is never posted again; the next one comes at its interval). Reminders ended a while ago are forgotten."""
        with self._engine.begin() as connection:
            now = database_now(connection)
            swept = connection.execute(
                pause_reminders.update()
                .where(_C.state.in_(("taken", "sending")), _C.lease_expires_at < now)
                .values(state="waiting", next_at=now, owner=None, lease_expires_at=None)
            )
            connection.execute(pause_reminders.delete().where(_C.state == "ended", _C.next_at < now - KEPT_ENDED))
        return swept.rowcount

    def snooze(
        self, workspace: WorkspaceId, channel: str, message_ts: str, by: str, until: datetime | None
    ) -> Reminder | None:
        """No reminders for this message until `until`, or None: until the pause is over; the row as it is now, or
        None when the message has no reminders (posted before they were set up), or none left."""
        values = (
            {"snoozed_for_good": True, "snoozed_until": None}
            if until is None
            else {"snoozed_until": until, "snoozed_for_good": False}
        )
        where = (of_workspace(pause_reminders, workspace), _C.channel == channel, _C.message_ts == message_ts)
        with self._engine.begin() as connection:
            changed = connection.execute(
                pause_reminders.update().where(*where, _C.state != "ended").values(**values, snoozed_by=by)
            )
            if changed.rowcount == 0:
                return None
            if until is not None:  # looked at when it ends, not before
                connection.execute(
                    pause_reminders.update()
                    .where(*where, _C.state == "waiting", _C.next_at < until)
                    .values(next_at=until)
                )
            row = connection.execute(select(pause_reminders).where(*where)).mappings().first()
        return None if row is None else _reminder(row)

    def get(self, workspace: WorkspaceId, channel: str, message_ts: str) -> Reminder | None:
        query = select(pause_reminders).where(
            of_workspace(pause_reminders, workspace), _C.channel == channel, _C.message_ts == message_ts
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _reminder(row)

    def handled(self, workspace: WorkspaceId, campaign_ids: list[str]) -> tuple[set[str], set[str]]:
        """Of `campaign_ids`, those with a scheduled resume not yet ended, and those someone is resuming (or
        pausing) now: left alone by reminders meanwhile."""
        if not campaign_ids:
            return set(), set()
        with self._engine.connect() as connection:
            scheduled = connection.execute(
                select(scheduled_resumes.c.campaign_id).where(
                    of_workspace(scheduled_resumes, workspace),
                    scheduled_resumes.c.campaign_id.in_(campaign_ids),
                    scheduled_resumes.c.state.in_(ACTIVE_SCHEDULE),
                )
            ).scalars()
            scheduled_ids = set(scheduled)
            now = database_now(connection)
            resuming = connection.execute(
                select(resume_locks.c.campaign_id).where(
                    of_workspace(resume_locks, workspace),
                    resume_locks.c.campaign_id.in_(campaign_ids),
                    resume_locks.c.expires_at > now,
                )
            ).scalars()
            return scheduled_ids, set(resuming)

    def _move(self, reminder_id: int, owner: str, leaving: str, **values) -> bool:
        values |= {"owner": None, "lease_expires_at": None}  # every move here lets it go
        with self._engine.begin() as connection:
            moved = connection.execute(
                pause_reminders.update()
                .where(_C.id == bindparam("reminder_id"), _C.state == leaving, _C.owner == owner)
                .values(**values),
                {"reminder_id": reminder_id},
            )
        return moved.rowcount == 1


def track_in(
    connection: Connection,
    workspace: WorkspaceId,
    channel: str,
    message_ts: str,
    remind_after: timedelta,
    campaign_id: str | None = None,
    digest_id: int | None = None,
) -> bool:
    """`PauseReminders.track` in the caller's transaction (the alert's record and its reminders are written
    together: neither is ever left without the other)."""
    now = database_now(connection)
    values = {
        **workspace_key(workspace),
        "kind": "alert" if digest_id is None else "digest",
        "campaign_id": campaign_id,
        "digest_id": digest_id,
        "channel": channel,
        "message_ts": message_ts,
        "paused_at": now,
        "next_at": now + remind_after,
        "sent": 0,
        "state": "waiting",
        "snoozed_for_good": False,
        "created_at": now,
    }
    return insert_if_absent(connection, pause_reminders, values)


def remind_after(settings: WorkspaceSettings, default: timedelta) -> timedelta:
    """How long after its alert a pause is first reminded in this workspace (zero: never): setup's choice, else
    REMIND_AFTER_MINUTES (`default`)."""
    if settings.remind_after_minutes is None:
        return default
    return timedelta(minutes=settings.remind_after_minutes)


def new_owner() -> str:
    return f"reminders-{secrets.token_hex(8)}"


def _reminder(row) -> Reminder:
    paused_at = utc(row["paused_at"])
    assert paused_at is not None
    return Reminder(
        id=row["id"],
        workspace=WorkspaceId(row["enterprise_id"], row["team_id"]),
        kind=row["kind"],
        campaign_id=row["campaign_id"],
        digest_id=row["digest_id"],
        channel=row["channel"],
        message_ts=row["message_ts"],
        paused_at=paused_at,
        sent=row["sent"],
        last_sent_at=utc(row["last_sent_at"]),
        snoozed_until=utc(row["snoozed_until"]),
        snoozed_for_good=bool(row["snoozed_for_good"]),
        snoozed_by=row["snoozed_by"],
    )
