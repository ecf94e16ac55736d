"""When each workspace's Truedy account is next looked at for paused campaigns, shared by all workers."""

import zlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, or_, select

from bot.storage import insert_if_absent, of_workspace, poll_schedule, utc, workspace_key, workspaces
from bot.storage.workspace_settings import WorkspaceId

# However many webhooks arrive, one account is listed at most this often on their account.
MIN_PROMPTED_GAP = timedelta(seconds=10)


class PollSchedule:
    def __init__(self, engine: Engine):
        self._engine = engine

    def take_turn(self, workspace: WorkspaceId, interval: timedelta) -> bool:
        """True for the one worker that is to poll this workspace now; the next turn is `interval` later.

        A workspace seen for the first time gets its first turn at a point of the interval fixed by its
        team id, so that workspaces are spread over the interval instead of all polled at once."""
        now = datetime.now(UTC)
        # Read first: this runs every second for every workspace, and is rarely due.
        with self._engine.connect() as connection:
            row = connection.execute(select(poll_schedule).where(_is(workspace))).mappings().first()
        if row is None:
            spread = interval * (zlib.crc32(workspace.team_id.encode()) % 1000 / 1000)
            with self._engine.begin() as connection:  # unless another worker scheduled it first
                insert_if_absent(connection, poll_schedule, {**workspace_key(workspace), "next_poll_at": now + spread})
            return False
        next_poll_at, not_before = utc(row["next_poll_at"]) or now, utc(row["not_before"])
        # A turn further away than one interval was set with a longer PAUSED_POLL_SECONDS.
        if (not_before is not None and not_before > now) or now < next_poll_at <= now + interval:
            return False
        with self._engine.begin() as connection:
            taken = connection.execute(
                poll_schedule.update()
                .where(
                    _is(workspace),
                    poll_schedule.c.next_poll_at == row["next_poll_at"],  # nobody took this turn meanwhile
                    or_(poll_schedule.c.not_before.is_(None), poll_schedule.c.not_before <= now),
                )
                .values(next_poll_at=now + interval, polled_at=now)
            )
        return taken.rowcount == 1

    def defer(self, workspace: WorkspaceId, until: datetime) -> None:
        """Truedy's rate limit for this key is reached: no polling before `until`, so people's resumes get
        the requests that are left."""
        with self._engine.begin() as connection:
            updated = connection.execute(poll_schedule.update().where(_is(workspace)).values(not_before=until))
            if updated.rowcount == 0:
                connection.execute(
                    poll_schedule.insert().values(**workspace_key(workspace), next_poll_at=until, not_before=until)
                )

    def prompt_all(self, connection: Connection) -> None:
        """Something may have changed (a Truedy webhook): every workspace is looked at again soon, but no
        sooner than MIN_PROMPTED_GAP after its last poll. Runs in the caller's transaction."""
        scheduled = {
            WorkspaceId(row["enterprise_id"], row["team_id"]): row
            for row in connection.execute(select(poll_schedule)).mappings().all()
        }
        known = connection.execute(select(workspaces.c.enterprise_id, workspaces.c.team_id)).all()
        for workspace in {WorkspaceId(*row) for row in known} | set(scheduled):
            _prompt(connection, workspace, scheduled.get(workspace))

    def prompt(self, connection: Connection, workspace: WorkspaceId) -> None:
        """The same for one workspace (its own webhook)."""
        _prompt(
            connection, workspace, connection.execute(select(poll_schedule).where(_is(workspace))).mappings().first()
        )


def _prompt(connection: Connection, workspace: WorkspaceId, row) -> None:
    now = datetime.now(UTC)
    if row is None:
        insert_if_absent(connection, poll_schedule, {**workspace_key(workspace), "next_poll_at": now})
        return
    polled_at = utc(row["polled_at"])
    soonest = now if polled_at is None else max(now, polled_at + MIN_PROMPTED_GAP)
    if (utc(row["next_poll_at"]) or now) > soonest:
        connection.execute(poll_schedule.update().where(_is(workspace)).values(next_poll_at=soonest))


def _is(workspace: WorkspaceId):
    return of_workspace(poll_schedule, workspace)
