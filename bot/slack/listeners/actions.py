"""The Resume button on paused-campaign alerts: acknowledged at once, checked and resumed after."""

from functools import partial

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.resume import ResumeRequest
from bot.services import Services
from bot.slack import alert_blocks, messages
from bot.slack.replies import answer_safely
from bot.slack.surfaces import AlertSurface, ClickedAlert
from bot.truedy.campaign_id import InvalidCampaignId, parse_campaign_id


def register(app: App) -> None:
    app.action(alert_blocks.RESUME_ACTION_ID)(resume_from_alert)


def resume_from_alert(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    services: Services = context["services"]
    if not services.answers.submit(answer_safely, respond, partial(start_resume, services, body, client, respond)):
        respond(**messages.shutting_down())
    ack()


def start_resume(services: Services, body: dict, client: WebClient, respond: Respond) -> None:
    """Check the click, then the one resume flow. Refusals go privately to the clicker: a click's ack
    carries no message."""
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
    surface = AlertSurface(client, respond, ClickedAlert.from_click(body), request, services.alerts)
    services.flows.start(request, surface, client, respond)
