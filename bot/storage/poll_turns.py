"""When each workspace's Truedy account is next looked at for paused campaigns, shared by all processes.

Each workspace polls at its own point of the interval (fixed by its team id), so that polls are spread
evenly instead of coming in clumps. A process takes the polls that are due with one indexed query, moving
each one interval on in the same transaction: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so that processes
asking at once take different workspaces; on SQLite with the write lock taken first (one writer at a time).
The work follows the polls that are due: nothing runs per workspace in between. Times are the database's.
"""

import zlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, bindparam, exists, insert, or_, select

from bot.storage import (
    database_clock,
    database_now,
    insert_if_absent,
    of_workspace,
    poll_schedule,
    utc,
    workspace_key,
    workspaces,
    writing_first,
)
from bot.storage.workspace_settings import WorkspaceId

# However many webhooks arrive, one account is listed at most this often on their account.
MIN_PROMPTED_GAP = timedelta(seconds=10)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class PollSchedule:
    def __init__(self, engine: Engine):
        self._engine = engine

    def take_due(self, interval: timedelta, most: int) -> list[WorkspaceId]:
        """Up to `most` workspaces whose poll is due, oldest first, now this process's to poll; each one's next
        poll is at its own point of the next interval."""
        with writing_first(self._engine).begin() as connection:
            clock = database_clock(connection)  # no round trip of its own: most ticks find nothing due
            due = (
                select(poll_schedule.c.enterprise_id, poll_schedule.c.team_id)
                .where(
                    poll_schedule.c.next_poll_at <= clock,
                    or_(poll_schedule.c.not_before.is_(None), poll_schedule.c.not_before <= clock),
                )
                .order_by(poll_schedule.c.next_poll_at)
                .limit(most)
            )
            if connection.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            taken = [WorkspaceId(*row) for row in connection.execute(due).all()]
            if taken:
                now = database_now(connection)
                # One statement for all (executemany: pipelined by psycopg, one round trip).
                connection.execute(
                    poll_schedule.update()
                    .where(
                        poll_schedule.c.enterprise_id == bindparam("workspace_enterprise"),
                        poll_schedule.c.team_id == bindparam("workspace_team"),
                    )
                    .values(next_poll_at=bindparam("turn"), polled_at=now),
                    [
                        {
                            "workspace_enterprise": workspace.enterprise_id,
                            "workspace_team": workspace.team_id,
                            "turn": turn_after(workspace, now, interval),
                        }
                        for workspace in taken
                    ],
                )
        return taken

    def schedule_new(self, interval: timedelta) -> int:
        """Give every workspace that has none its first poll, at its point of the interval; bring turns set
        with a longer interval within this one. One statement each, whatever the number of workspaces; run at
        start and now and then (setup and installs schedule theirs at once). Returns how many were added."""
        with writing_first(self._engine).begin() as connection:
            now = database_now(connection)
            unscheduled = connection.execute(
                select(workspaces.c.enterprise_id, workspaces.c.team_id).where(
                    ~exists().where(
                        poll_schedule.c.enterprise_id == workspaces.c.enterprise_id,
                        poll_schedule.c.team_id == workspaces.c.team_id,
                    )
                )
            ).all()
            rows = [
                {**workspace_key(workspace), "next_poll_at": turn_after(workspace, now, interval)}
                for workspace in (WorkspaceId(*row) for row in unscheduled)
            ]
            if rows:
                connection.execute(insert(poll_schedule), rows)
            connection.execute(
                poll_schedule.update().where(poll_schedule.c.next_poll_at > now + interval).values(next_poll_at=now)
            )
            return len(rows)

    def defer(self, workspace: WorkspaceId, wait: timedelta) -> None:
        """Truedy's rate limit for this key is reached: no polling for `wait` (from now by the database's clock,
        which decides when polls are due), so people's resumes get the requests that are left."""
        with self._engine.begin() as connection:
            until = database_now(connection) + wait
            updated = connection.execute(poll_schedule.update().where(_is(workspace)).values(not_before=until))
            if updated.rowcount == 0:
                connection.execute(
                    poll_schedule.insert().values(**workspace_key(workspace), next_poll_at=until, not_before=until)
                )

    def postpone(self, workspace: WorkspaceId, by: timedelta) -> None:
        """Someone is resuming in this workspace: its poll comes a little later (people first)."""
        with self._engine.begin() as connection:
            now = database_now(connection)
            connection.execute(poll_schedule.update().where(_is(workspace)).values(next_poll_at=now + by))

    def prompt_all(self, connection: Connection) -> None:
        """Something may have changed (a Truedy webhook): every workspace is looked at again soon, but no
        sooner than MIN_PROMPTED_GAP after its last poll. Runs in the caller's transaction."""
        now = database_now(connection)
        scheduled = {
            WorkspaceId(row["enterprise_id"], row["team_id"]): row
            for row in connection.execute(select(poll_schedule)).mappings().all()
        }
        known = connection.execute(select(workspaces.c.enterprise_id, workspaces.c.team_id)).all()
        for workspace in {WorkspaceId(*row) for row in known} | set(scheduled):
            _prompt(connection, workspace, scheduled.get(workspace), now)

    def prompt(self, connection: Connection, workspace: WorkspaceId) -> None:
        """The same for one workspace (its own webhook)."""
        row = connection.execute(select(poll_schedule).where(_is(workspace))).mappings().first()
        _prompt(connection, workspace, row, database_now(connection))


def _prompt(connection: Connection, workspace: WorkspaceId, row, now: datetime) -> None:
    if row is None:
        insert_if_absent(connection, poll_schedule, {**workspace_key(workspace), "next_poll_at": now})
        return
    polled_at = utc(row["polled_at"])
    soonest = now if polled_at is None else max(now, polled_at + MIN_PROMPTED_GAP)
    if (utc(row["next_poll_at"]) or now) > soonest:
        connection.execute(poll_schedule.update().where(_is(workspace)).values(next_poll_at=soonest))


def turn_after(workspace: WorkspaceId, now: datetime, interval: timedelta) -> datetime:
    """The workspace's first point of the interval after `now`: the same offset in every interval, fixed by
    its team id, so that each workspace is polled once an interval and workspaces are evenly spread."""
    seconds = interval.total_seconds()
    offset = seconds * (zlib.crc32(workspace.team_id.encode()) % 10_000) / 10_000
    elapsed = (now - EPOCH).total_seconds() - offset
    intervals = int(elapsed // seconds) + 1
    return EPOCH + timedelta(seconds=offset + intervals * seconds)


def _is(workspace: WorkspaceId):
    return of_workspace(poll_schedule, workspace)
