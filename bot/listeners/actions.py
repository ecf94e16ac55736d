"""The Resume button on paused-campaign alerts: acknowledged at once, checked and resumed after."""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot import alert_blocks, messages
from bot.campaign_id import InvalidCampaignId, parse_campaign_id
from bot.replies import answer_safely, reply_in_thread, update_message
from bot.resume import ResumeRequest
from bot.services import Services


def register(app: App) -> None:
    app.action(alert_blocks.RESUME_ACTION_ID)(resume_from_alert)


@dataclass(frozen=True)
class ClickedAlert:
    channel: str
    ts: str
    thread_ts: str  # where results go: the alert's own thread, or the thread the alert is a reply in
    blocks: list  # the alert as it was clicked, Resume button included


def resume_from_alert(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    services: Services = context["services"]
    if not services.answers.submit(answer_safely, respond, partial(start_resume, services, body, client, respond)):
        respond(**messages.shutting_down())
    ack()


def start_resume(services: Services, body: dict, client: WebClient, respond: Respond) -> None:
    """Check the click, claim the campaign and show on the alert that it is being resumed (no button: nobody
    clicks twice); the Truedy call itself queues for the resume pool. Refusals go privately to the clicker:
    a click's ack carries no message."""
    team_id, user = body["team"]["id"], body["user"]
    enterprise_id = (body.get("enterprise") or {}).get("id") or ""
    value = body["actions"][0].get("value") or ""
    campaign_id = parse_campaign_id(value)
    if isinstance(campaign_id, InvalidCampaignId):
        respond(**messages.invalid_button(value))
        return
    # A guest from another organisation in a shared channel must not spend this workspace's account.
    if user.get("team_id") != team_id:
        respond(**messages.not_your_workspace())
        return
    request = ResumeRequest(team_id, user["id"], campaign_id, "button", enterprise_id)
    if refusal := services.resumes.admit(request, client):
        respond(**messages.refusal(refusal, campaign_id))
        return
    container, message = body["container"], body.get("message") or {}
    alert = ClickedAlert(
        channel=container["channel_id"],
        ts=container["message_ts"],
        thread_ts=container.get("thread_ts") or container["message_ts"],
        blocks=message.get("blocks") or [],
    )
    show_state(client, alert, campaign_id, alert_blocks.resuming_state(request.user_id), offer_resume=False)
    if not services.resume_calls.submit(resume_alert, services, request, alert, client, respond):
        services.resumes.release(request)
        respond(**messages.shutting_down())
        show_state(client, alert, campaign_id, alert_blocks.restarting_state(), offer_resume=True)


def resume_alert(
    services: Services, request: ResumeRequest, alert: ClickedAlert, client: WebClient, respond: Respond
) -> None:
    """Resume, then give the result in the alert's thread and leave the alert in its final state."""
    try:
        outcome = services.resumes.resume(request)
    except Exception:
        failure = messages.internal_failure(request.campaign_id)
        respond(**failure)
        show_state(client, alert, request.campaign_id, f":warning: {failure['text']}", offer_resume=True)
        raise
    reply_in_thread(client, respond, alert.channel, alert.thread_ts, request.campaign_id, outcome)
    state, offer_resume = alert_blocks.final_state(request.user_id, outcome, datetime.now(UTC))
    if not offer_resume:
        # This pause is over as far as the alert goes: the watcher must not alert it again or rewrite it.
        services.alerts.close(request.workspace, request.campaign_id)
    show_state(client, alert, request.campaign_id, state, offer_resume)


def show_state(client: WebClient, alert: ClickedAlert, campaign_id: str, state: str, offer_resume: bool) -> None:
    blocks = alert_blocks.with_state(alert.blocks, state, offer_resume)
    update_message(client, alert.channel, alert.ts, alert_blocks.state_text(campaign_id, state), blocks)
