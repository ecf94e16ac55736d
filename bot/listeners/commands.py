"""`/resume-campaign`: answered at once; the resume itself runs in the background."""

import logging

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import messages
from bot.campaign_id import InvalidCampaignId, parse_campaign_id
from bot.resume import ResumeRequest, ResumeService
from bot.services import Services

log = logging.getLogger("bot.commands")


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
    accepted = services.background.submit(
        announce_and_resume, services.resumes, request, command["channel_id"], client, respond
    )
    ack(**({} if accepted else messages.shutting_down()))


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
        _log_slack_error("announce", error)
        respond(**messages.private_notice_cannot_post(request.campaign_id))
        announcement = None
    try:
        outcome = resumes.resume(request)
    except Exception:
        failure = messages.internal_failure(request.campaign_id)
        respond(**failure)
        if announcement is not None:
            client.chat_update(channel=announcement["channel"], ts=announcement["ts"], text=failure["text"], blocks=[])
        raise
    if announcement is None:
        respond(**messages.private_result(request.campaign_id, outcome))
        return
    try:
        client.chat_postMessage(
            channel=announcement["channel"],
            thread_ts=announcement["ts"],
            **messages.result_details(request.campaign_id, outcome),
        )
        client.chat_update(
            channel=announcement["channel"], ts=announcement["ts"], **messages.resumed_summary(request, outcome)
        )
    except SlackApiError as error:
        _log_slack_error("report", error)
        respond(**messages.private_result(request.campaign_id, outcome))


def _log_slack_error(step: str, error: SlackApiError) -> None:
    log.warning(
        "slack refused a message",
        extra={"fields": {"event": "slack_error", "step": step, "error": error.response.get("error")}},
    )
