"""Resume-all jobs in the database: one runner at a time per job, taken over when its worker is gone; one
running job per workspace; confirmed and cancelled only as the buttons allow."""

from datetime import timedelta

from bot.storage.digests import AlertDigests
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy import Campaign

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


def test_items_are_worked_through_in_order_and_counted(engine):
    jobs = ResumeAllJobs(engine)
    job_id = jobs.propose(ACME, "U0ALICE01", "C1", CAMPAIGNS)
    assert jobs.next_item(job_id).campaign_id == "batch_j00000"
    jobs.record(job_id, 0, "resumed", None)
    jobs.record(job_id, 1, "not_resumable", "it is running already")
    assert jobs.next_item(job_id).campaign_id == "batch_j00002"
    jobs.record(job_id, 2, "truedy_server_error", "Truedy had an error")
    progress = jobs.progress(job_id)
    assert (progress.total, progress.resumed, progress.not_paused, progress.failed, progress.left) == (3, 1, 1, 1, 0)
    assert jobs.next_item(job_id) is None


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
    jobs.end(first, "finished")
    assert jobs.confirm(second, ACME, "U0BOB0001", "1.2").id == second


def test_only_a_running_job_of_the_workspace_can_be_cancelled(engine):
    jobs = ResumeAllJobs(engine)
    job_id = jobs.propose(ACME, "U0ALICE01", "C1", CAMPAIGNS)
    assert jobs.cancel(job_id, ACME, "U0BOB0001") is None  # not started
    jobs.confirm(job_id, ACME, "U0ALICE01", "1.1")
    assert jobs.cancel(job_id, OTHER, "U0BOB0001") is None
    cancelling = jobs.cancel(job_id, ACME, "U0BOB0001")
    assert cancelling.state == "cancelling" and cancelling.cancelled_by == "U0BOB0001"
    jobs.end(job_id, "cancelled")
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
