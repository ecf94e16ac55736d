"""Scheduled resumes in the database, so that they survive restarts and run once, on whichever process is up.

A process takes the schedules that are due with one indexed query, marking them `running` in the same
transaction: on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so that processes asking at once take different
ones; on SQLite with the write lock taken first. A schedule is taken once, so it runs once; one that a
process took and never ended (it died) ends as `interrupted`, never runs again. Times are the database's.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, RowMapping, and_, bindparam, func, select

from bot.storage import database_clock, database_now, of_workspace, scheduled_resumes, utc, workspace_key, writing_first
from bot.storage.workspace_settings import WorkspaceId

# A schedule taken this long ago and not ended belongs to a process that died (a resume ends within
# Truedy's timeouts, and a stopping process ends its own within 25 s).
RUNNING_AT_MOST = timedelta(minutes=10)


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


class ScheduledResumes:
    def __init__(self, engine: Engine):
        self._engine = engine

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
        """The new schedule and True; or the one already pending for this campaign and False (a campaign has
        one pending schedule at a time: a second would only find it resumed)."""
        with writing_first(self._engine).begin() as connection:
            pending = connection.execute(
                select(scheduled_resumes).where(
                    of_workspace(scheduled_resumes, workspace),
                    scheduled_resumes.c.campaign_id == campaign_id,
                    scheduled_resumes.c.state == "pending",
                )
            ).mappings()
            if (already := pending.first()) is not None:
                return _schedule(already), False
            values = {
                **workspace_key(workspace),
                "campaign_id": campaign_id,
                "scheduled_by": scheduled_by,
                "due_at": due_at,
                "channel": channel,
                "thread_ts": thread_ts,
                "via": via,
                "state": "pending",
                "created_at": database_now(connection),
            }
            row = connection.execute(scheduled_resumes.insert().values(**values).returning(scheduled_resumes))
            return _schedule(row.mappings().one()), True

    def now(self) -> datetime:
        """The database's clock, which decides when schedules are due."""
        with self._engine.connect() as connection:
            return database_now(connection)

    def posted(self, schedule_id: int, message_ts: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                scheduled_resumes.update().where(scheduled_resumes.c.id == schedule_id).values(message_ts=message_ts)
            )

    def take_due(self, most: int) -> list[ScheduledResume]:
        """Up to `most` schedules that are due, oldest first, now this process's to run."""
        with writing_first(self._engine).begin() as connection:
            due = (
                select(scheduled_resumes)
                .where(scheduled_resumes.c.state == "pending", scheduled_resumes.c.due_at <= database_clock(connection))
                .order_by(scheduled_resumes.c.due_at)
                .limit(most)
            )
            if connection.dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            taken = connection.execute(due).mappings().all()
            if not taken:
                return []
            now = database_now(connection)
            connection.execute(
                scheduled_resumes.update()
                .where(scheduled_resumes.c.id == bindparam("taken_id"))
                .values(state="running", started_at=now),
                [{"taken_id": row["id"]} for row in taken],
            )
        return [_schedule(row, late_by=now - utc(row["due_at"])) for row in taken]

    def release(self, schedule_id: int) -> None:
        """Taken, but not started (the process is stopping): pending again, for the next process to run."""
        with self._engine.begin() as connection:
            connection.execute(
                scheduled_resumes.update()
                .where(scheduled_resumes.c.id == schedule_id, scheduled_resumes.c.state == "running")
                .values(state="pending", started_at=None)
            )

    def retry(self, schedule_id: int, at: datetime) -> None:
        """Truedy's rate limit for the key was reached: pending again, due when the limit resets."""
        with self._engine.begin() as connection:
            connection.execute(
                scheduled_resumes.update()
                .where(scheduled_resumes.c.id == schedule_id, scheduled_resumes.c.state == "running")
                .values(state="pending", due_at=at, started_at=None)
            )

    def end(self, schedule_id: int, outcome: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                scheduled_resumes.update()
                .where(scheduled_resumes.c.id == schedule_id, scheduled_resumes.c.state == "running")
                .values(state="ended", outcome=outcome, ended_at=database_now(connection))
            )

    def cancel(self, workspace: WorkspaceId, schedule_id: int, cancelled_by: str) -> ScheduledResume | None:
        """The schedule, now cancelled; None unless it was pending in this workspace (it ran, or was
        cancelled, or belongs to another workspace)."""
        with writing_first(self._engine).begin() as connection:
            cancelled = connection.execute(
                scheduled_resumes.update()
                .where(
                    scheduled_resumes.c.id == schedule_id,
                    of_workspace(scheduled_resumes, workspace),
                    scheduled_resumes.c.state == "pending",
                )
                .values(state="cancelled", cancelled_by=cancelled_by, ended_at=database_now(connection))
                .returning(scheduled_resumes)
            ).mappings()
            row = cancelled.first()
        return _schedule(row) if row is not None else None

    def get(self, workspace: WorkspaceId, schedule_id: int) -> ScheduledResume | None:
        with self._engine.connect() as connection:
            row = (
                connection.execute(
                    select(scheduled_resumes).where(
                        scheduled_resumes.c.id == schedule_id, of_workspace(scheduled_resumes, workspace)
                    )
                )
                .mappings()
                .first()
            )
        return _schedule(row) if row is not None else None

    def pending_in(self, workspace: WorkspaceId, most: int) -> tuple[list[ScheduledResume], int]:
        """The workspace's next `most` pending schedules, soonest first, and how many are pending in all."""
        pending = and_(of_workspace(scheduled_resumes, workspace), scheduled_resumes.c.state == "pending")
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(scheduled_resumes).where(pending).order_by(scheduled_resumes.c.due_at).limit(most)
            ).mappings()
            shown = [_schedule(row) for row in rows]
            total = connection.execute(select(func.count()).select_from(scheduled_resumes).where(pending)).scalar_one()
        return shown, total

    def end_abandoned(self) -> list[ScheduledResume]:
        """Schedules a process took and never ended (it died): ended as `interrupted`, and returned, so that
        their channels hear that whether they resumed is unknown. They never run again."""
        with writing_first(self._engine).begin() as connection:
            now = database_now(connection)
            rows = (
                connection.execute(
                    scheduled_resumes.update()
                    .where(
                        scheduled_resumes.c.state == "running",
                        scheduled_resumes.c.started_at < now - RUNNING_AT_MOST,
                    )
                    .values(state="ended", outcome="interrupted", ended_at=now)
                    .returning(scheduled_resumes)
                )
                .mappings()
                .all()
            )
        return [_schedule(row) for row in rows]


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
    )
