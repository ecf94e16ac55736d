"""Showing a page of the workspace's paused campaigns to one person, through their request's response URL."""

from dataclasses import replace

from slack_bolt import Respond

from bot import truedy
from bot.services import Services
from bot.slack import list_blocks, messages
from bot.storage.workspace_settings import WorkspaceId


def show_paused(
    services: Services,
    workspace: WorkspaceId,
    offset: int,
    respond: Respond,
    done: str | None = None,
    replace_original: bool = False,
) -> None:
    """Read the page from Truedy with the workspace's own key; `replace_original`: in place of the list the
    person clicked in."""
    settings = services.workspaces.get(workspace)
    if settings is None or settings.api_key is None:
        respond(**messages.workspace_not_configured(workspace.team_id))
        return
    try:
        page = services.truedy.list_campaigns(
            settings.api_key, status="paused", limit=list_blocks.PAGE_SIZE, offset=offset
        )
    except truedy.TruedyError as error:
        respond(**list_blocks.listing_failed(*messages.explain(error)))
        return
    # The filter is Truedy's; the status check is ours.
    page = replace(page, campaigns=[campaign for campaign in page.campaigns if campaign.status == "paused"])
    respond(**list_blocks.paused_list(page, offset, done), replace_original=replace_original)
