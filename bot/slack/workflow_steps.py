"""Workflow Builder steps (declared in bot.slack.manifest.STEPS): Resume a campaign, Resume all paused campaigns,
List paused campaigns. Each acts for the person given as its `acting_user` input, whose restrictions apply, and
each resume is audited as `workflow` with the run's execution id. Each runs after the ack and ends its step with
`complete` or `fail`, whose text is what the thread would have said."""

import time
from dataclasses import dataclass
from typing import Any

from slack_bolt import Complete, Fail
from slack_sdk import WebClient

from bot import truedy
from bot.resume import NotStarted, ResumeRequest
from bot.resume_flow import Ending
from bot.services import Services
from bot.slack.blocks import messages, resume_all_blocks
from bot.slack.listing import all_paused, may_be_a_name, named
from bot.slack.resume_all_requests import launch
from bot.storage.inflight import AlreadyResuming, ShownAt
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId, InvalidCampaignId, parse_campaign_id

# A resume-all step waits this long for its job to end; a longer job completes the step once it runs, with the
# count it will try, and its summary goes to the channel. Slack gives a step no documented deadline for an app
# that runs it (its own hosted functions get 15 s): this stays well within that.
RESUME_ALL_WAIT_SECONDS = 10.0
# Lines of the list step's text output: enough to post, short enough to read.
LISTED_AT_MOST = 50


@dataclass(frozen=True)
class StepRun:
    """One execution of a step: whose workspace, its inputs, its run's execution id, and how to end it."""

    workspace: WorkspaceId
    inputs: dict[str, Any]
    workflow: str  # the workflow run's execution id
    client: WebClient
    complete: Complete
    fail: Fail

    def text(self, name: str) -> str:
        value = self.inputs.get(name)
        return value.strip() if isinstance(value, str) else ""


def resume_campaign(services: Services, run: StepRun) -> None:
    acting_user = run.text("acting_user")
    if not acting_user:
        run.fail(error="No one to resume as: set “Resume as” in this step.")
        return
    found = _campaign(services, run.workspace, run.text("campaign"))
    if not isinstance(found, CampaignId):
        run.fail(error=found)
        return
    request = ResumeRequest(
        run.workspace.team_id, acting_user, found, "workflow", run.workspace.enterprise_id, workflow=run.workflow
    )
    services.flows.start(request, StepSurface(run, found), run.client, StepAnswers(run))


def list_paused(services: Services, run: StepRun) -> None:
    campaigns = _paused_named(services, run)
    if campaigns is None:
        return
    lines = [
        f"• {campaign.name or 'Unnamed campaign'} ({campaign.id})"
        + (f", {campaign.pending} pending" if campaign.pending is not None else "")
        for campaign in campaigns[:LISTED_AT_MOST]
    ]
    if len(campaigns) > LISTED_AT_MOST:
        lines.append(f"…and {len(campaigns) - LISTED_AT_MOST} more ({messages.COMMAND} list shows them all).")
    run.complete(outputs={"count": len(campaigns), "campaigns": "\n".join(lines) or "No campaign is paused."})


def resume_all(services: Services, run: StepRun) -> None:
    acting_user, channel = run.text("acting_user"), run.text("channel")
    if not acting_user or not channel:
        run.fail(error="Set “Resume as” and “Progress in” in this step.")
        return
    if (refusal := services.resumes.refusal(run.workspace, acting_user, run.client)) is not None:
        run.fail(error=messages.refusal(refusal, "")["text"])
        return
    if running := services.resume_all.running_in(run.workspace):
        run.fail(error=resume_all_blocks.already_running(running)["text"])
        return
    paused = _paused_named(services, run)
    if paused is None:
        return
    campaigns = [(campaign.id, campaign.name) for campaign in paused]
    if not campaigns:
        run.complete(outputs={"total": 0, "resumed": 0, "failed": 0, "not_tried": 0, "finished": True})
        return
    job_id = services.resume_all.propose(run.workspace, acting_user, channel, campaigns, workflow=run.workflow)
    if (problem := launch(services, run.workspace, acting_user, job_id, run.client)) is not None:
        run.fail(error=problem["text"])
        return
    deadline = time.monotonic() + RESUME_ALL_WAIT_SECONDS
    job = services.resume_all.get(job_id)
    while job is not None and job.state != "ended" and time.monotonic() < deadline:
        time.sleep(0.5)  # the job may run on another process: its row is where its end shows
        job = services.resume_all.get(job_id)
    finished = job is not None and job.state == "ended"
    counts = services.resume_all.progress(job_id)
    outputs = {
        "total": counts.total,
        "resumed": counts.resumed,
        "failed": counts.failed,
        "not_tried": counts.left,
        "finished": finished,
    }
    run.complete(outputs=outputs)


def _paused_named(services: Services, run: StepRun) -> list[truedy.Campaign] | None:
    """The paused campaigns the step's name filter keeps (all without one); None once the step failed saying
    why Truedy would not list them."""
    listed = all_paused(services, run.workspace)
    if isinstance(listed, dict):
        run.fail(error=listed["text"])
        return None
    wanted = run.text("name_filter")
    return named(wanted, listed[0]) if wanted else listed[0]


def _campaign(services: Services, workspace: WorkspaceId, typed: str) -> CampaignId | str:
    """The campaign's id, from its id or its exact name (among the paused ones); else why not."""
    if not typed:
        return "The step has no campaign: give its id (batch_c3d4e5f6) or its exact name."
    as_id = parse_campaign_id(typed)
    if isinstance(as_id, CampaignId) and not may_be_a_name(typed):  # an id is one word (parse_campaign_id)
        return as_id
    listed = all_paused(services, workspace)
    if isinstance(listed, dict):
        return str(listed["text"])
    exact = [c for c in listed[0] if (c.name or "").strip().casefold() == typed.casefold()]
    if len(exact) == 1:
        return CampaignId(exact[0].id)
    if len(exact) > 1:
        ids = ", ".join(campaign.id for campaign in exact[:10])
        return f"{len(exact)} paused campaigns are named “{typed}” ({ids}): give the id of the one to resume."
    if isinstance(as_id, CampaignId):
        return as_id  # a one-word id that could have been a name
    reason = as_id.reason if isinstance(as_id, InvalidCampaignId) else ""
    return f"No paused campaign is named “{typed}”, and it is not a campaign id ({reason}). Nothing was resumed."


@dataclass
class StepSurface:
    """A step's resume shows nowhere in Slack: its ending ends the step."""

    run: StepRun
    campaign_id: str

    def show_resuming(self) -> ShownAt | None:
        return None

    def show_ending(self, ending: Ending) -> None:
        if isinstance(ending, truedy.Resumed):
            outputs: dict[str, Any] = {"campaign_id": ending.campaign_id or self.campaign_id}
            outputs["status"] = ending.status or "active"
            if ending.resumed_at is not None:
                outputs["resumed_at"] = int(ending.resumed_at.timestamp())
            self.run.complete(outputs=outputs)
        elif isinstance(ending, NotStarted):
            self.run.fail(error=messages.shutting_down()["text"])
        elif isinstance(ending, AlreadyResuming):
            self.run.fail(error=messages.refusal(ending, self.campaign_id)["text"])
        else:
            self.run.fail(error=messages.result_details(self.campaign_id, ending)["text"])


@dataclass
class StepAnswers:
    """What the resume flow would tell the requester privately (a refusal) ends the step, failed."""

    run: StepRun

    def __call__(self, text: str = "", **_ignored: object) -> None:
        self.run.fail(error=text)
