"""Review of forged button values on the scheduled resumes' Cancel button."""

from types import SimpleNamespace

from bot.authorization import Authorizer
from bot.resume import ResumeService
from bot.slack import schedule_requests
from bot.storage.audit import AuditLog
from bot.storage.inflight import InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.schedules import ScheduledResumes
from bot.storage.workspace_settings import WorkspaceId
from tests.fakes.truedy import StubTruedyClient

TEAM = WorkspaceId("", "T0BOT0001")


def test_review_a_forged_cancel_value_is_refused_as_not_a_schedule_not_a_crash(engine, workspaces):
    """Defect: Cancel checks its value with `str.isdigit()`, which is True for digits `int()` refuses ("²", "①") and
    for numbers no database id can hold: the answer job raises (ValueError; OverflowError on SQLite beyond 64 bits;
    PostgreSQL's "bigint out of range" DataError), and the clicker is told "Something went wrong inside the bot" or,
    on PostgreSQL, "I can't reach my database right now… try again in a minute" (a traceback logged each time)
    instead of "This button does not name…". Forged button values must be refused for what they are, as every other
    button's are."""
    workspaces.seed_keys({TEAM.team_id: "truedy_key_bot"})
    resumes = ResumeService(
        StubTruedyClient(None),
        workspaces,
        Authorizer(),
        InFlightResumes(engine),
        AuditLog(engine),
        PollSchedule(engine),
    )
    services = SimpleNamespace(resumes=resumes, schedules=ScheduledResumes(engine))
    for forged in ("9" * 40, "²"):
        said: list[dict] = []
        schedule_requests.cancel(services, TEAM, "U0ALICE01", forged, None, lambda said=said, **m: said.append(m))
        assert said and "does not name" in said[0]["text"], (forged, said)
