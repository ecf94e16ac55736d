from dataclasses import dataclass

from bot.audit import AuditLog
from bot.authorization import Authorizer
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
    authorizer: Authorizer
    background: BackgroundWork
    truedy: TruedyClient
