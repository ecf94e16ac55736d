"""Publishing someone's Home tab: read now (when they open it, and after an action they took there)."""

from dataclasses import replace

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import truedy
from bot.services import Services
from bot.slack import home_blocks, list_blocks, messages
from bot.slack.permissions import may_set_up
from bot.slack.replies import log_refusal
from bot.storage.workspace_settings import WorkspaceId


def publish_home(services: Services, workspace: WorkspaceId, user_id: str, client: WebClient) -> None:
    settings = services.workspaces.get(workspace)
    paused: truedy.CampaignPage | str = truedy.CampaignPage([], False, 0, None)
    if settings is not None and settings.api_key is not None:
        try:
            page = services.truedy.list_campaigns(
                settings.api_key, status="paused", limit=list_blocks.PAGE_SIZE, offset=home_blocks.HOME_PAGE
            )
            paused = replace(page, campaigns=[c for c in page.campaigns if c.status == "paused"])
        except truedy.TruedyError as error:
            paused = " ".join(messages.explain(error))
    try:
        allowed = may_set_up(services, workspace, user_id, client)
    except SlackApiError:
        allowed = False  # Slack would not say whether they are an admin: show them what everyone sees
    view = home_blocks.home(settings, paused, services.audit.latest(workspace.team_id), allowed)
    try:
        client.views_publish(user_id=user_id, view=view)
    except SlackApiError as error:
        log_refusal("home", error)
