"""Resume-all jobs in the database: one runner at a time per job, taken over when its worker is gone; one
running job per workspace; confirmed and cancelled only as the buttons allow."""

import importlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot import storage, truedy
from bot.resume import BotFailure, Interrupted, NotSent, outcome_name
from bot.storage import inflight
from bot.storage.digests import AlertDigests
from bot.storage.resume_all_jobs import MAY_HAVE_RESUMED, ResumeAllJobs
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy import Campaign

# The table (the package's attribute of the same name is the module once that is imported).
JOBS = storage.metadata.tables["resume_all_jobs"]
ACME, OTHER = WorkspaceId("", "T0ACME001"), WorkspaceId("", "T0OTHER01")
CAMPAIGNS = [(f"batch_j{n:05d}", f"Wave {n}") for n in range(3)]


def test_a_job_runs_on_one_worker_at_a_time_and_is_taken_over_when_let_go(engine):
    jobs = ResumeAllJobs(engine)
    job_id = jobs.propose(ACME, "U0ALICE01", "C1", CAMPAIGNS)
    assert jobs.take("worker-a") is None  # proposed: nobody runs it before it is confirmed
    confirmed = jobs.confirm(job_id, ACME, "U0ALICE01", "1.1")
    assert confirmed is not None and confirmed.state == "running" and confirmed.message_ts == "1.1"

    assert jobs.take("worker-a").id == job_id
    assert jobs.take("worker-b") is None
    assert jobs.renew(job_id, "worker-b") is None and jobs.renew(job_id, "worker-a") is not None
    jobs.let_go(job_id, "worker-a")
    assert jobs.take("worker-b").id == job_id
    assert jobs.renew(job_id, "worker-a") is None  # the old holder can no longer act for it


def test_a_lease_that_ran_out_lets_another_worker_take_the_job(engine):
    jobs = ResumeAllJobs(engine, lease=timedelta(seconds=-1))  # every lease has already run out
    job_id = jobs.propose(ACME, "U0ALICE01", "C1", CAMPAIGNS)
    jobs.confirm(job_id, ACME, "U0ALICE01", "1.1")
    assert jobs.take("worker-a").id == job_id
    assert jobs.take("worker-b").id == job_id


def test_a_run_that_lost_its_lease_sends_nothing_even_on_the_same_worker(engine):
    jobs = ResumeAllJobs(engine, lease=timedelta(seconds=-1))
    job_id = running_job(jobs)
    assert jobs.take("run-1").id == job_id
    # Its lease ran out (a wait longer than the lease): the same worker takes the job as a new run.
    assert jobs.take("run-2").id == job_id
    assert jobs.renew(job_id, "run-1") is None
    assert jobs.start_sending(job_id, 0, "run-1") is False
    assert jobs.end(job_id, "run-1", "finished") is False
    assert jobs.get(job_id).state == "running"


def test_an_item_is_marked_sending_once_and_only_under_a_live_lease(engine):
    jobs = ResumeAllJobs(engine, lease=timedelta(seconds=30))
    job_id = running_job(jobs)
    assert jobs.start_sending(job_id, 0, "run-1") is False  # nobody holds the job yet
    jobs.take("run-1")
    assert jobs.start_sending(job_id, 0, "run-1") is True
    assert jobs.start_sending(job_id, 0, "run-1") is False  # never twice
    assert jobs.next_item(job_id).position == 1
    assert jobs.progress(job_id).left == 4  # being sent is not done
    # The run dies here; the next run finds the item it may or may not have sent.
    assert [item.position for item in jobs.left_sending(job_id)] == [0]
    with engine.begin() as connection:  # the lease runs out, by the database's clock
        connection.execute(update(JOBS).values(lease_expires_at=datetime(2000, 1, 1, tzinfo=UTC)))
    assert jobs.start_sending(job_id, 1, "run-1") is False


def test_a_rate_limited_item_is_tried_again_after_the_reset(engine):
    jobs = ResumeAllJobs(engine)
    job_id = running_job(jobs)
    jobs.take("run-1")
    assert jobs.start_sending(job_id, 0, "run-1")
    reset = datetime.now(UTC) + timedelta(seconds=30)
    jobs.defer(job_id, 0, reset)
    assert jobs.next_item(job_id).position == 0
    assert abs(jobs.get(job_id).not_before - reset) < timedelta(seconds=1)


def test_leases_and_claims_follow_the_database_clock_not_the_host(engine, monkeypatch):
    jobs = ResumeAllJobs(engine, lease=timedelta(seconds=60))
    job_id = running_job(jobs)
    assert jobs.take("worker-a").id == job_id
    claims = inflight.InFlightResumes(engine)
    assert isinstance(claims.claim("", "T0ACME001", "batch_j00000", "U0ALICE01"), inflight.Claim)

    class AheadBy90Seconds(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.now(tz) + timedelta(seconds=90)

    # A worker whose clock runs 90 s ahead sees every 60 s lease as run out, unless it asks the database.
    jobs_module = importlib.import_module("bot.storage.resume_all_jobs")
    monkeypatch.setattr(jobs_module, "datetime", AheadBy90Seconds)
    monkeypatch.setattr(inflight, "datetime", AheadBy90Seconds, raising=False)
    monkeypatch.setattr(storage, "datetime", AheadBy90Seconds)
    assert jobs.take("worker-b") is None
    assert isinstance(
        inflight.InFlightResumes(engine).claim("", "T0ACME001", "batch_j00000", "U0BOB0001"), inflight.AlreadyResuming
    )


def test_the_database_refuses_a_second_active_job_in_a_workspace(engine):
    jobs = ResumeAllJobs(engine)
    first, second = running_job(jobs), jobs.propose(ACME, "U0BOB0001", "C1", CAMPAIGNS)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(update(JOBS).where(JOBS.c.id == second).values(state="running"))
    assert jobs.running_in(ACME).id == first


def test_confirmations_at_the_same_moment_start_one_job(engine):
    jobs = ResumeAllJobs(engine)
    for attempt in range(10):
        proposals = [jobs.propose(ACME, f"U0USER{n:04d}", "C1", CAMPAIGNS) for n in range(4)]
        barrier = threading.Barrier(len(proposals))
        started: list = []

        def confirm(job_id: int, user: str, barrier=barrier, started=started) -> None:
            barrier.wait()
            started.append(jobs.confirm(job_id, ACME, user, f"{job_id}.1"))

        threads = [
            threading.Thread(target=confirm, args=(job_id, f"U0USER{n:04d}")) for n, job_id in enumerate(proposals)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with engine.connect() as connection:
            active = connection.execute(select(JOBS.c.id).where(JOBS.c.state == "running")).all()
        assert len(active) == 1
        assert {job.id for job in started} == {active[0].id}  # everyone is shown the one that runs
        jobs.take(f"run-{attempt}")
        assert jobs.end(active[0].id, f"run-{attempt}", "finished")


def running_job(jobs: ResumeAllJobs) -> int:
    job_id = jobs.propose(ACME, "U0ALICE01", "C1", [*CAMPAIGNS, ("batch_j00003", None)])
    jobs.confirm(job_id, ACME, "U0ALICE01", "1.1")
    return job_id


def test_items_are_worked_through_in_order_and_counted(engine):
    jobs = ResumeAllJobs(engine)
    job_id = jobs.propose(ACME, "U0ALICE01", "C1", CAMPAIGNS)
    assert jobs.next_item(job_id).campaign_id == "batch_j00000"
    jobs.record(job_id, 0, "resumed", None)
    jobs.record(job_id, 1, "not_resumable", "it is running already")
    assert jobs.next_item(job_id).campaign_id == "batch_j00002"
    jobs.record(job_id, 2, "key_rejected", "Truedy rejected the key")
    progress = jobs.progress(job_id)
    assert (progress.total, progress.resumed, progress.not_paused, progress.failed, progress.left) == (3, 1, 1, 1, 0)
    assert progress.unknown == 0
    assert jobs.next_item(job_id) is None


def test_an_item_without_a_clear_answer_counts_as_may_have_resumed_not_failed(engine):
    jobs = ResumeAllJobs(engine)
    job_id = jobs.propose(ACME, "U0ALICE01", "C1", CAMPAIGNS)
    jobs.record(job_id, 0, "no_answer", "Truedy did not answer within 10 seconds")
    jobs.record(job_id, 1, "truedy_server_error", "Truedy had an internal error (HTTP 500)")
    jobs.record(job_id, 2, "key_rejected", "Truedy rejected the key")
    progress = jobs.progress(job_id)
    assert (progress.failed, progress.unknown, progress.left) == (1, 2, 0)


def test_the_outcomes_counted_as_may_have_resumed_are_those_of_the_unknown_errors():
    unknown = [
        truedy.NoAnswer("x", 1.0),
        truedy.UnreadableAnswer("x", None, 200),
        truedy.TruedyServerError("x", None, 500),
        BotFailure("x"),
        Interrupted("x"),
    ]
    assert all(error.outcome_unknown for error in unknown)
    assert sorted(outcome_name(error) for error in unknown) == sorted(MAY_HAVE_RESUMED)
    definite = [truedy.KeyRejected("x"), truedy.RateLimited("x", None, None), truedy.TruedyUnreachable("x")]
    definite += [NotSent("x"), truedy.NotResumable("x", None, "active"), truedy.CampaignNotFound("x")]
    assert not any(error.outcome_unknown or outcome_name(error) in MAY_HAVE_RESUMED for error in definite)


def test_only_the_requester_confirms_a_proposal_and_only_once(engine):
    jobs = ResumeAllJobs(engine)
    job_id = jobs.propose(ACME, "U0ALICE01", "C1", CAMPAIGNS)
    assert jobs.confirm(job_id, ACME, "U0MALLORY", "1.1") is None
    assert jobs.confirm(job_id, OTHER, "U0ALICE01", "1.1") is None
    assert jobs.confirm(job_id, ACME, "U0ALICE01", "1.1").id == job_id
    again = jobs.confirm(job_id, ACME, "U0ALICE01", "1.2")
    assert again.id == job_id and again.message_ts == "1.1"  # the running job, unchanged


def test_one_job_runs_per_workspace(engine):
    jobs = ResumeAllJobs(engine)
    first = jobs.propose(ACME, "U0ALICE01", "C1", CAMPAIGNS)
    jobs.confirm(first, ACME, "U0ALICE01", "1.1")
    second = jobs.propose(ACME, "U0BOB0001", "C1", CAMPAIGNS)
    assert jobs.confirm(second, ACME, "U0BOB0001", "1.2").id == first
    assert jobs.get(second).state == "proposed"
    elsewhere = jobs.propose(OTHER, "U0BOB0001", "C9", CAMPAIGNS)
    assert jobs.confirm(elsewhere, OTHER, "U0BOB0001", "9.1").id == elsewhere
    run = "run-1"
    assert jobs.take(run).id in (first, elsewhere)
    assert jobs.end(first, "run-2", "finished") is False  # only the run that holds a job ends it
    while (taken := jobs.take(f"run-{first}")) is not None and taken.id != first:
        pass
    assert jobs.end(first, f"run-{first}", "finished") is True
    assert jobs.confirm(second, ACME, "U0BOB0001", "1.2").id == second


def test_only_a_running_job_of_the_workspace_can_be_cancelled(engine):
    jobs = ResumeAllJobs(engine)
    job_id = jobs.propose(ACME, "U0ALICE01", "C1", CAMPAIGNS)
    assert jobs.cancel(job_id, ACME, "U0BOB0001") is None  # not started
    jobs.confirm(job_id, ACME, "U0ALICE01", "1.1")
    assert jobs.cancel(job_id, OTHER, "U0BOB0001") is None
    cancelling = jobs.cancel(job_id, ACME, "U0BOB0001")
    assert cancelling.state == "cancelling" and cancelling.cancelled_by == "U0BOB0001"
    jobs.take("run-1")
    jobs.end(job_id, "run-1", "cancelled")
    assert jobs.cancel(job_id, ACME, "U0BOB0001") is None


def test_a_digest_is_rendered_again_by_whoever_sees_it_changed(engine):
    digests = AlertDigests(engine)
    campaigns = [Campaign(c, name, "paused", None, None, None, None, None, None, None) for c, name in CAMPAIGNS]
    digest_id = digests.create(ACME, "C1", campaigns)
    digests.posted(digest_id, "C1", "1.1")
    assert digests.find(ACME, "C1", "1.1") == digest_id and digests.find(OTHER, "C1", "1.1") is None
    before = digests.version(digest_id)
    digests.set_row(digest_id, "batch_j00001", "resumed", "Resumed by <@U0ALICE01>")
    digests.set_row(digest_id, "batch_j99999", "resumed", "not one of its rows")
    assert digests.version(digest_id) == before + 1
    assert [row.kind for row in digests.get(digest_id).rows] == ["paused", "resumed", "paused"]
