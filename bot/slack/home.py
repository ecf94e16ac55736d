"""Publishing someone's Home tab: read now (when they open it, and after an action they took there)."""

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import truedy
from bot.services import Services
from bot.slack.blocks import home_blocks, list_blocks, messages
from bot.slack.permissions import may_set_up
from bot.slack.replies import log_refusal
from bot.storage.workspace_settings import WorkspaceId


def publish_home(services: Services, workspace: WorkspaceId, user_id: str, client: WebClient) -> None:
    settings = services.workspaces.get(workspace)
    paused: truedy.CampaignPage | str = truedy.CampaignPage([], False, 0, None)
    if settings is not None and settings.api_key is not None:
        try:
            paused = services.truedy.paused_page(
                settings.api_key, limit=list_blocks.PAGE_SIZE, offset=home_blocks.HOME_PAGE
            )
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
