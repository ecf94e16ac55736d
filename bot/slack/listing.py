"""Showing the workspace's paused campaigns to one person, through their request's response URL: a page of
them, or those whose name matches what they typed."""

import re

from slack_bolt import Respond

from bot import truedy
from bot.services import Services
from bot.slack.blocks import list_blocks, messages
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
        respond(**messages.workspace_not_configured())
        return
    try:
        page = services.truedy.paused_page(settings.api_key, limit=list_blocks.PAGE_SIZE, offset=offset)
    except truedy.TruedyError as error:
        respond(**list_blocks.listing_failed(*messages.explain(error)))
        return
    respond(**list_blocks.paused_list(page, offset, done), replace_original=replace_original)


# A name typed after the command: words and the punctuation names use; never a Slack reference, a path or
# control characters (those get "not a campaign id", and nothing is read).
NAME_QUERY = re.compile(r"^\w[\w .,&'()+:-]{1,99}$")
# At most this many matches are shown (a page's worth); more means the name is too vague.
MAX_MATCHES = 20


def is_name_query(text: str) -> bool:
    return bool(NAME_QUERY.match(text.strip()))


def may_be_a_name(word: str) -> bool:
    """A word typed as an id that may as well be a name: Truedy's ids (`batch_c3d4e5f6`, `camp_ccaaff66-6`)
    have an underscore or a digit, and a word like `renewals` has neither."""
    return not any(char == "_" or char.isdigit() for char in word)


def named(query: str, campaigns: list[truedy.Campaign]) -> list[truedy.Campaign]:
    """The campaigns whose name has every word of `query`, in any order, whatever the case."""
    wanted = _words(query)
    return [campaign for campaign in campaigns if wanted and wanted <= _words(campaign.name or "")]


def show_named(services: Services, workspace: WorkspaceId, query: str, respond: Respond) -> None:
    """The paused campaigns named so, each with a Resume button: never a resume on a guess."""
    paused = all_paused(services, workspace)
    if isinstance(paused, dict):
        respond(**paused)
        return
    respond(**list_blocks.name_matches(query, named(query, paused[0]), MAX_MATCHES))


def offer_named(services: Services, workspace: WorkspaceId, word: str) -> messages.Message | None:
    """For an id Truedy does not know: the paused campaigns whose name has that word, or None (none, or
    they could not be read: then "not found" stands)."""
    paused = all_paused(services, workspace)
    matches = named(word, paused[0]) if isinstance(paused, tuple) else []
    return list_blocks.name_matches(word, matches, MAX_MATCHES) if matches else None


def all_paused(services: Services, workspace: WorkspaceId) -> tuple[list[truedy.Campaign], bool] | messages.Message:
    """Every paused campaign of the workspace (and whether that is all of them: at most 2,000 are read), or
    what to tell the person instead."""
    settings = services.workspaces.get(workspace)
    if settings is None or settings.api_key is None:
        return messages.workspace_not_configured()
    try:
        return services.truedy.paused_campaigns(settings.api_key)
    except truedy.TruedyError as error:
        return list_blocks.listing_failed(*messages.explain(error))


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text.casefold()))
