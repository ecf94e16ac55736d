"""Resume all when the bot itself fails: each failing campaign is recorded, audited and named once, never
sent again in a loop; and a single resume that fails inside the bot is audited like any other outcome."""

from slack_sdk import WebClient

from bot import truedy
from bot.authorization import Authorizer
from bot.resume import BotFailure, ResumeRequest, ResumeService
from bot.runners.resume_all import ResumeAllRunner
from bot.storage.alert_records import AlertRecords
from bot.storage.audit import AuditLog
from bot.storage.digests import AlertDigests
from bot.storage.inflight import Claim, InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.resume_all_jobs import ResumeAllJobs
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId
from tests.fakes.loop import wait_until

TEAM = WorkspaceId("", "T0BOT0001")
CAMPAIGNS = [f"batch_fail{n:04d}" for n in range(4)]
BROKEN = "batch_fail0001"


class TruedyWithABug:
    """Resumes every campaign, except one whose answer makes the bot fail (a bug of ours, not Truedy's)."""

    def __init__(self):
        self.calls: list[str] = []

    def resume(self, api_key: str, campaign_id: str):
        self.calls.append(campaign_id)
        if campaign_id == BROKEN:
            raise KeyError("a bug while reading the answer")
        return truedy.Resumed(campaign_id, "active", None, f"req_{campaign_id}")


def audit_outcomes(engine) -> dict[str, list[str]]:
    entries = AuditLog(engine).latest(TEAM.team_id, limit=50)
    outcomes: dict[str, list[str]] = {}
    for entry in entries:
        outcomes.setdefault(entry.campaign_id, []).append(entry.outcome)
    return outcomes


def service(engine, workspaces, client) -> ResumeService:
    workspaces.seed_keys({TEAM.team_id: "truedy_key_bot"})
    return ResumeService(
        client, workspaces, Authorizer(), InFlightResumes(engine), AuditLog(engine), PollSchedule(engine)
    )


def test_a_single_resume_that_fails_inside_the_bot_is_audited(engine, workspaces):
    resumes = service(engine, workspaces, TruedyWithABug())
    request = ResumeRequest(TEAM.team_id, "U0ALICE01", CampaignId(BROKEN), "command")
    claim = resumes.claim(request)
    assert isinstance(claim, Claim)
    assert isinstance(resumes.resume(request, claim), BotFailure)
    assert audit_outcomes(engine)[BROKEN] == ["bot_failure"]


def test_a_campaign_that_fails_inside_the_bot_is_named_once_and_the_job_goes_on(engine, workspaces, slack):
    client = TruedyWithABug()
    jobs = ResumeAllJobs(engine)
    runner = ResumeAllRunner(
        jobs=jobs,
        resumes=service(engine, workspaces, client),
        digests=AlertDigests(engine),
        alerts=AlertRecords(engine),
        slack_for=lambda _workspace: WebClient(token=slack.bot_token, base_url=slack.api_url),
        per_minute=6000,
    )
    job_id = jobs.propose(TEAM, "U0ALICE01", "C0RESALL1", [(c, None) for c in CAMPAIGNS])
    progress = WebClient(token=slack.bot_token, base_url=slack.api_url).chat_postMessage(
        channel="C0RESALL1", text="Resuming all paused campaigns…"
    )
    jobs.confirm(job_id, TEAM, "U0ALICE01", progress["ts"])
    runner.start()
    try:
        wait_until(lambda: jobs.get(job_id).state == "ended", 15, "the job to end")
    finally:
        runner.stop()
        runner.join(5)
    assert sorted(client.calls) == CAMPAIGNS  # the broken one was sent once, not again and again
    outcomes = {item.campaign_id: item.outcome for item in jobs.items(job_id)}
    assert outcomes == {c: "bot_failure" if c == BROKEN else "resumed" for c in CAMPAIGNS}
    assert audit_outcomes(engine)[BROKEN] == ["bot_failure"]
    summary = wait_until(
        lambda: [c.params for c in slack.posts_in("C0RESALL1") if c.params.get("thread_ts") == progress["ts"]],
        10,
        "the summary",
    )[0]
    assert f"`{BROKEN}`: may have resumed: something went wrong inside the bot" in str(summary["blocks"])
