"""`/resume-campaign`: acknowledged at once; everything that needs the database, Slack or Truedy runs after."""

from functools import partial

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.resume import ResumeRequest
from bot.services import Services
from bot.slack import messages
from bot.slack.listeners.views import open_setup
from bot.slack.replies import answer_safely
from bot.slack.surfaces import Announcement
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId, InvalidCampaignId, parse_campaign_id


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
    workspace = _workspace(command)
    settings, problem = services.workspaces.get(workspace), services.channel_problems.latest(workspace)
    respond(**messages.status(command["team_id"], settings, problem))


def _history(services: Services, command: dict, campaign_id: CampaignId | None, respond: Respond) -> None:
    respond(**messages.history(services.audit.latest(command["team_id"], campaign_id), campaign_id))


def start_resume(
    services: Services, command: dict, campaign_id: CampaignId, client: WebClient, respond: Respond
) -> None:
    request = ResumeRequest(
        command["team_id"], command["user_id"], campaign_id, "command", command.get("enterprise_id") or ""
    )
    services.flows.start(request, Announcement(client, respond, command["channel_id"], request), client, respond)


def _workspace(command: dict) -> WorkspaceId:
    return WorkspaceId(command.get("enterprise_id") or "", command["team_id"])
