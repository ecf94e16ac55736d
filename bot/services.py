from dataclasses import dataclass

from bot.alert_records import AlertRecords
from bot.audit import AuditLog
from bot.background import BackgroundWork
from bot.resume import ResumeService
from bot.truedy import TruedyClient
from bot.workspaces import Workspaces


@dataclass(frozen=True)
class Services:
    """What listeners need beyond what Bolt gives them; put into every request's context."""

    resumes: ResumeService
    workspaces: Workspaces
    audit: AuditLog
    alerts: AlertRecords
    answers: BackgroundWork  # checks and quick answers: the database, Slack; never Truedy's slow calls
    resume_calls: BackgroundWork  # resumes: one thread per Truedy call in flight, RESUME_CONCURRENCY at most
    truedy: TruedyClient
