"""Workflow Builder steps (declared in bot.slack.manifest.STEPS): Resume a campaign, Resume all paused campaigns,
List paused campaigns.

Each run is recorded by its `function_execution_id` (bot.storage.step_runs, whose docstring has the states and
moves), so that one Slack delivers again changes nothing: a step resumes once and is completed once. Each ends
with a completion whose words are what the thread would have said.

Whom the workspace's restrictions are checked against is the person Slack vouches for: the run's `user_context`
(the person who started the workflow from a link, a shortcut or a button). A run with none (a scheduled trigger)
is unattended: where resumes are restricted it resumes only if a workspace admin allowed unattended runs in
setup, and it is audited so. The `acting_user` a builder picks only names someone; it grants nothing.
"""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import truedy
from bot.resume import NotStarted, Refusal, ResumeRequest
from bot.resume_flow import Ending
from bot.services import Services
from bot.slack.blocks import messages, resume_all_blocks
from bot.slack.listing import all_paused, may_be_a_name, named
from bot.slack.resume_all_requests import launch
from bot.storage.inflight import AlreadyResuming, ShownAt
from bot.storage.resume_all_jobs import Progress, ResumeAllJob
from bot.storage.step_runs import StepRuns
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId, InvalidCampaignId, parse_campaign_id

log = logging.getLogger("bot.steps")

# A resume-all step is completed when its job ends, or this long after it started, with the count it has still to
# try (its summary then goes to the channel). Slack gives a step no documented deadline for an app that runs it
# (its own hosted functions get 15 s): this stays well within that. Nothing waits on a thread meanwhile.
RESUME_ALL_WAIT = timedelta(seconds=10)
# Lines of the list step's text output: enough to post, short enough to read.
LISTED_AT_MOST = 50
# What Slack may answer to a completion that is worth sending again later; any other refusal is final (the run
# already has a completion, the token was revoked, the app uninstalled), and the run ends.
TRY_AGAIN = ("ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,20}$")


@dataclass(frozen=True)
class StepRun:
    """One execution of a step, held by this process (`owner`): whose workspace, its inputs, its run's
    execution ids, and how it is completed."""

    execution_id: str
    workspace: WorkspaceId
    inputs: dict[str, Any]
    workflow: str  # the workflow run's execution id
    client: WebClient
    runs: StepRuns
    owner: str

    def text(self, name: str) -> str:
        value = self.inputs.get(name)
        return value.strip() if isinstance(value, str) else ""

    def complete(self, outputs: dict[str, Any]) -> None:
        self._end({"outputs": outputs})

    def fail(self, error: str) -> None:
        self._end({"error": error})

    def _end(self, completion: dict[str, Any]) -> None:
        """Recorded, then told to Slack. A run its owner no longer holds (taken over by another process, which
        ends it) is told nothing from here."""
        try:
            decided = self.runs.complete(self.execution_id, self.owner, completion)
        except SQLAlchemyError:
            # Told anyway: nothing runs a step twice, so the worst that follows is a second completion, which Slack
            # refuses.
            log.exception("step completion not recorded", extra={"fields": {"event": "database_error"}})
            decided = True
        if decided:
            tell_slack(self.client, self.runs, self.execution_id, completion)


def tell_slack(client: WebClient, runs: StepRuns, execution_id: str, completion: dict[str, Any]) -> None:
    """The completion, sent; ended once Slack has it, or refused it for good (it had one already, say). When Slack
    cannot be told now (unreachable, rate-limited), the run stays completing, and its owner sends it again
    (bot.runners.steps)."""
    try:
        if "outputs" in completion:
            client.functions_completeSuccess(function_execution_id=execution_id, outputs=completion["outputs"])
        else:
            client.functions_completeError(function_execution_id=execution_id, error=completion["error"])
    except SlackApiError as error:
        refused = error.response.get("error")
        log.warning("step completion refused", extra={"fields": {"event": "step_completion_refused", "error": refused}})
        if refused in TRY_AGAIN or error.response.status_code >= 500:
            return
    except OSError:
        log.warning("step completion not sent", extra={"fields": {"event": "step_completion_not_sent"}})
        return
    try:
        runs.ended(execution_id)
    except SQLAlchemyError:  # its owner sends it again, and Slack refuses that copy: the run ends then
        log.exception("step end not recorded", extra={"fields": {"event": "database_error"}})


@dataclass(frozen=True)
class Actor:
    """Who a step's resumes are for: the person Slack vouches for, or nobody (unattended) with a name at most."""

    user_id: str
    unattended: bool
    allowed_by: str | None = None


def actor(services: Services, run: StepRun) -> Actor:
    """The person the run's `user_context` names, else an unattended run named by `acting_user` (or nobody), with
    the admin who allowed such runs where resumes are restricted."""
    context = run.inputs.get("user_context")
    person = context.get("id") if isinstance(context, dict) else None
    if isinstance(person, str) and _USER_ID.match(person):
        return Actor(person, unattended=False)
    named_user = run.text("acting_user")
    settings = services.workspaces.get(run.workspace)
    allowed_by = settings.unattended_allowed_by if settings is not None and settings.restricted else None
    return Actor(named_user if _USER_ID.match(named_user) else "", unattended=True, allowed_by=allowed_by)


def resume_campaign(services: Services, run: StepRun) -> None:
    found = _campaign(services, run.workspace, run.text("campaign"))
    if not isinstance(found, CampaignId):
        run.fail(error=found)
        return
    who = actor(services, run)
    request = ResumeRequest(
        run.workspace.team_id,
        who.user_id,
        found,
        "workflow",
        run.workspace.enterprise_id,
        workflow=run.workflow,
        unattended=who.unattended,
        allowed_by=who.allowed_by,
    )
    sending = lambda: run.runs.start_sending(run.execution_id, run.owner)  # noqa: E731
    refused = services.flows.start(request, StepSurface(run, found), run.client, _say_nothing, before_sending=sending)
    if isinstance(refused, NotStarted):
        run.fail(error=messages.shutting_down()["text"])
    elif refused is not None:
        run.fail(error=_refusal_text(refused, found))


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
    """Start the resume-all job (its progress in the channel given), then leave the run waiting: it is
    completed when the job ends or RESUME_ALL_WAIT after, by the process holding it, with no thread waiting."""
    channel = run.text("channel")
    if not channel:
        run.fail(error="Set “Progress in” in this step.")
        return
    who = actor(services, run)
    refusal = services.resumes.refusal(run.workspace, who.user_id, run.client, unattended=who.unattended)
    if refusal is not None:
        run.fail(error=_refusal_text(refusal, ""))
        return
    if running := services.resume_all.running_in(run.workspace):
        run.fail(error=resume_all_blocks.already_running(running)["text"])
        return
    paused = _paused_named(services, run)
    if paused is None:
        return
    campaigns = [(campaign.id, campaign.name) for campaign in paused]
    if not campaigns:
        run.complete(outputs=resume_all_outputs(Progress(0, 0, 0, 0, 0), finished=True))
        return
    job_id = services.resume_all.propose(
        run.workspace,
        who.user_id,
        channel,
        campaigns,
        workflow=run.workflow,
        unattended=who.unattended,
        allowed_by=who.allowed_by,
    )
    if not run.runs.started_job(run.execution_id, run.owner, job_id):
        return  # taken over by another process meanwhile, which ends it: this job is never started
    if (problem := launch(services, run.workspace, who.user_id, job_id, run.client)) is not None:
        run.fail(error=problem["text"])
        return
    try:
        run.runs.wait_for(run.execution_id, run.owner, run.runs.now() + RESUME_ALL_WAIT)
    except SQLAlchemyError:  # the job runs: never "nothing was resumed"
        log.exception("resume-all step cannot wait", extra={"fields": {"event": "database_error"}})
        run.fail(
            error=f"The resume all started (its progress is in <#{channel}>), but the bot's database stopped "
            "answering, so this step cannot give its counts. The summary goes to that channel when it ends."
        )


def resume_all_outputs(counts: Progress, finished: bool) -> dict[str, Any]:
    return {
        "total": counts.total,
        "resumed": counts.resumed,
        "failed": counts.failed,
        "unknown": counts.unknown,
        "not_tried": counts.left,
        "finished": finished,
    }


def resume_all_completion(job: ResumeAllJob | None, counts: Progress | None) -> dict[str, Any]:
    """What a waiting resume-all step is completed with: the job's counts; if the job is gone (the app was
    uninstalled meanwhile), why."""
    if job is None or counts is None:
        return {"error": "The resume-all job is gone: the app was uninstalled from this workspace meanwhile."}
    return {"outputs": resume_all_outputs(counts, finished=job.state == "ended")}


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


def _refusal_text(refusal: Refusal, campaign_id: str) -> str:
    return str(messages.refusal(refusal, campaign_id)["text"])


def _say_nothing(**_message: object) -> None:
    """The flow's private answers: a step's refusals end the step instead (`resume_campaign`)."""


@dataclass
class StepSurface:
    """A step's resume shows nowhere in Slack: its ending completes the step."""

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
            # Stopping before its turn (or taken over, whose owner ends it): nothing was sent.
            self.run.fail(error=messages.shutting_down()["text"])
        elif isinstance(ending, AlreadyResuming):
            self.run.fail(error=_refusal_text(ending, self.campaign_id))
        else:
            self.run.fail(error=messages.result_details(self.campaign_id, ending)["text"])
