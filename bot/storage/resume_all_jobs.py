"""Resume-all jobs in the database, so that one goes on after a worker restart, on whichever worker is up.

A running job is held by one run at a time (one worker's turn at it, with a token of its own) through a
lease it renews as it goes; a lease that ran out (its worker died or stalled) lets another run take the job
over, and the old run can then neither renew, nor send, nor end it. Leases are timed by the database's
clock. Each campaign is an item marked `sending` just before its request goes out, and only by the run that
holds the lease; its outcome is written as soon as Truedy answered. An item left `sending` by a run that
died is never sent again. So nothing is resumed twice by a job, and nothing is forgotten.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, exists, func, or_, select
from sqlalchemy.exc import IntegrityError

from bot.storage import (
    database_clock,
    database_now,
    of_workspace,
    resume_all_items,
    resume_all_jobs_table,
    utc,
    workspace_key,
)
from bot.storage.workspace_settings import WorkspaceId

# A job nobody confirmed is forgotten after this long (its count is stale by then anyway).
PROPOSAL_TTL = timedelta(hours=1)
ACTIVE = ("running", "cancelling")
# Outcomes of campaigns that were not paused any more when their turn came (or were gone): nothing to do.
NOT_PAUSED = ("not_resumable", "campaign_not_found")
# Outcomes without a clear answer, after which the campaign may have resumed (the errors whose
# `outcome_unknown` is set, by their audit names; a unit test keeps the two in step).
MAY_HAVE_RESUMED = ("no_answer", "unreadable_answer", "truedy_server_error", "bot_failure", "interrupted")
SENDING = "sending"
LEASE = timedelta(seconds=60)


@dataclass(frozen=True)
class JobItem:
    position: int
    campaign_id: str
    name: str | None
    outcome: str | None  # None until tried
    detail: str | None


@dataclass(frozen=True)
class ResumeAllJob:
    id: int
    workspace: WorkspaceId
    requested_by: str
    channel: str
    message_ts: str | None
    digest_id: int | None
    state: str
    ending: str | None
    cancelled_by: str | None
    not_before: datetime | None
    workflow: str | None = None  # started by a Workflow Builder run: its execution id
    unattended: bool = False  # …with no person Slack vouches for (requested_by only names someone, or is "")
    allowed_by: str | None = None  # …allowed by this admin, where resumes are restricted


@dataclass(frozen=True)
class Progress:
    total: int
    resumed: int
    not_paused: int  # not paused any more when its turn came (or gone): nothing to do
    skipped: int  # someone else was resuming it
    failed: int  # Truedy (or the bot, before asking) said no: still paused
    unknown: int = 0  # no clear answer: it may have resumed

    @property
    def done(self) -> int:
        return self.resumed + self.not_paused + self.skipped + self.failed + self.unknown

    @property
    def left(self) -> int:
        return self.total - self.done


class ResumeAllJobs:
    def __init__(self, engine: Engine, lease: timedelta = LEASE):
        self._engine = engine
        self.lease = lease

    def propose(
        self,
        workspace: WorkspaceId,
        user_id: str,
        channel: str,
        campaigns: list[tuple[str, str | None]],
        digest_id: int | None = None,
        workflow: str | None = None,
        unattended: bool = False,
        allowed_by: str | None = None,
    ) -> int:
        """A job counted and waiting for the requester's confirmation (and its progress message); `workflow`:
        the execution id of the Workflow Builder run that asks for it (`unattended`: with no person, as
        `allowed_by` allowed)."""
        with self._engine.begin() as connection:
            now = database_now(connection)
            stale = select(resume_all_jobs_table.c.id).where(
                resume_all_jobs_table.c.state == "proposed", resume_all_jobs_table.c.created_at < now - PROPOSAL_TTL
            )
            stale_ids = list(connection.execute(stale).scalars())
            if stale_ids:
                connection.execute(resume_all_items.delete().where(resume_all_items.c.job_id.in_(stale_ids)))
                connection.execute(resume_all_jobs_table.delete().where(resume_all_jobs_table.c.id.in_(stale_ids)))
            job_id = connection.execute(
                resume_all_jobs_table.insert().values(
                    **workspace_key(workspace),
                    requested_by=user_id,
                    channel=channel,
                    digest_id=digest_id,
                    workflow=workflow,
                    unattended=unattended,
                    allowed_by=allowed_by,
                    state="proposed",
                    created_at=now,
                )
            ).inserted_primary_key[0]
            if campaigns:
                connection.execute(
                    resume_all_items.insert(),
                    [
                        {"job_id": job_id, "position": i, "campaign_id": campaign_id, "name": name}
                        for i, (campaign_id, name) in enumerate(campaigns)
                    ],
                )
            return int(job_id)

    def confirm(self, job_id: int, workspace: WorkspaceId, user_id: str, message_ts: str) -> ResumeAllJob | None:
        """The proposed job, now running with its progress message; None when it is not this person's
        proposal (any more). When another job of the workspace runs already (one at a time: they share the
        key's rate limit), that one, and the proposal stays as it was."""
        proposal = and_(
            resume_all_jobs_table.c.id == job_id,
            of_workspace(resume_all_jobs_table, workspace),
            resume_all_jobs_table.c.requested_by == user_id,
            resume_all_jobs_table.c.state == "proposed",
        )
        try:
            with self._engine.begin() as connection:
                # No "is one running?" read first: two confirmations at once would both see none. The
                # unique index on active jobs refuses the second one instead.
                confirmed = connection.execute(
                    resume_all_jobs_table.update().where(proposal).values(state="running", message_ts=message_ts)
                )
                if confirmed.rowcount == 1:
                    return self._get(connection, job_id)
        except IntegrityError:
            pass  # another job of this workspace is active
        with self._engine.connect() as connection:
            return self._active(connection, workspace)

    def get(self, job_id: int) -> ResumeAllJob | None:
        with self._engine.connect() as connection:
            return self._get(connection, job_id)

    def running_in(self, workspace: WorkspaceId) -> ResumeAllJob | None:
        with self._engine.connect() as connection:
            return self._active(connection, workspace)

    def take(self, run: str) -> ResumeAllJob | None:
        """A running job nobody holds (new, let go, or its run's lease ran out), now held by the run `run`
        (a token of that run's own, never reused: a stalled run of the same worker is another run)."""
        with self._engine.begin() as connection:
            clock = database_clock(connection)  # no round trip of its own: this runs every second, finding none
            free = and_(
                resume_all_jobs_table.c.state.in_(ACTIVE),
                or_(
                    resume_all_jobs_table.c.lease_expires_at.is_(None), resume_all_jobs_table.c.lease_expires_at < clock
                ),
            )
            candidates = connection.execute(select(resume_all_jobs_table.c.id).where(free).limit(5)).scalars().all()
            if not candidates:
                return None
            now = database_now(connection)
            for job_id in candidates:
                taken = connection.execute(
                    resume_all_jobs_table.update()
                    .where(resume_all_jobs_table.c.id == job_id, free)
                    .values(owner=run, lease_expires_at=now + self.lease)
                )
                if taken.rowcount == 1:
                    return self._get(connection, job_id)
        return None

    def renew(self, job_id: int, run: str) -> ResumeAllJob | None:
        """The job as it is now, its lease renewed; None if `run` does not hold it any more."""
        with self._engine.begin() as connection:
            renewed = connection.execute(
                resume_all_jobs_table.update()
                .where(resume_all_jobs_table.c.id == job_id, resume_all_jobs_table.c.owner == run)
                .values(lease_expires_at=database_now(connection) + self.lease)
            )
            return self._get(connection, job_id) if renewed.rowcount == 1 else None

    def let_go(self, job_id: int, run: str, retry_in: timedelta = timedelta(0)) -> None:
        """The run stops holding the job: another takes it at once (a restart), or after `retry_in` (the run
        failed: its next try must not follow at once, over and over)."""
        with self._engine.begin() as connection:
            connection.execute(
                resume_all_jobs_table.update()
                .where(resume_all_jobs_table.c.id == job_id, resume_all_jobs_table.c.owner == run)
                .values(owner=None, lease_expires_at=database_now(connection) + retry_in if retry_in else None)
            )

    def start_sending(self, job_id: int, position: int, run: str) -> bool:
        """Mark the item as being sent, if `run` still holds a live lease on the job (by the database's
        clock) and nobody tried the item yet; False means send nothing."""
        with self._engine.begin() as connection:
            held = exists().where(
                resume_all_jobs_table.c.id == job_id,
                resume_all_jobs_table.c.owner == run,
                resume_all_jobs_table.c.lease_expires_at > database_now(connection),
            )
            marked = connection.execute(
                resume_all_items.update()
                .where(
                    resume_all_items.c.job_id == job_id,
                    resume_all_items.c.position == position,
                    resume_all_items.c.outcome.is_(None),
                    held,
                )
                .values(outcome=SENDING)
            )
            return marked.rowcount == 1

    def left_sending(self, job_id: int) -> list[JobItem]:
        """Items a run marked as being sent and never recorded (it died or failed meanwhile)."""
        query = select(resume_all_items).where(
            resume_all_items.c.job_id == job_id, resume_all_items.c.outcome == SENDING
        )
        with self._engine.connect() as connection:
            return [_item(row) for row in connection.execute(query.order_by(resume_all_items.c.position)).mappings()]

    def defer(self, job_id: int, position: int, until: datetime) -> None:
        """Truedy's rate limit refused the item's request (so did nothing): it is tried again after `until`."""
        with self._engine.begin() as connection:
            connection.execute(
                resume_all_items.update()
                .where(
                    resume_all_items.c.job_id == job_id,
                    resume_all_items.c.position == position,
                    resume_all_items.c.outcome == SENDING,
                )
                .values(outcome=None)
            )
            connection.execute(
                resume_all_jobs_table.update().where(resume_all_jobs_table.c.id == job_id).values(not_before=until)
            )

    def cancel(self, job_id: int, workspace: WorkspaceId, user_id: str) -> ResumeAllJob | None:
        """Ask the running job to stop before its next campaign; None if it is not running (any more)."""
        with self._engine.begin() as connection:
            asked = connection.execute(
                resume_all_jobs_table.update()
                .where(
                    resume_all_jobs_table.c.id == job_id,
                    of_workspace(resume_all_jobs_table, workspace),
                    resume_all_jobs_table.c.state == "running",
                )
                .values(state="cancelling", cancelled_by=user_id)
            )
            return self._get(connection, job_id) if asked.rowcount == 1 else None

    def end(self, job_id: int, run: str, ending: str) -> bool:
        """End the job, if `run` still holds it; False when another run took it over meanwhile."""
        with self._engine.begin() as connection:
            ended = connection.execute(
                resume_all_jobs_table.update()
                .where(resume_all_jobs_table.c.id == job_id, resume_all_jobs_table.c.owner == run)
                .values(state="ended", ending=ending, ended_at=database_now(connection), owner=None)
            )
            return ended.rowcount == 1

    def next_item(self, job_id: int) -> JobItem | None:
        query = (
            select(resume_all_items)
            .where(resume_all_items.c.job_id == job_id, resume_all_items.c.outcome.is_(None))
            .order_by(resume_all_items.c.position)
            .limit(1)
        )
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else _item(row)

    def record(self, job_id: int, position: int, outcome: str, detail: str | None) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                resume_all_items.update()
                .where(resume_all_items.c.job_id == job_id, resume_all_items.c.position == position)
                .values(outcome=outcome, detail=detail)
            )

    def items(self, job_id: int) -> list[JobItem]:
        query = (
            select(resume_all_items).where(resume_all_items.c.job_id == job_id).order_by(resume_all_items.c.position)
        )
        with self._engine.connect() as connection:
            return [_item(row) for row in connection.execute(query).mappings()]

    def progress(self, job_id: int) -> Progress:
        query = (
            select(resume_all_items.c.outcome, func.count())
            .where(resume_all_items.c.job_id == job_id)
            .group_by(resume_all_items.c.outcome)
        )
        with self._engine.connect() as connection:
            counts = Counter({outcome: count for outcome, count in connection.execute(query)})
        not_paused = sum(counts[outcome] for outcome in NOT_PAUSED)
        unknown = sum(counts[outcome] for outcome in MAY_HAVE_RESUMED)
        tried = sum(count for outcome, count in counts.items() if outcome not in (None, SENDING))
        return Progress(
            total=sum(counts.values()),
            resumed=counts["resumed"],
            not_paused=not_paused,
            skipped=counts["skipped"],
            failed=tried - counts["resumed"] - not_paused - counts["skipped"] - unknown,
            unknown=unknown,
        )

    def _active(self, connection, workspace: WorkspaceId) -> ResumeAllJob | None:
        query = select(resume_all_jobs_table.c.id).where(
            of_workspace(resume_all_jobs_table, workspace), resume_all_jobs_table.c.state.in_(ACTIVE)
        )
        job_id = connection.execute(query.limit(1)).scalar()
        return None if job_id is None else self._get(connection, job_id)

    def _get(self, connection, job_id: int) -> ResumeAllJob | None:
        row = (
            connection.execute(select(resume_all_jobs_table).where(resume_all_jobs_table.c.id == job_id))
            .mappings()
            .first()
        )
        if row is None:
            return None
        return ResumeAllJob(
            id=int(row["id"]),
            workspace=WorkspaceId(row["enterprise_id"], row["team_id"]),
            requested_by=row["requested_by"],
            channel=row["channel"],
            message_ts=row["message_ts"],
            digest_id=row["digest_id"],
            state=row["state"],
            ending=row["ending"],
            cancelled_by=row["cancelled_by"],
            not_before=utc(row["not_before"]),
            workflow=row["workflow"],
            unattended=row["unattended"],
            allowed_by=row["allowed_by"],
        )


def _item(row) -> JobItem:
    return JobItem(row["position"], row["campaign_id"], row["name"], row["outcome"], row["detail"])
