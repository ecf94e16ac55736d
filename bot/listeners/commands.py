"""`/resume-campaign`: answered at once; resumes and the setup modal run in the background."""

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import messages
from bot.campaign_id import InvalidCampaignId, parse_campaign_id
from bot.listeners.views import open_setup
from bot.replies import log_refusal, reply_in_thread, update_message
from bot.resume import ResumeRequest, ResumeService
from bot.services import Services
from bot.workspaces import WorkspaceId


def register(app: App) -> None:
    app.command(messages.COMMAND)(resume_campaign)


def resume_campaign(ack: Ack, command: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    services: Services = context["services"]
    text = command.get("text") or ""
    word, _, rest = text.strip().partition(" ")
    try:
        match word.lower():
            case "" | "help":
                ack(**messages.usage())
            case "setup":
                submitted = services.background.submit(
                    open_setup, services.workspaces, command, command["trigger_id"], client, respond
                )
                ack(**({} if submitted else messages.shutting_down()))
            case "status":
                settings = services.workspaces.get(_workspace(command))
                ack(**messages.status(command["team_id"], settings))
            case "history":
                ack(**_history(services, command, rest))
            case _:
                ack(**_resume(services, command, text, client, respond))
    except SQLAlchemyError:
        ack(**messages.database_unavailable())


def _history(services: Services, command: dict, text: str) -> messages.Message:
    campaign_id = parse_campaign_id(text) if text.strip() else None
    if isinstance(campaign_id, InvalidCampaignId):
        return messages.invalid_campaign_id(text, campaign_id.reason)
    return messages.history(services.audit.latest(command["team_id"], campaign_id), campaign_id)


def _resume(services: Services, command: dict, text: str, client: WebClient, respond: Respond) -> messages.Message:
    """The ack for a resume request: empty when it was accepted (the channel hears), else why not."""
    campaign_id = parse_campaign_id(text)
    if isinstance(campaign_id, InvalidCampaignId):
        return messages.invalid_campaign_id(text, campaign_id.reason)
    settings = services.workspaces.get(_workspace(command))
    if settings is None or settings.api_key is None:
        return messages.workspace_not_configured(command["team_id"])
    request = ResumeRequest(
        command["team_id"], command["user_id"], campaign_id, "command", command.get("enterprise_id") or ""
    )
    if not services.authorizer.may_resume(settings, request.user_id, client):
        services.resumes.record_refusal(request, "not_allowed")
        return messages.not_allowed(settings)
    if holder := services.resumes.claim(request):
        return messages.already_resuming(holder, campaign_id)
    if not services.background.submit(
        announce_and_resume, services.resumes, request, command["channel_id"], client, respond
    ):
        services.resumes.release(request)
        return messages.shutting_down()
    return {}


def _workspace(command: dict) -> WorkspaceId:
    return WorkspaceId(command.get("enterprise_id") or "", command["team_id"])


def announce_and_resume(
    resumes: ResumeService, request: ResumeRequest, channel_id: str, client: WebClient, respond: Respond
) -> None:
    """Say in the channel who is resuming what, resume, then give the result in that message's thread.

    Where the bot cannot post (not a member, a DM, a private channel), the requester still hears
    everything through the command's response_url.
    """
    try:
        announcement = client.chat_postMessage(channel=channel_id, **messages.resuming(request))
    except SlackApiError as error:
        log_refusal("announce", error)
        respond(**messages.private_notice_cannot_post(request.campaign_id))
        announcement = None
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
