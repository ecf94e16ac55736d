"""Review of Pause all N again (cb2b41d), against a real database (SQLite, and PostgreSQL with TEST_DATABASE_URL), the
real runner and the fake Slack, with a stub Truedy whose answers each test chooses."""

import json
from datetime import timedelta

from slack_sdk import WebClient

from bot import truedy
from bot.authorization import Authorizer
from bot.resume import ResumeService
from bot.runners.resume_all import ResumeAllRunner
from bot.slack.blocks import resume_all_blocks
from bot.slack.pause_again import PauseAll
from bot.storage.alert_records import AlertRecords
from bot.storage.audit import AuditLog
from bot.storage.digests import AlertDigests
from bot.storage.inflight import Claim, InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.resume_all_jobs import ResumeAllJob, ResumeAllJobs, UndoNotTaken
from bot.storage.workspace_settings import WorkspaceId
from tests.fakes.loop import wait_until

TEAM = WorkspaceId("", "T0BOT0001")
OTHER = WorkspaceId("", "T0OTHER01")
CHANNEL = "C0PAUSEAL"
CAMPAIGNS = [f"batch_rv6p{n:04d}" for n in range(3)]


class PausingTruedy:
    """Pauses every campaign, except those given another answer (an exception to raise)."""

    def __init__(self, answers: dict[str, Exception] | None = None):
        self.answers = answers or {}
        self.pauses: list[str] = []

    def pause(self, api_key: str, campaign_id: str) -> truedy.Paused:
        self.pauses.append(campaign_id)
        if campaign_id in self.answers:
            raise self.answers[campaign_id]
        return truedy.Paused(campaign_id, f"req_{campaign_id}")


def client_of(slack) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def runner_for(engine, workspaces, slack, jobs: ResumeAllJobs, pausing: PausingTruedy) -> ResumeAllRunner:
    workspaces.seed_keys({TEAM.team_id: "truedy_key_bot"})
    in_flight, audit = InFlightResumes(engine), AuditLog(engine)
    resumes = ResumeService(pausing, workspaces, Authorizer(), in_flight, audit, PollSchedule(engine))
    return ResumeAllRunner(
        jobs=jobs,
        resumes=resumes,
        digests=AlertDigests(engine),
        alerts=AlertRecords(engine),
        slack_for=lambda _workspace: client_of(slack),
        per_minute=6000,
        pauses=PauseAll(pausing, workspaces, in_flight, audit),
        undo_minutes=10,
    )


def ended_resume_all(jobs: ResumeAllJobs, slack, workspace: WorkspaceId = TEAM) -> int:
    """A resume all that resumed every one of CAMPAIGNS, ended and offering Pause all again for 10 minutes."""
    job_id = jobs.propose(workspace, "U0ALICE01", CHANNEL, [(c, f"Wave {c[-2:]}") for c in CAMPAIGNS])
    progress = client_of(slack).chat_postMessage(channel=CHANNEL, text="Resuming all paused campaigns…")
    jobs.confirm(job_id, workspace, "U0ALICE01", progress["ts"])
    assert jobs.take("resume-run").id == job_id
    for position in range(len(CAMPAIGNS)):
        assert jobs.start_sending(job_id, position, "resume-run")
        jobs.record(job_id, position, "resumed", None)
    assert jobs.end(job_id, "resume-run", "finished")
    jobs.offer_undo(job_id, timedelta(minutes=10))
    return job_id


def run_until_ended(runner: ResumeAllRunner, jobs: ResumeAllJobs, job_id: int) -> None:
    runner.start()
    try:
        wait_until(lambda: jobs.get(job_id).state == "ended", 15, "the pause job to end")
    finally:
        runner.stop()
        runner.join(5)


def posted_pause(jobs: ResumeAllJobs, slack, resumed_id: int) -> ResumeAllJob:
    """The click's work up to its progress message, as bot.slack.resume_all_requests.pause_all_again does it."""
    started = jobs.take_undo(resumed_id, TEAM, "U0BOB0001")
    assert not isinstance(started, UndoNotTaken)
    posted = client_of(slack).chat_postMessage(channel=CHANNEL, text="Pausing again what resume all resumed")
    jobs.progress_posted(started.id, posted["ts"])
    return jobs.get(started.id)


def summary_of(slack, pause: ResumeAllJob) -> list[str]:
    """The lines of Pause all again's summary, in its progress message's thread."""
    posts = wait_until(
        lambda: [c.params for c in slack.posts_in(CHANNEL) if c.params.get("thread_ts") == pause.message_ts],
        10,
        "Pause all again's summary",
    )
    blocks = posts[-1]["blocks"]
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    texts += [e["text"] for b in blocks if b["type"] == "context" for e in b["elements"]]
    return "\n".join(texts).split("\n")


def test_a_pause_left_sending_by_a_dead_run_is_audited_as_a_pause_not_a_resume(engine, workspaces, slack):
    """A Pause all again item that a dead run left `sending` is audited (and counted in resumes_total) by
    _abandon_left_sending as an interrupted *resume* via resume_all by the clicker; it must be recorded as the pause it
    was (via pause_again, "paused again by @bob · interrupted"), as a single Pause again's interrupted pause is."""
    jobs = ResumeAllJobs(engine)
    pausing = PausingTruedy()
    runner = runner_for(engine, workspaces, slack, jobs, pausing)
    pause = posted_pause(jobs, slack, ended_resume_all(jobs, slack))
    # A run took the job, marked the first campaign as being sent, and died (its lease let go at once here).
    assert jobs.take("dead-run").id == pause.id
    assert jobs.start_sending(pause.id, 0, "dead-run")
    jobs.let_go(pause.id, "dead-run")

    run_until_ended(runner, jobs, pause.id)

    assert CAMPAIGNS[0] not in pausing.pauses  # never sent again: that part works
    assert any("may have been paused" in line for line in summary_of(slack, pause))
    entries = AuditLog(engine).latest(TEAM.team_id, CAMPAIGNS[0], limit=10)
    assert [(e.via, e.outcome, e.user_id) for e in entries] == [("pause_again", "interrupted", "U0BOB0001")]


def test_pause_all_agains_summary_explains_truedys_refusals_as_a_pauses(engine, workspaces, slack):
    """Pause all again's summary explains each refusal with resume's words (bot.slack.blocks.messages.explain, not
    pause_blocks.explain_pause): a campaign that completed meanwhile reads "not running any more (Truedy answered with
    an error)", and one Truedy refused although it runs reads "failed: … although the campaign is still paused", the
    opposite of the truth (it is calling); each must be said as for a pause ("it has completed"; "although the
    campaign is running")."""
    jobs = ResumeAllJobs(engine)
    completed = truedy.NotPausable(
        "Campaign can only be paused when active or scheduled. Current status: completed", "req_done", "completed"
    )
    refused = truedy.RequestRefused("Invalid request", "req_refused", 400)
    pausing = PausingTruedy({CAMPAIGNS[1]: completed, CAMPAIGNS[2]: refused})
    runner = runner_for(engine, workspaces, slack, jobs, pausing)
    pause = posted_pause(jobs, slack, ended_resume_all(jobs, slack))

    run_until_ended(runner, jobs, pause.id)

    said = summary_of(slack, pause)
    done_line = next(line for line in said if CAMPAIGNS[1] in line)
    refused_line = next(line for line in said if CAMPAIGNS[2] in line)
    assert ("still paused" not in refused_line, "it has completed" in done_line) == (True, True), (
        refused_line,
        done_line,
    )


def test_a_pause_job_whose_click_died_before_its_progress_message_still_reports(engine, workspaces, slack):
    """take_undo commits a *running* pause job with no progress message; when the click's process dies before
    posting it (SIGKILL, a deploy), the runner pauses every campaign and, finding no message_ts, posts neither progress
    nor summary: real campaigns are paused with nothing in Slack saying so, while the resume-all's summary says "the
    progress is in the channel". A pause job must never run unreported: the runner must post its progress (or at least
    its summary, e.g. in the resume-all's thread) when the click did not."""
    jobs = ResumeAllJobs(engine)
    pausing = PausingTruedy()
    runner = runner_for(engine, workspaces, slack, jobs, pausing)
    resumed_id = ended_resume_all(jobs, slack)
    before = len(slack.posts_in(CHANNEL))
    started = jobs.take_undo(resumed_id, TEAM, "U0BOB0001")  # …and the click's process dies here
    assert not isinstance(started, UndoNotTaken)

    run_until_ended(runner, jobs, started.id)

    assert sorted(pausing.pauses) == CAMPAIGNS  # paused for real
    told = [c.params.get("text", "") for c in slack.posts_in(CHANNEL)[before:]]
    assert any("Pause all again" in text or "Pausing again" in text for text in told), told


def test_another_workspaces_job_id_is_refused_as_not_this_workspaces(engine, slack):
    """A Pause all again click whose value names another workspace's job (forged, or a stale id) is answered "no longer
    offered here (its minutes are over)", which is false (the offer there is live) and hides the forgery; it must get a
    specific answer ("that button is not one of this workspace's"), as Pause again's not_taken does, and change
    nothing."""
    jobs = ResumeAllJobs(engine)
    theirs = ended_resume_all(jobs, slack, OTHER)

    refused = jobs.take_undo(theirs, TEAM, "U0MALLORY")

    assert isinstance(refused, UndoNotTaken) and refused.job is None
    assert jobs.get(theirs).undo_taken_by is None and jobs.running_in(OTHER) is None  # nothing changed: that works
    text = resume_all_blocks.undo_not_taken(refused.job, refused.running)["text"]
    assert "minutes are over" not in text, text
    assert "not one of this workspace" in text, text


def test_a_campaign_pause_all_again_skipped_is_said_to_be_still_calling(engine, workspaces, slack):
    """A campaign Pause all again skipped (someone held its claim at that moment) was not paused and may well be calling
    (whoever held it was resuming it, or it was never paused), yet the summary's advice names only the not tried and
    the failed ones as "still calling: pause them in the Truedy dashboard", so the person who asked to pause them all
    is not told to pause this one; the skipped ones must be in that advice too."""
    jobs = ResumeAllJobs(engine)
    pausing = PausingTruedy()
    runner = runner_for(engine, workspaces, slack, jobs, pausing)
    pause = posted_pause(jobs, slack, ended_resume_all(jobs, slack))
    held = InFlightResumes(engine).claim(TEAM.enterprise_id, TEAM.team_id, CAMPAIGNS[1], "U0CAROL01")
    assert isinstance(held, Claim)

    run_until_ended(runner, jobs, pause.id)

    assert CAMPAIGNS[1] not in pausing.pauses  # skipped, not sent: that part works
    lines = summary_of(slack, pause)
    assert any("skipped" in line for line in lines[:1]), lines  # the headline counts it…
    advice = [line for line in lines if "still calling" in line or "may still be calling" in line]
    assert any("skipped" in line for line in advice), lines  # …but nothing says to pause it
