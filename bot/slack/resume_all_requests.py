"""Asking to resume all: `/resume-campaign resume-all` counts the paused campaigns and offers the button;
the button (there, or on a digest) posts the progress message and hands the job to the runner; Cancel
asks the running job to stop; Pause all again, under a finished one's summary, pauses again what it resumed.
Each runs after the ack."""

from dataclasses import replace
from datetime import UTC, datetime

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services import Services
from bot.slack.blocks import messages, resume_all_blocks
from bot.slack.listing import all_paused
from bot.slack.permissions import may_resume
from bot.slack.replies import log_refusal, update_message
from bot.storage.resume_all_jobs import ResumeAllJob, ResumeAllJobs, UndoNotTaken
from bot.storage.workspace_settings import WorkspaceId


def propose(
    services: Services, workspace: WorkspaceId, user_id: str, channel: str, client: WebClient, respond: Respond
) -> None:
    """`resume-all`: how many are paused, privately, with the button that starts resuming them."""
    if not may_resume(services, workspace, user_id, client, respond):
        return
    if running := services.resume_all.running_in(workspace):
        respond(**resume_all_blocks.already_running(running))
        return
    listed = all_paused(services, workspace)
    if isinstance(listed, dict):
        respond(**listed)
        return
    paused, complete = listed
    campaigns = [(campaign.id, campaign.name) for campaign in paused]
    job_id = services.resume_all.propose(workspace, user_id, channel, campaigns) if paused else 0
    respond(**resume_all_blocks.proposal(len(paused), job_id, services.resume_all_per_minute, complete))


def start(
    services: Services, workspace: WorkspaceId, user_id: str, value: str, client: WebClient, respond: Respond
) -> None:
    """The confirmed Resume all button: of a proposal (`{"job": id}`) or of a digest (`{"digest": id}`)."""
    parsed = resume_all_blocks.parse_resume_all_value(value)
    if parsed is None:
        respond(**messages.invalid_button(value))
        return
    if not may_resume(services, workspace, user_id, client, respond):
        return
    if running := services.resume_all.running_in(workspace):
        respond(**resume_all_blocks.already_running(running), replace_original=False)
        return
    kind, number = parsed
    if kind == "digest":
        digest = services.digests.get(number)
        if digest is None or digest.workspace != workspace:
            respond(**messages.invalid_button(value))
            return
        still_paused = [(row.campaign_id, row.name) for row in digest.still_paused]
        if not still_paused:
            respond(**resume_all_blocks.nothing_left_in_digest(), replace_original=False)
            return
        job_id = services.resume_all.propose(workspace, user_id, digest.channel, still_paused, digest.id)
    else:
        job_id = number
    problem = launch(services, workspace, user_id, job_id, client)
    if problem is not None:
        respond(**problem, replace_original=False)
    elif kind == "job":
        respond(**resume_all_blocks.proposal_taken(services.resume_all.get(job_id).channel), replace_original=True)


def launch(
    services: Services, workspace: WorkspaceId, user_id: str, job_id: int, client: WebClient
) -> messages.Message | None:
    """Post a proposed job's progress message and start it: None once it runs, else what to tell the requester."""
    job = services.resume_all.get(job_id)
    if job is None or job.workspace != workspace or job.requested_by != user_id or job.state != "proposed":
        return resume_all_blocks.proposal_gone()
    counts = services.resume_all.progress(job_id)
    # Shown as running from the start: the job runs once this message is its progress message.
    message = resume_all_blocks.progress(
        replace(job, state="running"), counts, datetime.now(UTC), services.resume_all_per_minute
    )
    try:
        posted = client.chat_postMessage(channel=job.channel, **message)
    except SlackApiError as error:
        log_refusal("resume_all_progress", error)
        return resume_all_blocks.cannot_post(job.channel)
    try:
        confirmed = services.resume_all.confirm(job_id, workspace, user_id, posted["ts"])
    except Exception:
        # The message must not go on saying "Resuming all…" for a job that never started.
        gone = resume_all_blocks.not_started()
        update_message(client, posted["channel"], posted["ts"], gone["text"], gone["blocks"])
        raise  # the requester is told privately (answer_safely)
    if confirmed is None or confirmed.id != job_id:
        # Another job started in between, or this one was confirmed twice: this message is not a job's.
        gone = resume_all_blocks.already_running(confirmed) if confirmed else resume_all_blocks.proposal_gone()
        update_message(client, posted["channel"], posted["ts"], gone["text"], [])
        return gone
    return None


def cancel(
    services: Services, workspace: WorkspaceId, user_id: str, value: str, client: WebClient, respond: Respond
) -> None:
    """Cancel: the job stops before its next campaign (the runner shows it); for those who may resume."""
    job_id = resume_all_blocks.parse_job_id(value)
    if job_id is None:
        respond(**messages.invalid_button(value))
        return
    if not may_resume(services, workspace, user_id, client, respond):
        return
    if services.resume_all.cancel(job_id, workspace, user_id) is None:
        respond(**resume_all_blocks.not_running(), replace_original=False)


def pause_all_again(
    services: Services, workspace: WorkspaceId, user_id: str, value: str, client: WebClient, respond: Respond
) -> None:
    """The confirmed Pause all again under a finished resume-all's summary: for those who may resume, once (the
    first click takes the offer, within its minutes by the database's clock), a paced job of its own that pauses
    again what it resumed, its progress in a new message of the channel."""
    job_id = resume_all_blocks.parse_job_id(value)
    if job_id is None:
        respond(**messages.invalid_button(value), replace_original=False)
        return
    if not may_resume(services, workspace, user_id, client, respond, replace_original=False):
        return
    settings = services.workspaces.get(workspace)
    if settings is None or settings.api_key is None:
        respond(**messages.workspace_not_configured(), replace_original=False)  # the offer stays, for afterwards
        return
    started = services.resume_all.take_undo(job_id, workspace, user_id)
    if isinstance(started, UndoNotTaken):
        respond(**resume_all_blocks.undo_not_taken(started.job, started.running), replace_original=False)
        if started.job is not None and started.running is None:
            show_summary(services.resume_all, started.job, client)  # its button goes, if the sweep has not taken it yet
        return
    # The job runs now: the run that takes it posts its progress message (bot.runners.resume_all), so that it is
    # never left unreported by this process dying, or by this post coming after the job ended.
    resumed = services.resume_all.get(job_id)
    if resumed is not None:
        show_summary(services.resume_all, resumed, client)


def show_summary(jobs: ResumeAllJobs, job: ResumeAllJob, client: WebClient) -> None:
    """A resume-all's summary as it should read now (with Pause all again, or who asked for it, or neither)."""
    if job.summary_ts is None:
        return
    summary = resume_all_blocks.summary(job, jobs.progress(job.id), jobs.items(job.id))
    update_message(client, job.channel, job.summary_ts, summary["text"], summary["blocks"])
