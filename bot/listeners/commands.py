"""`/resume-campaign`: answered at once; the resume itself runs in the background."""

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import messages
from bot.campaign_id import InvalidCampaignId, parse_campaign_id
from bot.replies import log_refusal, reply_in_thread, update_message
from bot.resume import ResumeRequest, ResumeService
from bot.services import Services


def register(app: App) -> None:
    app.command(messages.COMMAND)(resume_campaign)


def resume_campaign(ack: Ack, command: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    services: Services = context["services"]
    text = command.get("text") or ""
    if text.strip().lower() in ("", "help"):
        ack(**messages.usage())
        return
    campaign_id = parse_campaign_id(text)
    if isinstance(campaign_id, InvalidCampaignId):
        ack(**messages.invalid_campaign_id(text, campaign_id.reason))
        return
    if not services.resumes.serves(command["team_id"]):
        ack(**messages.workspace_not_configured(command["team_id"]))
        return
    request = ResumeRequest(command["team_id"], command["user_id"], campaign_id, via="command")
    if holder := services.resumes.claim(request):
        ack(**messages.already_resuming(holder, campaign_id))
        return
    if not services.background.submit(
        announce_and_resume, services.resumes, request, command["channel_id"], client, respond
    ):
        services.resumes.release(request)
        ack(**messages.shutting_down())
        return
    ack()


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
