"""Scheduled resumes in the database: they survive restarts, run once on whichever process is up, and a crash
can always be told apart: never sent (it runs again), maybe sent (said as unknown, never sent again), answered.

States and moves. Each move is one atomic UPDATE naming the state it leaves (and the owner, where there is
one); every time is the database's, so hosts whose clocks disagree agree on leases and due times.

    pending ──take──▶ taken ──start_sending──▶ sending ──end──▶ ended (resumed, not_resumable, key_rejected…)
      │ ▲              │  │                     │  │
      │ └──hand_back───┘  └──end──▶ ended       │  └──lease over: end_unknown──▶ ended (unknown)
      │   (restart, a failure before             │      (its process died once the request may have left)
      │    Truedy, someone else resuming)        └──hand_back──▶ pending (Truedy did nothing: its rate limit,
   cancel                  (refused, not          │                no connection, the bot failed before asking)
      ▼                     installed)
    cancelled           taken, lease over (its process died before sending) ──take──▶ taken by another

- `add`: pending. One schedule not yet ended per campaign and workspace, a partial unique index on both
  databases: whoever comes second (a double click, two people on two processes) is given the first one.
- `take(owner)`: due pending ones (`try_at` passed) and taken ones whose lease ran out (their process died
  before sending: nothing was sent), oldest first; FOR UPDATE SKIP LOCKED on PostgreSQL, SQLite's write lock
  first. Each is then held under a lease the owner renews (`renew`) while it is queued or running.
- `start_sending(owner)`: taken → sending, just before the request leaves. False: the lease went to another
  process meanwhile (or the schedule was handed back at shutdown), and nothing may be sent.
- `hand_back(owner, after)`: taken → pending, due again `after` from now (the database's clock); also from
  sending when Truedy's answer (or the bot) says nothing was done. `hand_back_all(owner)`: at shutdown, every
  schedule the owner holds that was not sent.
- `renew(owner, ids)`: the leases of the schedules the owner is working on; one it holds without knowing (a
  commit whose answer was lost, a move that failed) runs out, and is taken again.
- `end(owner, outcome)`: taken (refused before Truedy was asked) or sending (Truedy answered) → ended.
- `end_unknown()`: sending whose lease ran out → ended as `unknown`, returned so that their threads hear that
  it may have resumed. Never sent again.
- `cancel`: pending → cancelled, in its own workspace only.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, RowMapping, and_, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.storage import (
    ACTIVE_SCHEDULE,
    database_now,
    of_workspace,
    scheduled_resumes,
    utc,
    workspace_key,
    writing_first,
)
from bot.storage.workspace_settings import WorkspaceId

# A schedule's lease: renewed every RENEW_SECONDS by its process, so that only a process that died (or stopped
# reaching the database for this long) lets it go to another.
LEASE = timedelta(seconds=60)
RENEW_SECONDS = 10.0
NOT_ENDED = ("pending", "taken", "sending")
_C = scheduled_resumes.c


@dataclass(frozen=True)
class ScheduledResume:
    id: int
    workspace: WorkspaceId
    campaign_id: str
    scheduled_by: str
    due_at: datetime
    channel: str
    thread_ts: str | None
    message_ts: str | None
    via: str
    state: str
    outcome: str | None
    cancelled_by: str | None
    # When it was taken to run: how long after it was due (by the database's clock).
    late_by: timedelta | None = None
    attempts: int = 0  # how many times it was handed back before
    failures: int = 0  # …of which for a failure


class ScheduledResumes:
    def __init__(self, engine: Engine, lease: timedelta = LEASE):
        self._engine = engine
        self._lease = lease

    def add(
        self,
        workspace: WorkspaceId,
        campaign_id: str,
        scheduled_by: str,
        due_at: datetime,
        channel: str,
        via: str,
        thread_ts: str | None = None,
    ) -> tuple[ScheduledResume, bool]:
        """The new schedule and True; or the one not yet ended for this campaign and False (a campaign has one
        at a time: a second would only find it resumed)."""
        values = {
            **workspace_key(workspace),
            "campaign_id": campaign_id,
            "scheduled_by": scheduled_by,
            "due_at": due_at,
            "try_at": due_at,
            "channel": channel,
            "thread_ts": thread_ts,
            "via": via,
            "state": "pending",
            "attempts": 0,
            "failures": 0,
        }
        for _ in range(3):
            with self._engine.begin() as connection:
                values["created_at"] = database_now(connection)
                # Conflicts with the active-campaign index do nothing, and the transaction stays usable.
                insert = (postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert)(
                    scheduled_resumes
                )
                added = connection.execute(
                    insert.values(**values).on_conflict_do_nothing().returning(scheduled_resumes)
                ).mappings()
                if (row := added.first()) is not None:
                    return _schedule(row), True
                existing = connection.execute(
                    select(scheduled_resumes).where(
                        of_workspace(scheduled_resumes, workspace),
                        _C.campaign_id == campaign_id,
                        _C.state.in_(NOT_ENDED),
                    )
                ).mappings()
                if (already := existing.first()) is not None:
                    return _schedule(already), False
            # It ended between the two statements: try again.
        raise RuntimeError("the schedule kept ending and starting between two statements")

    def now(self) -> datetime:
        """The database's clock, which decides when schedules are due."""
        with self._engine.connect() as connection:
            return database_now(connection)

    def posted(self, schedule_id: int, message_ts: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(scheduled_resumes.update().where(_C.id == schedule_id).values(message_ts=message_ts))

    def take(self, owner: str, most: int) -> list[ScheduledResume]:
        """Up to `most` schedules that are due (or whose process died before sending), oldest first, now held by
        `owner` under a lease."""
        with writing_first(self._engine).begin() as connection:
            now = database_now(connection)
            takeable = or_(
                and_(_C.state == "pending", _C.try_at <= now),
                and_(_C.state == "taken", _C.lease_expires_at < now),
            )
            due = select(_C.id).where(takeable).order_by(_C.try_at).limit(most)
            if connection.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            ids = [row[0] for row in connection.execute(due)]
            if not ids:
                return []
            taken = connection.execute(
                scheduled_resumes.update()
                .where(_C.id.in_(ids), takeable)
                .values(state="taken", owner=owner, lease_expires_at=now + self._lease, started_at=now)
                .returning(scheduled_resumes)
            ).mappings()
            rows = sorted(taken.all(), key=lambda row: utc(row["try_at"]))  # type: ignore[arg-type, return-value]
        return [_schedule(row, late_by=now - utc(row["due_at"])) for row in rows]  # type: ignore[operator]

    def renew(self, owner: str, schedule_ids: Collection[int]) -> int:
        """The leases of those of `schedule_ids` that `owner` holds (taken or sending), from now; how many. Only
        what the owner is working on: a schedule it holds without knowing (a commit whose answer was lost) is let
        run out, and taken again."""
        if not schedule_ids:
            return 0
        with self._engine.begin() as connection:
            renewed = connection.execute(
                scheduled_resumes.update()
                .where(_C.id.in_(list(schedule_ids)), _C.owner == owner, _C.state.in_(("taken", "sending")))
                .values(lease_expires_at=database_now(connection) + self._lease)
            )
            return renewed.rowcount

    def holds(self, schedule_id: int, owner: str) -> bool:
        """Whether `owner` still holds it, not sent."""
        with self._engine.connect() as connection:
            held = connection.execute(
                select(_C.id).where(_C.id == schedule_id, _C.owner == owner, _C.state == "taken")
            ).first()
        return held is not None

    def start_sending(self, schedule_id: int, owner: str) -> bool:
        """Record that its request is about to leave for Truedy; False if `owner` no longer holds it (nothing may
        be sent then)."""
        with self._engine.begin() as connection:
            moved = connection.execute(
                scheduled_resumes.update()
                .where(_C.id == schedule_id, _C.owner == owner, _C.state == "taken")
                .values(state="sending", sending_at=database_now(connection))
            )
            return moved.rowcount == 1

    def hand_back(
        self,
        schedule_id: int,
        owner: str,
        after: timedelta = timedelta(0),
        leaving: tuple[str, ...] = ("taken",),
        failed: bool = False,
    ) -> bool:
        """Pending again, due `after` from now by the database's clock, for any process to take; False if `owner`
        no longer held it in one of the states `leaving`. `failed`: for a failure (which counts towards giving
        up), not a wait (a rate limit, someone else resuming)."""
        with self._engine.begin() as connection:
            moved = connection.execute(
                scheduled_resumes.update()
                .where(_C.id == schedule_id, _C.owner == owner, _C.state.in_(leaving))
                .values(
                    state="pending",
                    owner=None,
                    lease_expires_at=None,
                    sending_at=None,
                    try_at=database_now(connection) + max(after, timedelta(0)),
                    attempts=_C.attempts + 1,
                    failures=_C.failures + (1 if failed else 0),
                )
            )
            return moved.rowcount == 1

    def hand_back_all(self, owner: str) -> int:
        """At shutdown: every schedule `owner` took and did not send is pending again, due now."""
        with self._engine.begin() as connection:
            moved = connection.execute(
                scheduled_resumes.update()
                .where(_C.owner == owner, _C.state == "taken")
                .values(state="pending", owner=None, lease_expires_at=None, try_at=database_now(connection))
            )
            return moved.rowcount

    def end(self, schedule_id: int, owner: str, outcome: str, leaving: str) -> bool:
        """Ended with `outcome`, from `leaving` ("taken": refused before Truedy was asked; "sending": answered);
        False if `owner` no longer held it so."""
        with self._engine.begin() as connection:
            moved = connection.execute(
                scheduled_resumes.update()
                .where(_C.id == schedule_id, _C.owner == owner, _C.state == leaving)
                .values(state="ended", outcome=outcome, ended_at=database_now(connection))
            )
            return moved.rowcount == 1

    def end_unknown(self) -> list[ScheduledResume]:
        """Schedules whose process died once their request may have left (sending, the lease over): ended as
        `unknown`, and returned, so that their threads hear that they may have resumed. Never sent again."""
        with writing_first(self._engine).begin() as connection:
            now = database_now(connection)
            rows = connection.execute(
                scheduled_resumes.update()
                .where(_C.state == "sending", _C.lease_expires_at < now)
                .values(state="ended", outcome="unknown", ended_at=now)
                .returning(scheduled_resumes)
            ).mappings()
            ended = [_schedule(row) for row in rows.all()]
            # Ended so by the upgrade to this release (two left running for one campaign), and not told yet.
            untold = connection.execute(
                scheduled_resumes.update()
                .where(_C.state == "ended", _C.outcome == "untold")
                .values(outcome="unknown")
                .returning(scheduled_resumes)
            ).mappings()
            return ended + [_schedule(row) for row in untold.all()]

    def cancel(self, workspace: WorkspaceId, schedule_id: int, cancelled_by: str) -> ScheduledResume | None:
        """The schedule, now cancelled; None unless it was pending in this workspace (it is running or ran, or
        was cancelled, or belongs to another workspace)."""
        with self._engine.begin() as connection:
            cancelled = connection.execute(
                scheduled_resumes.update()
                .where(_C.id == schedule_id, of_workspace(scheduled_resumes, workspace), _C.state == "pending")
                .values(state="cancelled", cancelled_by=cancelled_by, ended_at=database_now(connection))
                .returning(scheduled_resumes)
            ).mappings()
            row = cancelled.first()
        return _schedule(row) if row is not None else None

    def get(self, workspace: WorkspaceId, schedule_id: int) -> ScheduledResume | None:
        with self._engine.connect() as connection:
            row = (
                connection.execute(
                    select(scheduled_resumes).where(_C.id == schedule_id, of_workspace(scheduled_resumes, workspace))
                )
                .mappings()
                .first()
            )
        return _schedule(row) if row is not None else None

    def pending_in(self, workspace: WorkspaceId, most: int) -> tuple[list[ScheduledResume], int]:
        """The workspace's next `most` schedules not yet ended, soonest first, and how many there are in all."""
        waiting = and_(of_workspace(scheduled_resumes, workspace), text(ACTIVE_SCHEDULE))
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(scheduled_resumes).where(waiting).order_by(_C.due_at).limit(most)
            ).mappings()
            shown = [_schedule(row) for row in rows]
            total = connection.execute(select(func.count()).select_from(scheduled_resumes).where(waiting)).scalar_one()
        return shown, total


def _schedule(row: RowMapping, late_by: timedelta | None = None) -> ScheduledResume:
    return ScheduledResume(
        id=row["id"],
        workspace=WorkspaceId(row["enterprise_id"], row["team_id"]),
        campaign_id=row["campaign_id"],
        scheduled_by=row["scheduled_by"],
        due_at=utc(row["due_at"]),  # type: ignore[arg-type]
        channel=row["channel"],
        thread_ts=row["thread_ts"],
        message_ts=row["message_ts"],
        via=row["via"],
        state=row["state"],
        outcome=row["outcome"],
        cancelled_by=row["cancelled_by"],
        late_by=late_by,
        attempts=row["attempts"],
        failures=row["failures"],
    )
