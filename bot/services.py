from dataclasses import dataclass

from bot.background import BackgroundWork
from bot.resume import ResumeService


@dataclass(frozen=True)
class Services:
    """What listeners need beyond what Bolt gives them; put into every request's context."""

    resumes: ResumeService
    background: BackgroundWork
