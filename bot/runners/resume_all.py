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
from datetime import UTC, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import truedy
from bot.resume import (
    BotFailure,
    Interrupted,
    ResumeOutcome,
    ResumeRequest,
    ResumeService,
    UnattendedNotAllowed,
    WorkspaceNotConfigured,
    outcome_name,
)
from bot.slack import pause_again
from bot.slack.blocks import messages, pause_blocks, resume_all_blocks
from bot.slack.digest_message import render_digest, row_after
from bot.slack.replies import log_refusal, update_message
from bot.storage.alert_records import AlertRecords
from bot.storage.digests import AlertDigests
from bot.storage.inflight import AlreadyResuming, Claim
from bot.storage.resume_all_jobs import JobItem, Progress, ResumeAllJob, ResumeAllJobs
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
UNATTENDED_REVOKED = "unattended workflow runs were no longer allowed in this workspace (setup), so the job stopped"
# A run that failed (the database went away, a bug) leaves its job alone this long before any run tries again.
FAILED_RUN_RETRY = timedelta(seconds=30)


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
        pauses: pause_again.PauseAll | None = None,
        undo_minutes: int = 0,
    ):
        self.jobs = jobs
        self.resumes = resumes
        self.pauses = pauses  # what Pause all again's jobs pause with
        self.undo_minutes = undo_minutes  # a finished resume-all offers Pause all again this long (0: never)
        self.digests = digests
        self.alerts = alerts
        self.slack_for = slack_for
        self.per_minute = per_minute
        self.stop_event = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resume-all", daemon=True)
        self._pool = ThreadPoolExecutor(JOB_THREADS, thread_name_prefix="resume-all-job")
        self._running = threading.Semaphore(JOB_THREADS)
        self._runs: set[JobRun] = set()
        self._runs_lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Jobs stop before their next campaign and are let go, for the next worker to take over."""
        self.stop_event.set()
        with self._runs_lock:
            for run in self._runs:
                run.wake()

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
            # A token per run, not per worker: should this worker stall past its lease and take the same
            # job again, the stalled run is no longer its holder and can neither send nor end it.
            run_id = secrets.token_hex(8)
            try:
                job = self.jobs.take(run_id)
            except BaseException:
                self._running.release()
                raise
            if job is None:
                self._running.release()
                return
            self._pool.submit(self._run_job, job, run_id)

    def _run_job(self, job: ResumeAllJob, run_id: str) -> None:
        run = None
        try:
            slack = self.slack_for(job.workspace)
            if slack is None:
                self.jobs.end(job.id, run_id, "stopped")  # uninstalled meanwhile: nowhere to report, nothing to use
                return
            run = JobRun(self, job, run_id, slack)
            with self._runs_lock:
                self._runs.add(run)
            if self.stop_event.is_set():
                run.wake()
            run.run()
        except Exception:
            log.exception("resume-all job failed", extra={"fields": {"event": "resume_all_failed", "job": job.id}})
            try:
                self.jobs.let_go(job.id, run_id, retry_in=FAILED_RUN_RETRY)
            except SQLAlchemyError:
                log.exception("resume-all job not let go", extra={"fields": {"event": "resume_all_failed"}})
        finally:
            with self._runs_lock:
                self._runs.discard(run)  # type: ignore[arg-type]
            self._running.release()


class JobRun:
    """One worker's turn at one job, until it ends, is let go at a restart, or its lease is lost.

    Its lease is renewed by a thread of its own, so that no wait of the run (the pace, Truedy's rate limit,
    a slow Truedy, Slack's retries) lets it run out; a run whose lease is lost sends nothing more."""

    def __init__(self, runner: ResumeAllRunner, job: ResumeAllJob, run_id: str, slack: WebClient):
        self._runner = runner
        self._jobs = runner.jobs
        self._job = job
        self._run_id = run_id
        self._slack = slack
        self._interval = 60.0 / runner.per_minute
        self._last_sent = 0.0
        self._shown_at = 0.0
        self._note: str | None = None
        self._digests_changed: set[int] = set()
        # Set to cut a wait short: stopping, cancelled, or the lease lost.
        self._wake = threading.Event()
        self._lease_lost = threading.Event()
        self._done = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def run(self) -> None:
        fields = {"event": "resume_all_running", "job": self._job.id, "run": self._run_id}
        log.info("resume-all running", extra={"fields": fields})
        keeper = threading.Thread(target=self._keep_lease, name="resume-all-lease", daemon=True)
        keeper.start()
        try:
            self._abandon_left_sending()
            if self._job.pauses and self._job.message_ts is None:
                self._post_pausing()
            self._work()
        finally:
            self._done.set()

    def _post_pausing(self) -> None:
        """Pause all again's progress message, posted by the run that holds the job (never by the click, whose
        process may die, or whose post may come after the job ended): a job never runs unreported."""
        job = self._job
        counts = self._jobs.progress(job.id)
        message = resume_all_blocks.progress(job, counts, datetime.now(UTC), self._runner.per_minute)
        try:
            posted = self._slack.chat_postMessage(channel=job.channel, **message)
        except SlackApiError as error:
            log_refusal("pause_all_progress", error)  # it runs anyway; its summary goes in the resume-all's thread
            return
        self._job = self._jobs.progress_posted(job.id, posted["ts"]) or job

    def _work(self) -> None:
        while True:
            job = None if self._lease_lost.is_set() else self._jobs.renew(self._job.id, self._run_id)
            if job is None:
                self._log_lease_lost()
                return
            self._job = job
            if self._runner.stop_event.is_set():
                self._jobs.let_go(job.id, self._run_id)
                self._show(resume_all_blocks.restarting_note(), force=True)
                return
            if job.state == "cancelling":
                self._end("cancelled")
                return
            now = datetime.now(UTC)
            if job.not_before is not None and job.not_before > now:
                self._show(resume_all_blocks.rate_limited_note(job.not_before))
                self._wait(min(5.0, (job.not_before - now).total_seconds()))
                continue
            item = self._jobs.next_item(job.id)
            if item is None:
                self._end("finished")
                return
            if self._wait(self._last_sent + self._interval - time.monotonic()):
                continue  # stopping, cancelled or the lease lost: the top of the loop says which
            if job.unattended and self._no_longer_allowed():
                # An admin unticked unattended workflow runs meanwhile: it stops now, not at its end.
                self._jobs.record(job.id, item.position, "not_allowed", UNATTENDED_REVOKED)
                self._end("stopped")
                return
            if not self._jobs.start_sending(job.id, item.position, self._run_id):
                continue  # the lease ran out: nothing is sent, and the top of the loop ends this run
            self._last_sent = time.monotonic()
            if self._pause(job, item) if job.pauses else self._resume(job, item):
                self._end("stopped")
                return
            self._show(None)

    def _no_longer_allowed(self) -> bool:
        job, resumes = self._job, self._runner.resumes
        return isinstance(
            resumes.refusal(job.workspace, job.requested_by, self._slack, unattended=True), UnattendedNotAllowed
        )

    def _wait(self, seconds: float) -> bool:
        """Wait, unless something cuts it short; True when it did."""
        woken = self._wake.wait(max(0.0, seconds))
        self._wake.clear()
        return woken

    def _keep_lease(self) -> None:
        lease = self._jobs.lease.total_seconds()
        renewed_at = time.monotonic()
        while not self._done.wait(lease / 3):
            try:
                job = self._jobs.renew(self._job.id, self._run_id)
            except SQLAlchemyError:
                log.warning("resume-all lease not renewed", extra={"fields": {"event": "lease_not_renewed"}})
                job = self._job if time.monotonic() - renewed_at < lease else None
            else:
                renewed_at = time.monotonic()
            if job is None:
                self._lease_lost.set()
                self._wake.set()
                return
            if job.state == "cancelling":
                self._wake.set()

    def _log_lease_lost(self) -> None:
        fields = {"event": "resume_all_lease_lost", "job": self._job.id, "run": self._run_id}
        log.warning("resume-all lease lost: this run stops", extra={"fields": fields})

    def _request(self, job: ResumeAllJob, campaign_id: str) -> ResumeRequest:
        via = "workflow" if job.workflow else "resume_all"  # a workflow's resumes are audited as its run's
        return ResumeRequest(
            job.workspace.team_id,
            job.requested_by,
            CampaignId(campaign_id),
            via,
            job.workspace.enterprise_id,
            workflow=job.workflow,
            unattended=job.unattended,
            allowed_by=job.allowed_by,
        )

    def _abandon_left_sending(self) -> None:
        """Campaigns whose request a run that died may or may not have sent: never sent again, but named."""
        interrupted = Interrupted("the bot stopped before Truedy answered")
        job = self._job
        for item in self._jobs.left_sending(job.id):
            if job.pauses and self._runner.pauses is not None:
                # A pause, audited as one ("paused again by"), not counted among resumes.
                audit = self._runner.pauses.audit
                pause_again.record(audit, job.workspace, item.campaign_id, job.requested_by, "interrupted", None, None)
            else:
                self._runner.resumes.record_refusal(self._request(job, item.campaign_id), "interrupted")
            self._jobs.record(job.id, item.position, "interrupted", messages.explain(interrupted)[0])

    def _resume(self, job: ResumeAllJob, item: JobItem) -> bool:
        """Resume one campaign and record how it went; True when the job must stop (the key is refused). The
        campaign stays claimed until its outcome is recorded and shown, as a single resume's does: the watcher
        polls no workspace while one of its campaigns is claimed, so it cannot mark the row "not paused any
        more" in between."""
        request = self._request(job, item.campaign_id)
        resumes = self._runner.resumes
        claim: Claim | AlreadyResuming | None = None
        try:
            try:
                claim = resumes.claim(request)
                outcome = resumes.resume(request, claim) if isinstance(claim, Claim) else claim
            except WorkspaceNotConfigured:
                self._jobs.record(job.id, item.position, "not_connected", "this workspace is not connected to Truedy")
                return True
            except Exception:
                # Recorded and named like any failure, and never sent again: the job goes on with the next one.
                log.exception("resume-all campaign failed inside the bot", extra={"fields": {"event": "resume_failed"}})
                resumes.record_refusal(request, "bot_failure")
                outcome = BotFailure("the bot failed while resuming")
            if isinstance(outcome, AlreadyResuming):
                self._jobs.record(
                    job.id, item.position, "skipped", f"<@{outcome.user_id}> was resuming it at that moment"
                )
                return False
            if isinstance(outcome, truedy.RateLimited):
                # Not this campaign's failure (Truedy did nothing): it stays next, for when the key's limit resets.
                self._jobs.defer(job.id, item.position, outcome.retry_at_or_in_a_minute())
                return False
            detail = None if isinstance(outcome, truedy.Resumed) else messages.explain(outcome)[0]
            self._jobs.record(job.id, item.position, outcome_name(outcome), detail)
            self._show_in_digest(job, item.campaign_id, outcome)
            return isinstance(outcome, KEY_FAILURES)
        finally:
            if isinstance(claim, Claim):
                try:
                    resumes.release(claim)
                except SQLAlchemyError:  # the claim expires by itself; the outcome is recorded already
                    log.exception("resume lock not released", extra={"fields": {"event": "release_failed"}})

    def _pause(self, job: ResumeAllJob, item: JobItem) -> bool:
        """Pause all again: pause one campaign (under its claim: a pause and a resume of it never cross) and record
        how it went; True when the job must stop (the key is refused). Its old alert is left as the resume left
        it: the watcher alerts the new pause as any other."""
        assert self._runner.pauses is not None
        try:
            outcome = self._runner.pauses.pause(job.workspace, job.requested_by, item.campaign_id)
        except Exception:
            # The claim, the key or the audit failed around the request: whether it left is not known.
            log.exception("pause-all campaign failed inside the bot", extra={"fields": {"event": "pause_failed"}})
            outcome = BotFailure("the bot failed while pausing")
        if outcome is None:
            self._jobs.record(job.id, item.position, "not_connected", "this workspace is not connected to Truedy")
            return True
        if isinstance(outcome, AlreadyResuming):
            changing = f"<@{outcome.user_id}> was resuming or pausing it at that moment"
            self._jobs.record(job.id, item.position, "skipped", changing)
            return False
        if isinstance(outcome, truedy.RateLimited):
            self._jobs.defer(job.id, item.position, outcome.retry_at_or_in_a_minute())
            return False
        detail = None if isinstance(outcome, truedy.Paused) else pause_blocks.explain_pause(outcome)[0]
        name = "paused" if isinstance(outcome, truedy.Paused) else outcome_name(outcome)
        self._jobs.record(job.id, item.position, name, detail)
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

    def _post_summary(self, job: ResumeAllJob, counts: Progress) -> None:
        """In the progress message's thread. A resume-all that resumed some offers Pause all again under it for
        UNDO_MINUTES (to those who may resume), as a single resume offers Pause again: recorded before it shows,
        so that a click always finds it."""
        undo = self._runner.undo_minutes if counts.resumed and not job.pauses else 0
        if undo:
            job = self._jobs.offer_undo(job.id, timedelta(minutes=undo)) or job
        thread = job.message_ts
        if thread is None and job.undoes is not None:
            # Pause all again whose progress message Slack refused: its summary goes under the resume-all it undoes.
            thread = (undone := self._jobs.get(job.undoes)) and undone.message_ts
        if thread is None:
            return  # nowhere it belongs (a workflow's resume all: its step says how it went)
        summary = resume_all_blocks.summary(job, counts, self._jobs.items(job.id))
        try:
            posted = self._slack.chat_postMessage(channel=job.channel, thread_ts=thread, **summary)
        except SlackApiError as error:
            log_refusal("resume_all_summary", error)
            return
        self._jobs.summary_posted(job.id, posted["ts"])

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
        if not self._jobs.end(self._job.id, self._run_id, ending):
            self._log_lease_lost()  # the run that took it over ends it
            return
        job = self._jobs.get(self._job.id) or self._job
        self._job = job
        counts = self._jobs.progress(job.id)
        self._show(None, force=True)
        self._post_summary(job, counts)
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
