"""Resume all: working through a job's campaigns one after another at Truedy's rate for the key, showing
the progress in one message, and going on after a restart from where it stopped.

Hand-written rather than on a job library: those that run on both SQLite and PostgreSQL (APScheduler 3's
SQLAlchemy job store, huey's SQL storage) schedule function calls, but a job store shared by several
processes is unsupported in APScheduler 3 (it runs jobs twice) and huey needs a consumer process of its own;
neither keeps per-campaign progress, pacing per key, cancellation or the progress message, which are what
this needs. What is left to write is a lease on a row (`ResumeAllJobs.take`/`renew`) and a paced loop.
"""

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import truedy
from bot.resume import ResumeOutcome, ResumeRequest, ResumeService, WorkspaceNotConfigured, outcome_name
from bot.slack import messages, resume_all_blocks
from bot.slack.digest_message import render_digest, row_after
from bot.slack.replies import log_refusal, update_message
from bot.storage.alert_records import AlertRecords
from bot.storage.digests import AlertDigests
from bot.storage.inflight import AlreadyResuming, Claim
from bot.storage.resume_all_jobs import JobItem, ResumeAllJob, ResumeAllJobs
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId

log = logging.getLogger("bot.resume_all")

TICK_SECONDS = 1.0
# Jobs one worker runs at once (one per workspace at most; each waits on its own key's rate).
JOB_THREADS = 4
# The progress message (and a digest's rows) are updated at most this often: Slack's chat.update allows
# about one a second per channel, shared with everything else the bot posts there.
PROGRESS_SECONDS = 3.0
# Failures that every other campaign would meet too: the job stops instead of spending the rate on them.
KEY_FAILURES = (truedy.KeyRejected, truedy.BillingProblem, truedy.IpNotAllowed)


class ResumeAllRunner:
    def __init__(
        self,
        *,
        jobs: ResumeAllJobs,
        resumes: ResumeService,
        digests: AlertDigests,
        alerts: AlertRecords,
        slack_for: Callable[[WorkspaceId], WebClient | None],
        per_minute: int,
    ):
        self.jobs = jobs
        self.resumes = resumes
        self.digests = digests
        self.alerts = alerts
        self.slack_for = slack_for
        self.per_minute = per_minute
        self.owner = secrets.token_hex(8)
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resume-all", daemon=True)
        self._pool = ThreadPoolExecutor(JOB_THREADS, thread_name_prefix="resume-all-job")
        self._running = threading.Semaphore(JOB_THREADS)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Jobs stop before their next campaign and are let go, for the next worker to take over."""
        self.stop_event.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)
        self._pool.shutdown(wait=False)
        deadline = time.monotonic() + timeout
        for _ in range(JOB_THREADS):  # every job thread gives its slot back once it let its job go
            if not self._running.acquire(timeout=max(0.0, deadline - time.monotonic())):
                return

    def _run(self) -> None:
        while not self.stop_event.wait(TICK_SECONDS):
            try:
                self._take_jobs()
            except Exception:
                log.exception("taking resume-all jobs failed", extra={"fields": {"event": "resume_all_failed"}})

    def _take_jobs(self) -> None:
        while not self.stop_event.is_set() and self._running.acquire(blocking=False):
            job = self.jobs.take(self.owner)
            if job is None:
                self._running.release()
                return
            self._pool.submit(self._run_job, job)

    def _run_job(self, job: ResumeAllJob) -> None:
        try:
            slack = self.slack_for(job.workspace)
            if slack is None:
                self.jobs.end(job.id, "stopped")  # uninstalled meanwhile: nowhere to report, nothing to use
                return
            JobRun(self, job, slack).run()
        except Exception:
            log.exception("resume-all job failed", extra={"fields": {"event": "resume_all_failed", "job": job.id}})
            self.jobs.let_go(job.id, self.owner)
        finally:
            self._running.release()


class JobRun:
    """One worker's turn at one job, until it ends, is let go at a restart, or its lease is lost."""

    def __init__(self, runner: ResumeAllRunner, job: ResumeAllJob, slack: WebClient):
        self._runner = runner
        self._jobs = runner.jobs
        self._job = job
        self._slack = slack
        self._interval = 60.0 / runner.per_minute
        self._last_sent = 0.0
        self._shown_at = 0.0
        self._note: str | None = None
        self._digests_changed: set[int] = set()

    def run(self) -> None:
        log.info("resume-all running", extra={"fields": {"event": "resume_all_running", "job": self._job.id}})
        while True:
            job = self._jobs.renew(self._job.id, self._runner.owner)
            if job is None:
                return  # another worker took it over (this one stalled past its lease)
            self._job = job
            if self._runner.stop_event.is_set():
                self._jobs.let_go(job.id, self._runner.owner)
                self._show(resume_all_blocks.restarting_note(), force=True)
                return
            if job.state == "cancelling":
                self._end("cancelled")
                return
            now = datetime.now(UTC)
            if job.not_before is not None and job.not_before > now:
                self._show(resume_all_blocks.rate_limited_note(job.not_before))
                self._runner.stop_event.wait(min(5.0, (job.not_before - now).total_seconds()))
                continue
            item = self._jobs.next_item(job.id)
            if item is None:
                self._end("finished")
                return
            if self._runner.stop_event.wait(max(0.0, self._last_sent + self._interval - time.monotonic())):
                continue  # stopping: let go at the top of the loop
            self._last_sent = time.monotonic()
            if self._resume(job, item):
                self._end("stopped")
                return
            self._show(None)

    def _resume(self, job: ResumeAllJob, item: JobItem) -> bool:
        """Resume one campaign and record how it went; True when the job must stop (the key is refused)."""
        request = ResumeRequest(
            job.workspace.team_id,
            job.requested_by,
            CampaignId(item.campaign_id),
            "resume_all",
            job.workspace.enterprise_id,
        )
        resumes = self._runner.resumes
        outcome = claim = resumes.claim(request)
        if isinstance(claim, Claim):
            try:
                outcome = resumes.resume(request, claim)
            except WorkspaceNotConfigured:
                self._jobs.record(job.id, item.position, "not_connected", "this workspace is not connected to Truedy")
                return True
            finally:
                resumes.release(claim)
        if isinstance(outcome, AlreadyResuming):
            self._jobs.record(job.id, item.position, "skipped", f"<@{outcome.user_id}> was resuming it at that moment")
            return False
        if isinstance(outcome, truedy.RateLimited):
            # Not this campaign's failure: it stays next, for when the key's limit resets.
            self._jobs.defer(job.id, outcome.retry_at_or_in_a_minute())
            return False
        detail = None if isinstance(outcome, truedy.Resumed) else messages.explain(outcome)[0]
        self._jobs.record(job.id, item.position, outcome_name(outcome), detail)
        self._show_in_digest(job, item.campaign_id, outcome)
        return isinstance(outcome, KEY_FAILURES)

    def _show_in_digest(self, job: ResumeAllJob, campaign_id: str, outcome: ResumeOutcome) -> None:
        """A campaign alerted in a digest: its row says how it went (rendered with the progress). A campaign
        with an alert of its own is left to the watcher, which shows it is not paused any more."""
        digest_id = job.digest_id
        if digest_id is None:
            alert = self._runner.alerts.open_alert(job.workspace, campaign_id)
            digest_id = alert and self._runner.digests.find(job.workspace, alert.channel, alert.message_ts)
        if digest_id is None:
            return
        kind, line = row_after(job.requested_by, outcome)
        self._runner.digests.set_row(digest_id, campaign_id, kind, line)
        self._digests_changed.add(digest_id)
        if kind != "failed":  # this pause is over: the watcher must not alert it again or rewrite the row
            self._runner.alerts.close(job.workspace, campaign_id)

    def _show(self, note: str | None, force: bool = False) -> None:
        """Update the progress message (and the digest it came from), at most every PROGRESS_SECONDS
        unless something changed that people must see now."""
        if not force and note == self._note and time.monotonic() - self._shown_at < PROGRESS_SECONDS:
            return
        self._note, self._shown_at = note, time.monotonic()
        job, per_minute = self._job, self._runner.per_minute
        if job.message_ts is not None:
            message = resume_all_blocks.progress(job, self._jobs.progress(job.id), datetime.now(UTC), per_minute, note)
            update_message(self._slack, job.channel, job.message_ts, message["text"], message["blocks"])
        for digest_id in sorted(self._digests_changed):
            render_digest(self._slack, self._runner.digests, digest_id, per_minute)
        self._digests_changed.clear()

    def _end(self, ending: str) -> None:
        self._jobs.end(self._job.id, ending)
        job = self._jobs.get(self._job.id) or self._job
        self._job = job
        counts = self._jobs.progress(job.id)
        self._show(None, force=True)
        if job.message_ts is not None:
            summary = resume_all_blocks.summary(job, counts, self._jobs.items(job.id))
            try:
                self._slack.chat_postMessage(channel=job.channel, thread_ts=job.message_ts, **summary)
            except SlackApiError as error:
                log_refusal("resume_all_summary", error)
        log.info(
            "resume-all ended",
            extra={
                "fields": {
                    "event": "resume_all_ended",
                    "job": job.id,
                    "team": job.workspace.team_id,
                    "ending": ending,
                    "resumed": counts.resumed,
                    "failed": counts.failed,
                    "total": counts.total,
                }
            },
        )
