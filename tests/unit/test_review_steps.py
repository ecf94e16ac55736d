"""Review of Workflow Builder step runs (bot.storage.step_runs, bot.runners.steps, bot.slack.listeners.functions) and
of unattended runs: a process dying between two writes, a database connection that fails once, and the
unattended switch turned off while a run goes on."""

import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from slack_sdk import WebClient
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from bot import truedy
from bot.authorization import Authorizer
from bot.background import BackgroundWork
from bot.resume import ResumeService
from bot.runners.resume_all import ResumeAllRunner
from bot.runners.steps import NEVER_SENT, StepRunner
from bot.slack import workflow_steps
from bot.slack.listeners.functions import _run_once, _start
from bot.slack.workflow_steps import StepRun
from bot.storage.alert_records import AlertRecords
from bot.storage.audit import AuditLog
from bot.storage.digests import AlertDigests
from bot.storage.inflight import InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.step_runs import StepRuns
from bot.storage.workspace_settings import SetupChoices, WorkspaceId
from tests.fakes.loop import wait_until

TEAM = WorkspaceId("", "T0BOT0001")
CAMPAIGNS = [f"batch_sweep{n:04d}" for n in range(4)]


def leases_run_out(engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE workflow_step_runs SET lease_expires_at = :at"),
            {"at": datetime.now(UTC) - timedelta(seconds=1)},
        )


def test_review_a_resume_all_step_whose_process_died_after_its_job_started_is_not_failed_as_never_sent(engine, slack):
    """Defect: the resume-all step records its job (`started_job`, state still `running`), launches it (posts the
    progress message, confirms the job: it runs), and only then moves to `waiting`. A process that dies in between
    (SIGKILL, or a SIGTERM whose deadline passes while Slack is slow to take the progress message: `let_go` then
    hands the run on) leaves a `running` run with a running job. `end_dead_runs` ends every `running` run as
    NEVER_SENT — "nothing was sent to Truedy. Run the workflow again." — while its job resumes every paused
    campaign. Users: the workflow's activity says nothing happened (and invites a second run) while campaigns are
    being resumed; its counts are never given. A run with a `job_id` whose job runs should wait for the job."""
    runs, jobs = StepRuns(engine), ResumeAllJobs(engine)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    slack_run, _ = slack.step_event("resume_all_paused", {"channel": "C0STEPS01"}, run_by="U0ALICE01")
    execution = slack_run.execution_id
    assert runs.begin(execution, TEAM, "resume_all_paused", slack_run.workflow_execution_id, "dead-process")
    job_id = jobs.propose(TEAM, "U0ALICE01", "C0STEPS01", [(c, None) for c in CAMPAIGNS], workflow="Wx1")
    assert runs.started_job(execution, "dead-process", job_id)
    progress = client.chat_postMessage(channel="C0STEPS01", text="Resuming all paused campaigns…")
    assert jobs.confirm(job_id, TEAM, "U0ALICE01", progress["ts"]).state == "running"  # launched: the job runs
    # …and the process dies before `wait_for`.
    leases_run_out(engine)
    runner = StepRunner(runs, jobs, lambda _: client, "steps-next")
    runner.end_dead_runs()
    said = slack_run.ended.params.get("error") if slack_run.ended is not None else None
    assert said != NEVER_SENT, "failed as never sent while its job resumes every campaign"


class BeginOnAStaleConnection(StepRuns):
    """The first statement on a pooled connection the database had closed fails; the next connection works."""

    failed = False

    def begin(self, *args, **kwargs):
        if not self.failed:
            self.failed = True
            raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))
        return super().begin(*args, **kwargs)


def test_review_a_step_whose_first_write_failed_once_is_still_completed(engine, slack):
    """Defect: `_run_once` answers a database error on `begin` with `run.fail(database_unavailable)`, but `fail`
    first records the completion with `runs.complete(execution_id, owner, …)`, an UPDATE of a row that `begin` never
    inserted: it moves nothing, returns False, and `_end` then tells Slack nothing. So when the database fails once
    and answers again (a stale pooled connection, a failover: the usual blip), the step is never completed: the
    workflow hangs on it, with no error in its activity. Promised: every run "ends with a completion whatever
    happens"."""
    runs = BeginOnAStaleConnection(engine)
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    slack_run, _ = slack.step_event("list_paused_campaigns", {})
    run = StepRun(slack_run.execution_id, TEAM, {}, slack_run.workflow_execution_id, client, runs, "steps-me")
    ran = []
    _run_once(lambda services, run: ran.append(run), "list_paused_campaigns", None, run)
    assert ran == []
    assert slack_run.ended is not None, "the step was never completed"


class UntickedDuringTheJob:
    """Resumes every campaign; while the first is being resumed, an admin unticks Unattended workflow runs."""

    def __init__(self, workspaces, choices: SetupChoices):
        self.workspaces, self.choices, self.calls = workspaces, choices, []

    def resume(self, api_key: str, campaign_id: str):
        if not self.calls:
            self.workspaces.save_setup(TEAM, replace(self.choices, allow_unattended=False), "U0ADMIN01")
        self.calls.append(campaign_id)
        return truedy.Resumed(campaign_id, "active", None, f"req_{campaign_id}")


def test_review_unticking_unattended_runs_stops_an_unattended_resume_all_that_is_running(engine, workspaces, slack):
    """Defect: a resume-all job started by a workflow run with no person (unattended, where resumes are restricted
    to @bob, allowed because an admin ticked Unattended workflow runs) resumes every campaign to the end after the
    admin unticks it: the job never looks at the switch again (it was read once, when the step started). Its
    campaigns are resumed at RESUME_ALL_PER_MINUTE, so this goes on for minutes after the revocation. Documented:
    "unticking it refuses such runs again at once". Users: an admin who stops unattended resumes (a misbehaving
    scheduled workflow) cannot stop it this way."""
    choices = SetupChoices("truedy_key_bot", None, ("U0BOB0001",), (), allow_unattended=True)
    allowed = workspaces.save_setup(TEAM, choices, "U0ADMIN01")
    assert allowed.restricted and allowed.unattended_allowed_by == "U0ADMIN01"
    client = UntickedDuringTheJob(workspaces, choices)
    jobs = ResumeAllJobs(engine)
    slack_client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    runner = ResumeAllRunner(
        jobs=jobs,
        resumes=ResumeService(
            client, workspaces, Authorizer(), InFlightResumes(engine), AuditLog(engine), PollSchedule(engine)
        ),
        digests=AlertDigests(engine),
        alerts=AlertRecords(engine),
        slack_for=lambda _workspace: slack_client,
        per_minute=240,
    )
    campaigns = [(c, None) for c in CAMPAIGNS]
    job_id = jobs.propose(
        TEAM, "", "C0STEPS02", campaigns, workflow="Wx0SCHED01", unattended=True, allowed_by="U0ADMIN01"
    )
    progress = slack_client.chat_postMessage(channel="C0STEPS02", text="Resuming all paused campaigns…")
    jobs.confirm(job_id, TEAM, "", progress["ts"])
    runner.start()
    try:
        wait_until(lambda: jobs.get(job_id).state == "ended", 15, "the job to end")
    finally:
        runner.stop()
        runner.join(5)
    assert workspaces.get(TEAM).unattended_allowed_by is None
    assert client.calls == CAMPAIGNS[:1], "resumed after the admin unticked unattended runs"


def test_review_a_step_still_queued_when_the_shutdown_drains_its_pool_is_completed_not_dropped(engine, slack):
    """Defect: a `function_executed` is acknowledged and its run queued on a pool (`answers` for resume, `lookups`
    for list and resume all) without being recorded; at SIGTERM `finish` drains each pool with a deadline, and
    BackgroundWork.drain then shuts the pool down with `cancel_futures=True`: a step still queued (behind lookups
    waiting on a slow Truedy, or a burst of answers) is silently dropped — never begun, never recorded, never
    completed. No process knows of it, so the workflow hangs on the step with no error in its activity. Only steps
    that arrive after the pool stopped accepting are told "I'm restarting". Promised: every run "ends with a
    completion whatever happens"; at SIGTERM "a step not started yet is completed as a click would be answered"."""
    runs = StepRuns(engine)
    lookups = BackgroundWork("lookup", 1)
    busy = threading.Event()
    lookups.submit(lambda: busy.wait(10))  # a Truedy list read that hangs holds the only thread
    services = SimpleNamespace(
        step_runs=runs, steps_owner="steps-me", lookups=lookups, answers=BackgroundWork("answer", 1)
    )
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    slack_run, event = slack.step_event("list_paused_campaigns", {})
    context = {"services": services, "team_id": TEAM.team_id, "enterprise_id": ""}
    _start(context, event, client, workflow_steps.list_paused)
    lookups.stop_accepting()  # SIGTERM
    lookups.drain(0.2)  # the deadline passes with the Truedy read still hanging
    busy.set()
    services.answers.drain(1)
    assert runs.get(slack_run.execution_id) is not None or slack_run.ended is not None, (
        "the step was dropped: never recorded, never completed"
    )


class TruedyListHangs:
    """Truedy's list of paused campaigns does not answer until `answer` is set (the read timeout, in production)."""

    def __init__(self):
        self.reading, self.answer = threading.Event(), threading.Event()

    def paused_campaigns(self, api_key: str):
        self.reading.set()
        self.answer.wait(10)
        return [], True


def test_review_a_resume_step_given_a_name_reads_truedy_off_the_quick_answers_pool(engine, workspaces, slack):
    """Defect: `_start` queues every resume step on `services.answers` ("checks and quick answers: the database,
    Slack; never Truedy's slow calls"), but a resume step given a campaign *name* reads Truedy's whole list of paused
    campaigns (`_campaign` → `all_paused`) on that thread. With Truedy slow, a few such steps (4 answer threads in
    production: e.g. a scheduled workflow per team at 9:00) hold every answer thread for Truedy's read timeout, and
    every command's check, click and refusal waits behind them. The listener's own comment: "Truedy reads go to
    their own pool, so that a slow Truedy holds no quick answer"."""
    workspaces.seed_keys({TEAM.team_id: "truedy_key_bot"})
    listing = TruedyListHangs()
    services = SimpleNamespace(
        step_runs=StepRuns(engine),
        steps_owner="steps-me",
        answers=BackgroundWork("answer", 1),
        lookups=BackgroundWork("lookup", 1),
        workspaces=workspaces,
        truedy=listing,
    )
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    _, event = slack.step_event("resume_campaign", {"campaign": "Q2 Outreach Campaign"}, run_by="U0ALICE01")
    context = {"services": services, "team_id": TEAM.team_id, "enterprise_id": ""}
    _start(context, event, client, workflow_steps.resume_campaign)
    try:
        assert listing.reading.wait(10), "the step reads Truedy's list"
        answered = threading.Event()
        asked = time.monotonic()
        services.answers.submit(answered.set)  # someone's command: its quick answer
        answered.wait(3)
        assert time.monotonic() - asked < 1, "a quick answer waited on Truedy's list read"
    finally:
        listing.answer.set()
        services.answers.drain(5)
        services.lookups.drain(5)
