"""The Resume button on paused-campaign alerts: checked and acknowledged at once, resumed in the background."""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from sqlalchemy.exc import SQLAlchemyError

from bot import alert_blocks, messages
from bot.campaign_id import InvalidCampaignId, parse_campaign_id
from bot.replies import reply_in_thread, update_message
from bot.resume import ResumeRequest, ResumeService
from bot.services import Services
from bot.workspaces import WorkspaceId


def register(app: App) -> None:
    app.action(alert_blocks.RESUME_ACTION_ID)(resume_from_alert)


@dataclass(frozen=True)
class ClickedAlert:
    channel: str
    ts: str
    thread_ts: str  # where results go: the alert's own thread, or the thread the alert is a reply in
    blocks: list  # the alert as it was clicked, Resume button included


def resume_from_alert(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    ack()
    services: Services = context["services"]
    try:
        refusal = _start_resume(services, body, client, respond)
    except SQLAlchemyError:
        refusal = messages.database_unavailable()
    # Block actions take no message in their ack: refusals go to the clicker through response_url.
    if refusal and not services.background.submit(partial(respond, **refusal)):
        respond(**refusal)


def _start_resume(services: Services, body: dict, client: WebClient, respond: Respond) -> messages.Message | None:
    """None when the resume was accepted, else what to tell the clicker."""
    team_id, user = body["team"]["id"], body["user"]
    enterprise_id = (body.get("enterprise") or {}).get("id") or ""
    value = body["actions"][0].get("value") or ""
    campaign_id = parse_campaign_id(value)
    if isinstance(campaign_id, InvalidCampaignId):
        return messages.invalid_button(value)
    # A guest from another organisation in a shared channel must not spend this workspace's account.
    if user.get("team_id") != team_id:
        return messages.not_your_workspace()
    settings = services.workspaces.get(WorkspaceId(enterprise_id, team_id))
    if settings is None or settings.api_key is None:
        return messages.workspace_not_configured(team_id)
    request = ResumeRequest(team_id, user["id"], campaign_id, "button", enterprise_id)
    if not services.authorizer.may_resume(settings, request.user_id, client):
        services.resumes.record_refusal(request, "not_allowed")
        return messages.not_allowed(settings)
    if holder := services.resumes.claim(request):
        return messages.already_resuming(holder, campaign_id)
    container, message = body["container"], body.get("message") or {}
    alert = ClickedAlert(
        channel=container["channel_id"],
        ts=container["message_ts"],
        thread_ts=container.get("thread_ts") or container["message_ts"],
        blocks=message.get("blocks") or [],
    )
    if not services.background.submit(resume_alert, services.resumes, request, alert, client, respond):
        services.resumes.release(request)
        return messages.shutting_down()
    return None


def resume_alert(
    resumes: ResumeService, request: ResumeRequest, alert: ClickedAlert, client: WebClient, respond: Respond
) -> None:
    """Show at once that the campaign is being resumed (no button: nobody clicks twice), resume, then
    give the result in the alert's thread and leave the alert in its final state."""
    show_state(client, alert, request.campaign_id, alert_blocks.resuming_state(request.user_id), offer_resume=False)
    try:
        outcome = resumes.resume(request)
    except Exception:
        failure = messages.internal_failure(request.campaign_id)
        respond(**failure)
        show_state(client, alert, request.campaign_id, f":warning: {failure['text']}", offer_resume=True)
        raise
    reply_in_thread(client, respond, alert.channel, alert.thread_ts, request.campaign_id, outcome)
    state, offer_resume = alert_blocks.final_state(request.user_id, outcome, datetime.now(UTC))
    show_state(client, alert, request.campaign_id, state, offer_resume)


def show_state(client: WebClient, alert: ClickedAlert, campaign_id: str, state: str, offer_resume: bool) -> None:
    blocks = alert_blocks.with_state(alert.blocks, state, offer_resume)
    update_message(client, alert.channel, alert.ts, alert_blocks.state_text(campaign_id, state), blocks)
