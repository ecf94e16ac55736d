"""Workflow step runs that no request thread is waiting on (bot.storage.step_runs has their states and moves):

- a resume-all step waiting for its job is completed, with the job's counts, once the job ends or its wait is
  over (nothing sleeps on a thread meanwhile: the lookups people wait for stay free);
- a completion Slack could not be told (unreachable, rate-limited) is sent again;
- the leases of this process's runs are renewed while it lives;
- runs whose process died (their lease ran out) are ended by their state: never sent, failed saying nothing was
  resumed (a resume all whose job had started waits for that job instead); maybe sent, failed saying it may have
  resumed (never sent again); waiting, completed as above; completing, their completion sent again. No step
  runs twice.
"""

import logging
import threading
from collections.abc import Callable

from slack_sdk import WebClient

from bot.slack.blocks import messages
from bot.slack.workflow_steps import resume_all_completion, tell_slack
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.step_runs import StepRunRecord, StepRuns
from bot.storage.workspace_settings import WorkspaceId

log = logging.getLogger("bot.steps")

TICK_SECONDS = 1.0
# Leases renewed, completions sent again and dead processes' runs looked for this often.
EVERY_TICKS = 10
PRUNE_EVERY_TICKS = 3600

NEVER_SENT = (
    ":pause_button: The bot stopped before this step resumed anything: nothing was sent to Truedy. Run the workflow "
    "again."
)


class StepRunner:
    def __init__(
        self, runs: StepRuns, jobs: ResumeAllJobs, slack_for: Callable[[WorkspaceId], WebClient | None], owner: str
    ):
        self._runs = runs
        self._jobs = jobs
        self._slack_for = slack_for
        self.owner = owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="step-runs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def let_go(self) -> int:
        """At the very end of a shutdown: what this process still holds is the next process's to end at once."""
        return self._runs.let_go(self.owner)

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.complete_waits()
                if ticks % EVERY_TICKS == 0:
                    self._runs.renew(self.owner)
                    self.send_completions_again()
                    self.end_dead_runs()
                if ticks % PRUNE_EVERY_TICKS == 0:
                    self._runs.prune()
            except Exception:
                log.exception("step runs failed", extra={"fields": {"event": "step_runs_failed"}})
            ticks += 1

    def complete_waits(self) -> None:
        """This process's resume-all steps whose job ended, or whose wait is over: completed with the counts."""
        waiting = self._runs.held_by(self.owner, "waiting")
        if not waiting:
            return
        now = self._runs.now()
        for run in waiting:
            job = self._jobs.get(run.job_id) if run.job_id is not None else None
            if job is not None and job.state != "ended" and run.wait_until is not None and run.wait_until > now:
                continue
            counts = self._jobs.progress(job.id) if job is not None else None
            self._complete(run, resume_all_completion(job, counts))

    def send_completions_again(self) -> None:
        for run in self._runs.held_by(self.owner, "completing"):
            if run.completion is not None:
                self._tell(run, run.completion)

    def end_dead_runs(self) -> None:
        for run in self._runs.take_over(self.owner):
            log.warning(
                "workflow step left by a process that stopped",
                extra={"fields": {"event": "step_taken_over", "state": run.state, "workflow": run.workflow}},
            )
            if run.state == "running" and run.job_id is not None and self._job_started(run.job_id):
                # A resume all whose process died after its job started: the job goes on, and the run waits for it.
                self._runs.wait_for(run.execution_id, self.owner, self._runs.now())
            elif run.state == "running":
                self._complete(run, {"error": NEVER_SENT})
            elif run.state == "sending":
                self._complete(run, {"error": MAYBE_SENT})
            elif run.state == "completing" and run.completion is not None:
                self._tell(run, run.completion)
            # waiting: now this process's, completed by `complete_waits`

    def _job_started(self, job_id: int) -> bool:
        job = self._jobs.get(job_id)
        return job is not None and job.state != "proposed"

    def _complete(self, run: StepRunRecord, completion: dict) -> None:
        if self._runs.complete(run.execution_id, self.owner, completion):
            self._tell(run, completion)

    def _tell(self, run: StepRunRecord, completion: dict) -> None:
        client = self._slack_for(run.workspace)
        if client is None:  # uninstalled meanwhile: Slack ends the run itself
            self._runs.ended(run.execution_id)
            return
        tell_slack(client, self._runs, run.execution_id, completion)


MAYBE_SENT = (
    ":grey_question: The bot stopped after this step's resume may have reached Truedy, before its answer: it *may "
    f"have resumed*. Check the campaign in the Truedy dashboard (`{messages.COMMAND} list` shows whether it is "
    "still paused) before running the workflow again."
)
