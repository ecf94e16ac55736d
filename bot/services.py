from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from bot.background import BackgroundWork
from bot.resume import ResumeService
from bot.resume_flow import ResumeFlows
from bot.slack.tokens import BotTokens
from bot.storage.alert_channels import AlertChannelProblems
from bot.storage.alert_records import AlertRecords
from bot.storage.audit import AuditLog
from bot.storage.digests import AlertDigests
from bot.storage.inflight import InFlightResumes
from bot.storage.pause_again import PauseOffers
from bot.storage.reminders import PauseReminders
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.schedules import ScheduledResumes
from bot.storage.step_runs import StepRuns
from bot.storage.workspace_settings import Workspaces
from bot.truedy import TruedyClient


@dataclass(frozen=True)
class Services:
    """What listeners need beyond what Bolt gives them; put into every request's context."""

    resumes: ResumeService
    workspaces: Workspaces
    audit: AuditLog
    alerts: AlertRecords
    answers: BackgroundWork  # checks and quick answers: the database, Slack; never Truedy's slow calls
    lookups: BackgroundWork  # Truedy reads on someone's behalf (the list of paused campaigns)
    flows: ResumeFlows  # the one resume flow; its Truedy calls run on RESUME_CONCURRENCY threads
    truedy: TruedyClient
    setup_checks: ThreadPoolExecutor  # setup submissions' checks, waited for with a deadline
    channel_problems: AlertChannelProblems
    tokens: BotTokens  # which bot token serves which workspace
    digests: AlertDigests
    resume_all: ResumeAllJobs
    resume_all_per_minute: int
    schedules: ScheduledResumes
    step_runs: StepRuns  # Workflow Builder step runs, once each
    steps_owner: str  # this process's token: the step runs it holds are under its lease
    in_flight: InFlightResumes  # one resume (or pause) per campaign at a time
    pause_offers: PauseOffers  # Pause again under each successful resume…
    reminders: PauseReminders  # reminders of pauses nobody handles, and their snoozes
    undo_minutes: int  # …for this long (0: never)
    public_url: str | None = None  # the web process's address, for webhook URLs
    dashboard_url: str | None = None  # a campaign's page in Truedy's dashboard ("{id}" stands for its id)
    remind_after: timedelta = timedelta(0)  # REMIND_AFTER_MINUTES, where a workspace's setup set none
