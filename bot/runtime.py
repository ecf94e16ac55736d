"""What every process that serves Slack requests runs (the Socket Mode worker, and the web process in HTTP
mode): the Bolt app and its services, the paused-campaign watcher, scheduled resumes, the claim keeper; and
their shutdown, whose deadlines count from SIGTERM."""

import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial

from slack_bolt import App
from sqlalchemy import Engine

from bot.authorization import Authorizer
from bot.background import BackgroundWork
from bot.resume import ResumeService
from bot.resume_flow import ResumeFlows
from bot.runners.abandoned import AbandonedResumes
from bot.runners.pause_offers import PauseOfferSweeps
from bot.runners.reminders import THREADS as REMINDER_THREADS
from bot.runners.reminders import ReminderRunner
from bot.runners.resume_all import ResumeAllRunner
from bot.runners.scheduler import ScheduledResumeRunner
from bot.runners.steps import StepRunner
from bot.runners.watcher import MAX_POLLS, PausedWatcher
from bot.services import Services
from bot.settings import Settings
from bot.slack.app import bot_tokens, build_app, open_database, provide_services, seed_keys
from bot.slack.pause_again import PauseAll
from bot.slack.tokens import BotTokens, OneToken, TokenIdentity
from bot.slack.undo import Undo
from bot.storage.alert_channels import AlertChannelProblems
from bot.storage.alert_records import AlertRecords
from bot.storage.audit import AuditLog
from bot.storage.digests import AlertDigests
from bot.storage.inflight import InFlightResumes
from bot.storage.pause_again import PauseOffers
from bot.storage.poll_turns import PollSchedule
from bot.storage.reminders import PauseReminders, remind_after
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.schedules import ScheduledResumes
from bot.storage.step_runs import StepRuns
from bot.storage.workspace_settings import WorkspaceSettings
from bot.truedy import TruedyClient

log = logging.getLogger("bot.runtime")

# Every deadline counts from SIGTERM; Heroku sends SIGKILL 30 s after it.
# Until then: requests queued before SIGTERM may still start their resume…
STOP_STARTING_SECONDS = 5
# …resumes still waiting for Truedy are told their outcome is unknown…
INTERRUPT_SECONDS = 15
# …and everything has ended (the last answers sent) or the process leaves anyway.
SHUTDOWN_SECONDS = 25
# Checks and quick answers: enough to keep them flowing while every resume thread waits on Truedy, few
# enough that they do not compete with acks for the interpreter (4 measured better than 8 in bench/burst.py).
ANSWER_THREADS = 4
# Lists read from Truedy for people: a Truedy that hangs holds a thread each for at most its timeouts, and
# never an answer's or a resume's.
LOOKUP_THREADS = 4
# Setup submissions are rare; a Truedy that hangs holds a thread each for at most its timeouts.
SETUP_CHECK_THREADS = 4
# Scheduled resumes being checked and shown as running, before the resume flow takes each to Truedy.
SCHEDULE_THREADS = 4


def alert_channel(settings: Settings, bot_team: str | None, workspace: WorkspaceSettings) -> str | None:
    """Where a workspace's paused-campaign alerts go: its setup's choice, else ALERT_CHANNELS, else (for the
    bot token's own workspace) ALERT_CHANNEL; None: the workspace is not watched."""
    team_id = workspace.workspace.team_id
    fallback = settings.alert_channel if team_id == bot_team else None
    return workspace.alert_channel or settings.alert_channels.get(team_id) or fallback


@dataclass
class Runtime:
    app: App
    tokens: BotTokens
    services: Services
    watcher: PausedWatcher
    resume_all: ResumeAllRunner
    scheduler: ScheduledResumeRunner
    steps: StepRunner
    in_flight: InFlightResumes
    engine: Engine
    abandoned: AbandonedResumes
    pause_offers: PauseOfferSweeps
    reminders: ReminderRunner
    _sweeping: threading.Event = field(default_factory=threading.Event)

    def serving(self) -> dict[str, str]:
        """Which workspaces this process serves, for its start-up log line."""
        if isinstance(self.tokens, OneToken):
            return {"team": self.tokens.identity.team_id}
        return {"tokens": "installations"}

    def start(self) -> None:
        # The keeper runs until the process ends: claims of resumes still in flight during shutdown stay alive.
        threading.Thread(
            target=self.in_flight.keep_alive, args=(threading.Event(),), name="lock-keeper", daemon=True
        ).start()
        threading.Thread(
            target=self.abandoned.keep_sweeping, args=(self._sweeping,), name="abandoned-sweeper", daemon=True
        ).start()
        threading.Thread(
            target=self.pause_offers.keep_sweeping, args=(self._sweeping,), name="pause-offer-sweeper", daemon=True
        ).start()
        self.watcher.start()
        self.resume_all.start()
        self.scheduler.start()
        self.steps.start()
        self.reminders.start()

    def stop_taking_work(self) -> None:
        """New requests are told the bot is restarting; the watcher starts no new poll."""
        self.services.answers.stop_accepting()
        self.services.lookups.stop_accepting()
        self.scheduler.stop()
        self.steps.stop()
        self.watcher.stop()
        self.resume_all.stop()
        self.reminders.stop()
        self._sweeping.set()

    def finish(self, stopping: float) -> int:
        """After `stop_taking_work`: accepted requests end by the deadlines counted from `stopping` (SIGTERM,
        `time.monotonic()`). Returns how many requests got no final answer."""
        stop_starting_at, deadline = stopping + STOP_STARTING_SECONDS, stopping + SHUTDOWN_SECONDS - 1
        self.services.answers.drain(max(0.0, stop_starting_at - time.monotonic()))
        unanswered = self.services.flows.shut_down(
            stop_starting_at=stop_starting_at, interrupt_at=stopping + INTERRUPT_SECONDS, deadline=deadline
        )
        unanswered += self.services.answers.drain(max(0.0, deadline - time.monotonic()))
        unanswered += self.services.lookups.drain(max(0.0, deadline - time.monotonic()))
        self.watcher.join(max(0.0, deadline - time.monotonic()))
        self.resume_all.join(max(0.0, deadline - time.monotonic()))
        self.scheduler.join(max(0.0, deadline - time.monotonic()))
        self.steps.join(max(0.0, deadline - time.monotonic()))
        self.reminders.join(max(0.0, deadline - time.monotonic()))
        try:
            # Last, once the flows ended and released their claims: a schedule handed back earlier could meet
            # this process's own claim on another process. Step runs still held are the next process's to end.
            self.scheduler.hand_back_unsent()
            self.steps.let_go()
        except Exception:  # their leases run out instead: the next process takes them a minute later
            log.exception("automation not handed back", extra={"fields": {"event": "automation_not_handed_back"}})
        log.info("stopped", extra={"fields": {"event": "stopped", "unfinished": unanswered}})
        return unanswered


def build_runtime(
    settings: Settings, before_each_job: Callable[[], None] = lambda: None, identity: TokenIdentity | None = None
) -> Runtime:
    """`before_each_job` runs before every background job (the worker makes them wait for pending acks);
    `identity`: SLACK_BOT_TOKEN's, as Slack already said (else Slack is asked, waiting for it to be reachable)."""
    database = open_database(settings)
    tokens = bot_tokens(settings, database, identity)
    seed_keys(settings, database, tokens)
    app = build_app(settings, tokens, database)
    engine, workspaces = database.engine, database.workspaces
    bot_team = tokens.identity.team_id if isinstance(tokens, OneToken) else None
    truedy = TruedyClient(
        settings.truedy_api_url,
        connect_timeout=settings.truedy_connect_timeout,
        read_timeout=settings.truedy_read_timeout,
        max_connections=settings.resume_concurrency,
    )
    audit, in_flight, schedule, alerts = (
        AuditLog(engine),
        InFlightResumes(engine),
        PollSchedule(engine),
        AlertRecords(engine),
    )
    resumes = ResumeService(truedy, workspaces, Authorizer(), in_flight, audit, schedule)
    services = Services(
        resumes=resumes,
        workspaces=workspaces,
        audit=audit,
        alerts=alerts,
        answers=BackgroundWork("answer", ANSWER_THREADS, before_each_job),
        lookups=BackgroundWork("lookup", LOOKUP_THREADS, before_each_job),
        flows=ResumeFlows(resumes, settings.resume_concurrency, before_each_job),
        truedy=truedy,
        setup_checks=ThreadPoolExecutor(SETUP_CHECK_THREADS, thread_name_prefix="setup-check"),
        channel_problems=AlertChannelProblems(engine),
        tokens=tokens,
        digests=AlertDigests(engine),
        resume_all=ResumeAllJobs(engine, lease=timedelta(seconds=settings.resume_all_lease_seconds)),
        resume_all_per_minute=settings.resume_all_per_minute,
        schedules=ScheduledResumes(engine),
        step_runs=StepRuns(engine),
        steps_owner=f"steps-{secrets.token_hex(8)}",
        in_flight=in_flight,
        pause_offers=PauseOffers(engine),
        reminders=PauseReminders(engine),
        undo_minutes=settings.undo_minutes,
        public_url=settings.public_url,
        dashboard_url=settings.truedy_dashboard_url,
        remind_after=timedelta(minutes=settings.remind_after_minutes),
    )
    provide_services(app, services)
    default_remind_after = services.remind_after
    watcher = PausedWatcher(
        engine=engine,
        workspaces=workspaces,
        alerts=alerts,
        schedule=schedule,
        in_flight=in_flight,
        channel_problems=services.channel_problems,
        # Its own connection pool: polls never take the connections people's resumes need.
        truedy_client=TruedyClient(
            settings.truedy_api_url,
            connect_timeout=settings.truedy_connect_timeout,
            read_timeout=settings.truedy_read_timeout,
            max_connections=MAX_POLLS,
        ),
        # Its own clients: a `ratelimited` answer ends the poll's posting (the next poll goes on) instead
        # of sleeping in a polling thread.
        slack_for=tokens.for_polling(settings).client_for,
        interval=timedelta(seconds=settings.paused_poll_seconds),
        channel_for=partial(alert_channel, settings, bot_team),
        dashboard_url=settings.truedy_dashboard_url,
        digests=services.digests,
        per_minute=settings.resume_all_per_minute,
        remind_after=partial(remind_after, default=default_remind_after),
        before_each_poll=before_each_job,
    )
    runner = ResumeAllRunner(
        jobs=services.resume_all,
        resumes=resumes,
        digests=services.digests,
        alerts=alerts,
        slack_for=tokens.client_for,
        per_minute=settings.resume_all_per_minute,
        pauses=PauseAll(truedy, workspaces, in_flight, audit),
        undo_minutes=settings.undo_minutes,
    )
    abandoned = AbandonedResumes(
        in_flight=in_flight,
        resumes=resumes,
        workspaces=workspaces,
        truedy_client=truedy,
        slack_for=tokens.for_polling(settings).client_for,
        alerts=alerts,
        digests=services.digests,
        dashboard_url=settings.truedy_dashboard_url,
        per_minute=settings.resume_all_per_minute,
    )
    # Its own threads: a crowd of schedules due at once never holds up the quick answers people wait for.
    starts = BackgroundWork("schedule", SCHEDULE_THREADS, before_each_job)
    undo = Undo(services.pause_offers, services.undo_minutes)
    scheduler = ScheduledResumeRunner(services.schedules, services.flows, starts, tokens.client_for, undo)
    steps = StepRunner(services.step_runs, services.resume_all, tokens.client_for, services.steps_owner)
    sweeps = PauseOfferSweeps(
        services.pause_offers, audit, tokens.for_polling(settings).client_for, services.resume_all
    )
    reminders = ReminderRunner(
        reminders=services.reminders,
        workspaces=workspaces,
        alerts=alerts,
        digests=services.digests,
        # Its own connections: reminders never take those people's resumes need.
        truedy_client=TruedyClient(
            settings.truedy_api_url,
            connect_timeout=settings.truedy_connect_timeout,
            read_timeout=settings.truedy_read_timeout,
            max_connections=REMINDER_THREADS,
        ),
        slack_for=tokens.for_polling(settings).client_for,  # `ratelimited` puts a reminder off, never sleeps
        remind_after=default_remind_after,
        remind_max=settings.remind_max,
        before_each_job=before_each_job,
    )
    return Runtime(
        app, tokens, services, watcher, runner, scheduler, steps, in_flight, engine, abandoned, sweeps, reminders
    )
