"""Resume-all jobs in the database, so that one goes on after a worker restart, on whichever worker is up.

A running job is held by one run at a time (one worker's turn at it, with a token of its own) through a
lease it renews as it goes; a lease that ran out (its worker died or stalled) lets another run take the job
over, and the old run can then neither renew, nor send, nor end it. Leases are timed by the database's
clock. Each campaign is an item marked `sending` just before its request goes out, and only by the run that
holds the lease; its outcome is written as soon as Truedy answered. An item left `sending` by a run that
died is never sent again. So nothing is resumed twice by a job, and nothing is forgotten.

Pause all again is a job too (`action` "pause", `undoes` the resume-all whose resumed campaigns it pauses), run
the same way. Its offer lives on the finished resume-all, with moves that name the state they leave:

    offered (undo_until set, by the database's clock) --the first click within it (take_undo), in the same
        transaction as the pause job's insert, which the one-active-job index may refuse (then nothing moves)--> taken
        (undo_taken_by)
    offered --its minutes ran out, nobody clicked (withdraw_expired_undos)--> withdrawn (undo_until None)
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
# Outcomes of campaigns that were not paused (for Pause all again: not running) any more when their turn came, or
# were gone: nothing to do.
NOT_PAUSED = ("not_resumable", "not_pausable", "campaign_not_found")
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
    action: str = "resume"  # or "pause": Pause all again of the job `undoes`
    undoes: int | None = None
    summary_ts: str | None = None
    undo_until: datetime | None = None  # Pause all again is offered under its summary until then
    undo_taken_by: str | None = None  # who clicked it

    @property
    def pauses(self) -> bool:
        return self.action == "pause"


@dataclass(frozen=True)
class UndoNotTaken:
    """Why a click on Pause all again started nothing: `job` (the resume-all it was under) as it is, None when it is
    not this workspace's; `running`: another job of the workspace runs (one at a time)."""

    job: ResumeAllJob | None
    running: ResumeAllJob | None = None


@dataclass(frozen=True)
class Progress:
    total: int
    resumed: int  # resumed; or, for Pause all again, paused again
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

    def offer_undo(self, job_id: int, undo_for: timedelta) -> ResumeAllJob | None:
        """The ended resume-all offers Pause all again for `undo_for` from now (the database's clock); the job as it
        is now."""
        with self._engine.begin() as connection:
            until = database_now(connection) + undo_for
            connection.execute(
                resume_all_jobs_table.update()
                .where(resume_all_jobs_table.c.id == job_id, resume_all_jobs_table.c.action == "resume")
                .values(undo_until=until)
            )
            return self._get(connection, job_id)

    def summary_posted(self, job_id: int, summary_ts: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                resume_all_jobs_table.update().where(resume_all_jobs_table.c.id == job_id).values(summary_ts=summary_ts)
            )

    def take_undo(self, job_id: int, workspace: WorkspaceId, user_id: str) -> ResumeAllJob | UndoNotTaken:
        """A click on Pause all again: the offer taken (once, within its minutes) and a running pause-all job made of
        the campaigns the job resumed, in one transaction; else why not, and nothing changed. No "is another job
        running?" read first: the unique index on active jobs refuses the new job, and the offer is not taken."""
        jobs = resume_all_jobs_table.c
        offered = and_(
            jobs.id == job_id,
            of_workspace(resume_all_jobs_table, workspace),
            jobs.action == "resume",
            jobs.state == "ended",
            jobs.undo_taken_by.is_(None),
        )
        try:
            with self._engine.begin() as connection:
                now = database_now(connection)
                taken = connection.execute(
                    resume_all_jobs_table.update().where(offered, jobs.undo_until > now).values(undo_taken_by=user_id)
                )
                if taken.rowcount == 1:
                    resumed = self._get(connection, job_id)
                    assert resumed is not None
                    return self._start_undo(connection, resumed, user_id, now)
        except IntegrityError:
            pass
        with self._engine.connect() as connection:
            found = self._get(connection, job_id)
            if found is None or found.workspace != workspace:
                return UndoNotTaken(None)
            return UndoNotTaken(found, self._active(connection, workspace))

    def _start_undo(self, connection, resumed: ResumeAllJob, user_id: str, now: datetime) -> ResumeAllJob:
        items = resume_all_items.c
        campaigns = connection.execute(
            select(items.campaign_id, items.name)
            .where(items.job_id == resumed.id, items.outcome == "resumed")
            .order_by(items.position)
        ).all()
        job_id = connection.execute(
            resume_all_jobs_table.insert().values(
                **workspace_key(resumed.workspace),
                requested_by=user_id,
                channel=resumed.channel,
                digest_id=resumed.digest_id,
                state="running",
                action="pause",
                undoes=resumed.id,
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
        job = self._get(connection, int(job_id))
        assert job is not None
        return job

    def progress_posted(self, job_id: int, message_ts: str) -> ResumeAllJob | None:
        """A pause-all job's progress message is in Slack, posted by the run holding it; the job as it is now."""
        with self._engine.begin() as connection:
            connection.execute(
                resume_all_jobs_table.update()
                .where(resume_all_jobs_table.c.id == job_id, resume_all_jobs_table.c.message_ts.is_(None))
                .values(message_ts=message_ts)
            )
            return self._get(connection, job_id)

    def withdraw_expired_undos(self, most: int = 50) -> list[ResumeAllJob]:
        """Pause all again offers whose minutes ran out, nobody having clicked: no longer offered (one process
        withdraws each), for their summary to lose the button."""
        jobs = resume_all_jobs_table.c
        with self._engine.begin() as connection:
            now = database_now(connection)
            expired = (
                connection.execute(
                    select(jobs.id).where(jobs.undo_until < now, jobs.undo_taken_by.is_(None)).limit(most)
                )
                .scalars()
                .all()
            )
            withdrawn = []
            for job_id in expired:
                moved = connection.execute(
                    resume_all_jobs_table.update()
                    .where(jobs.id == job_id, jobs.undo_until < now, jobs.undo_taken_by.is_(None))
                    .values(undo_until=None)
                )
                if moved.rowcount == 1 and (job := self._get(connection, job_id)) is not None:
                    withdrawn.append(job)
            return withdrawn

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
        done = counts["resumed"] + counts["paused"]
        return Progress(
            total=sum(counts.values()),
            resumed=done,
            not_paused=not_paused,
            skipped=counts["skipped"],
            failed=tried - done - not_paused - counts["skipped"] - unknown,
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
            action=row["action"],
            undoes=row["undoes"],
            summary_ts=row["summary_ts"],
            undo_until=utc(row["undo_until"]),
            undo_taken_by=row["undo_taken_by"],
        )


def _item(row) -> JobItem:
    return JobItem(row["position"], row["campaign_id"], row["name"], row["outcome"], row["detail"])
