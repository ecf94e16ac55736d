"""Workflow Builder step runs in the database, one row per Slack `function_execution_id` (its primary key): a
`function_executed` that Slack delivers again (while the run goes on, or after it ended) finds the row and
changes nothing, so a step resumes once and is completed once, with what its run did.

States and moves. Each move is one atomic UPDATE naming the state it leaves and the owner (the process
running it, under a lease by the database's clock that it renews while it lives):

    begin ──▶ running ──start_sending──▶ sending ──complete──▶ completing ──ended──▶ ended
                 │ └──wait_for (a resume all's job runs)──▶ waiting ──complete──┘      ▲
                 └──complete (listed, refused, failed before Truedy) ──▶ completing ────┘

- `begin(owner)`: the row, running; False when it exists (a redelivery: nothing is done, nothing completed).
- `start_sending(owner)`: running → sending, just before a resume's request leaves; False: not the owner's
  any more, and nothing may be sent.
- `started_job(owner, job)` then `wait_for(owner, until)`: a resume all's job, and running → waiting; the step
  is completed once the job ends or at `until`, whichever comes first, by the process holding it (no thread
  waits for it).
- `complete(owner, completion)`: running, sending or waiting → completing, with the completion decided
  (`{"outputs": …}` or `{"error": …}`), kept until Slack has it; `ended`: completing → ended.
- `take_over(owner)`: rows whose lease ran out (their process died) are held by `owner`, who ends each by its
  state: running → failed, nothing was sent; sending → failed, it may have resumed (never sent again);
  waiting → completed when its job ends; completing → its completion sent again (Slack keeps the first).
- `let_go(owner)`: at the end of a shutdown, what `owner` still holds is left to the next process at once.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, RowMapping, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot.storage import database_now, utc, workflow_step_runs, workspace_key, writing_first
from bot.storage.workspace_settings import WorkspaceId

LEASE = timedelta(seconds=60)
HELD = ("running", "sending", "waiting", "completing")
# Ended runs are kept this long, for Slack's redeliveries (minutes) and far beyond.
KEPT = timedelta(days=7)
_C = workflow_step_runs.c


@dataclass(frozen=True)
class StepRunRecord:
    execution_id: str
    workspace: WorkspaceId
    step: str
    workflow: str | None
    state: str
    job_id: int | None
    wait_until: datetime | None
    completion: dict[str, Any] | None


class StepRuns:
    def __init__(self, engine: Engine, lease: timedelta = LEASE):
        self._engine = engine
        self._lease = lease

    def begin(self, execution_id: str, workspace: WorkspaceId, step: str, workflow: str | None, owner: str) -> bool:
        """True for the first delivery of this execution; False for any other (nothing is to be done)."""
        with self._engine.begin() as connection:
            now = database_now(connection)
            insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
            values = {
                # Not cut to fit: every later move names the id whole (Slack's are a dozen characters; a longer
                # one fails here, and the step is told the database failed).
                "function_execution_id": execution_id,
                **workspace_key(workspace),
                "step": step[:64],
                "workflow": (workflow or "")[:64] or None,
                "state": "running",
                "owner": owner,
                "lease_expires_at": now + self._lease,
                "created_at": now,
            }
            begun = connection.execute(
                insert(workflow_step_runs).values(**values).on_conflict_do_nothing().returning(_C.function_execution_id)
            )
            return begun.first() is not None

    def start_sending(self, execution_id: str, owner: str) -> bool:
        return self._move(execution_id, owner, ("running",), state="sending")

    def started_job(self, execution_id: str, owner: str, job_id: int) -> bool:
        return self._move(execution_id, owner, ("running",), job_id=job_id)

    def wait_for(self, execution_id: str, owner: str, until: datetime) -> bool:
        return self._move(execution_id, owner, ("running",), state="waiting", wait_until=until)

    def complete(self, execution_id: str, owner: str, completion: dict[str, Any]) -> bool:
        """Decided: what Slack is to be told, kept until it has it; False if `owner` no longer holds the run."""
        completing = {"state": "completing", "completion": json.dumps(completion)}
        return self._move(execution_id, owner, ("running", "sending", "waiting"), **completing)

    def ended(self, execution_id: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                workflow_step_runs.update()
                .where(_C.function_execution_id == execution_id, _C.state == "completing")
                .values(state="ended", ended_at=database_now(connection), owner=None, lease_expires_at=None)
            )

    def get(self, execution_id: str) -> StepRunRecord | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(workflow_step_runs).where(_C.function_execution_id == execution_id))
            found = row.mappings().first()
        return _record(found) if found is not None else None

    def held_by(self, owner: str, state: str) -> list[StepRunRecord]:
        with self._engine.connect() as connection:
            rows = connection.execute(select(workflow_step_runs).where(_C.owner == owner, _C.state == state))
            return [_record(row) for row in rows.mappings()]

    def now(self) -> datetime:
        with self._engine.connect() as connection:
            return database_now(connection)

    def renew(self, owner: str) -> int:
        with self._engine.begin() as connection:
            renewed = connection.execute(
                workflow_step_runs.update()
                .where(_C.owner == owner, _C.state.in_(HELD))
                .values(lease_expires_at=database_now(connection) + self._lease)
            )
            return renewed.rowcount

    def take_over(self, owner: str, most: int = 50) -> list[StepRunRecord]:
        """Runs whose process died (the lease ran out), now held by `owner` to be ended by their state."""
        with writing_first(self._engine).begin() as connection:
            now = database_now(connection)
            dead = (_C.state.in_(HELD)) & (_C.lease_expires_at < now)
            found = select(_C.function_execution_id).where(dead).order_by(_C.lease_expires_at).limit(most)
            if connection.dialect.name == "postgresql":
                found = found.with_for_update(skip_locked=True)
            ids = [row[0] for row in connection.execute(found)]
            if not ids:
                return []
            taken = connection.execute(
                workflow_step_runs.update()
                .where(_C.function_execution_id.in_(ids), dead)
                .values(owner=owner, lease_expires_at=now + self._lease)
                .returning(workflow_step_runs)
            )
            return [_record(row) for row in taken.mappings().all()]

    def let_go(self, owner: str) -> int:
        """At the end of a shutdown: what `owner` holds, for the next process to end at once."""
        with self._engine.begin() as connection:
            let = connection.execute(
                workflow_step_runs.update()
                .where(_C.owner == owner, _C.state.in_(HELD))
                .values(lease_expires_at=database_now(connection) - timedelta(seconds=1))
            )
            return let.rowcount

    def prune(self) -> None:
        with self._engine.begin() as connection:
            too_old = database_now(connection) - KEPT
            connection.execute(delete(workflow_step_runs).where(_C.state == "ended", _C.created_at < too_old))

    def _move(self, execution_id: str, owner: str, leaving: tuple[str, ...], **values: Any) -> bool:
        with self._engine.begin() as connection:
            moved = connection.execute(
                workflow_step_runs.update()
                .where(_C.function_execution_id == execution_id, _C.owner == owner, _C.state.in_(leaving))
                .values(**values)
            )
            return moved.rowcount == 1


def _record(row: RowMapping) -> StepRunRecord:
    return StepRunRecord(
        execution_id=row["function_execution_id"],
        workspace=WorkspaceId(row["enterprise_id"], row["team_id"]),
        step=row["step"],
        workflow=row["workflow"],
        state=row["state"],
        job_id=row["job_id"],
        wait_until=utc(row["wait_until"]),
        completion=json.loads(row["completion"]) if row["completion"] else None,
    )
