"""`/resume-campaign`: acknowledged at once; everything that needs the database, Slack or Truedy runs after."""

from functools import partial

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import messages
from bot.campaign_id import CampaignId, InvalidCampaignId, parse_campaign_id
from bot.listeners.views import open_setup
from bot.replies import answer_safely, log_refusal, reply_in_thread, update_message
from bot.resume import ResumeRequest, ResumeService
from bot.services import Services
from bot.workspaces import WorkspaceId


def register(app: App) -> None:
    app.command(messages.COMMAND)(resume_campaign)


def resume_campaign(ack: Ack, command: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    services: Services = context["services"]
    text = command.get("text") or ""
    word, _, rest = text.strip().partition(" ")
    match word.lower():
        case "" | "help":
            ack(**messages.usage())
            return
        case "setup":
            job = partial(open_setup, services.workspaces, command, client, respond)
        case "status":
            job = partial(_status, services, command, respond)
        case "history":
            campaign_id = parse_campaign_id(rest) if rest.strip() else None
            if isinstance(campaign_id, InvalidCampaignId):
                ack(**messages.invalid_campaign_id(rest, campaign_id.reason))
                return
            job = partial(_history, services, command, campaign_id, respond)
        case _:
            campaign_id = parse_campaign_id(text)
            if isinstance(campaign_id, InvalidCampaignId):
                ack(**messages.invalid_campaign_id(text, campaign_id.reason))
                return
            job = partial(start_resume, services, command, campaign_id, client, respond)
    ack(**({} if services.answers.submit(answer_safely, respond, job) else messages.shutting_down()))


def _status(services: Services, command: dict, respond: Respond) -> None:
    respond(**messages.status(command["team_id"], services.workspaces.get(_workspace(command))))


def _history(services: Services, command: dict, campaign_id: CampaignId | None, respond: Respond) -> None:
    respond(**messages.history(services.audit.latest(command["team_id"], campaign_id), campaign_id))


def start_resume(
    services: Services, command: dict, campaign_id: CampaignId, client: WebClient, respond: Respond
) -> None:
    """Check the request, claim the campaign and say in the channel who is resuming what; the Truedy call
    itself queues for the resume pool. Refusals go privately to the requester."""
    request = ResumeRequest(
        command["team_id"], command["user_id"], campaign_id, "command", command.get("enterprise_id") or ""
    )
    if refusal := services.resumes.admit(request, client):
        respond(**messages.refusal(refusal, campaign_id))
        return
    try:
        announcement = client.chat_postMessage(channel=command["channel_id"], **messages.resuming(request))
    except SlackApiError as error:
        log_refusal("announce", error)
        respond(**messages.private_notice_cannot_post(request.campaign_id))
        announcement = None
    if not services.resume_calls.submit(resume_and_report, services.resumes, request, announcement, client, respond):
        services.resumes.release(request)
        respond(**messages.shutting_down())
        if announcement is not None:
            update_message(client, announcement["channel"], announcement["ts"], **messages.not_started(request))


def resume_and_report(
    resumes: ResumeService, request: ResumeRequest, announcement: dict | None, client: WebClient, respond: Respond
) -> None:
    """Resume, then give the result in the announcement's thread and leave the announcement in its final
    state; without an announcement (the bot cannot post there), privately to the requester."""
    try:
        outcome = resumes.resume(request)
    except Exception:
        failure = messages.internal_failure(request.campaign_id)
        respond(**failure)
        if announcement is not None:
            update_message(client, announcement["channel"], announcement["ts"], failure["text"], [])
        raise
    if announcement is None:
        respond(**messages.private_result(request.campaign_id, outcome))
        return
    reply_in_thread(client, respond, announcement["channel"], announcement["ts"], request.campaign_id, outcome)
    update_message(client, announcement["channel"], announcement["ts"], **messages.resumed_summary(request, outcome))


def _workspace(command: dict) -> WorkspaceId:
    return WorkspaceId(command.get("enterprise_id") or "", command["team_id"])
