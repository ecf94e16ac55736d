"""`/resume-campaign`: acknowledged at once; everything that needs the database, Slack or Truedy runs after."""

from functools import partial

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient

from bot.resume import ResumeRequest
from bot.services import Services
from bot.slack import resume_all_requests, schedule_requests, time_picker
from bot.slack.blocks import messages, time_picker_blocks
from bot.slack.context import workspace_of
from bot.slack.listeners.views import open_setup
from bot.slack.listing import is_name_query, may_be_a_name, offer_named, show_named, show_paused
from bot.slack.replies import answer_safely
from bot.slack.surfaces import Announcement
from bot.slack.undo import Undo
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId, InvalidCampaignId, parse_campaign_id
from bot.when import looks_like_a_time


def register(app: App) -> None:
    app.command(messages.COMMAND)(resume_campaign)


def resume_campaign(ack: Ack, command: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    services: Services = context["services"]
    workspace = workspace_of(context)
    text = command.get("text") or ""
    word, _, rest = text.strip().partition(" ")
    # `<campaign id> at 9:00`, `… in 2h`: a resume to schedule.
    scheduled_id = parse_campaign_id(word) if looks_like_a_time(rest) else None
    pool = services.answers  # Truedy reads go to their own pool, so that a slow Truedy holds no quick answer
    match word.lower():
        case "help":
            ack(**messages.usage())
            return
        case "" | "list":
            pool, job = services.lookups, partial(show_paused, services, workspace, 0, respond)
        case "setup":
            opener = command["user_id"]
            job = partial(open_setup, services, workspace, opener, command, client, respond, context.bot_user_id)
        case "resume-all":
            pool = services.lookups
            job = partial(
                resume_all_requests.propose,
                services,
                workspace,
                command["user_id"],
                command["channel_id"],
                client,
                respond,
            )
        case "scheduled":
            job = partial(schedule_requests.list_scheduled, services, workspace, respond)
        case "status":
            job = partial(_status, services, workspace, respond)
        case "history":
            campaign_id = parse_campaign_id(rest) if rest.strip() else None
            if isinstance(campaign_id, InvalidCampaignId):
                ack(**messages.invalid_campaign_id(rest, campaign_id.reason))
                return
            job = partial(_history, services, workspace, campaign_id, respond)
        case _ if isinstance(scheduled_id, CampaignId) and rest.strip().lower() == "at":
            # `<id> at` and no time: Slack's own picker.
            picked_for = time_picker_blocks.PickedFor(scheduled_id, command["channel_id"], None, "command")
            job = partial(
                time_picker.open_picker,
                services,
                workspace,
                command["user_id"],
                picked_for,
                command["trigger_id"],
                client,
                respond,
            )
        case _ if isinstance(scheduled_id, CampaignId):
            user, channel = command["user_id"], command["channel_id"]
            job = partial(
                schedule_requests.schedule, services, workspace, user, scheduled_id, rest, channel, client, respond
            )
        case _:
            campaign_id = parse_campaign_id(text)
            if isinstance(campaign_id, InvalidCampaignId) and is_name_query(text):
                pool, job = services.lookups, partial(show_named, services, workspace, text.strip(), respond)
            elif isinstance(campaign_id, InvalidCampaignId):
                ack(**messages.invalid_campaign_id(text, campaign_id.reason))
                return
            else:
                request = ResumeRequest(
                    workspace.team_id, command["user_id"], campaign_id, "command", workspace.enterprise_id
                )
                job = partial(start_resume, services, request, command["channel_id"], client, respond)
    ack(**({} if pool.submit(answer_safely, respond, job) else messages.shutting_down()))


def _status(services: Services, workspace: WorkspaceId, respond: Respond) -> None:
    settings, problem = services.workspaces.get(workspace), services.channel_problems.latest(workspace)
    respond(**messages.status(workspace.team_id, settings, problem, services.public_url))


def _history(services: Services, workspace: WorkspaceId, campaign_id: CampaignId | None, respond: Respond) -> None:
    respond(**messages.history(services.audit.latest(workspace.team_id, campaign_id), campaign_id))


def start_resume(services: Services, request: ResumeRequest, channel: str, client: WebClient, respond: Respond) -> None:
    campaigns_named = partial(offer_named, services, request.workspace)
    announcement = Announcement(
        client,
        respond,
        channel,
        request,
        campaigns_named,
        quiet_until_answered=may_be_a_name(request.campaign_id),
        undo=Undo(services.pause_offers, services.undo_minutes),
    )
    services.flows.start(request, announcement, client, respond)
