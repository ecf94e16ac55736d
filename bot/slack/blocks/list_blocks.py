"""The private list of paused campaigns (`/resume-campaign list`), as pure functions over Block Kit.

One page of campaigns per message: a section with a Resume button each and Resume later… under it, then
Previous / Show more. Slack allows 50 blocks in a message; a page uses at most twice PAGE_SIZE, plus 3.
"""

import json
import re
from typing import Any

from bot import truedy
from bot.slack.blocks import alert_blocks
from bot.slack.blocks.messages import COMMAND, Message, context, escape, private, section, slack_date
from bot.truedy.campaign_id import CampaignId, is_campaign_id

RESUME_LISTED_ACTION_ID = "resume_listed"
# Beside each row: resume it later, at a time picked in Slack's picker (bot.slack.time_picker).
PICK_TIME_LISTED_ACTION_ID = "pick_time_listed"
# Each page button has an action id of its own: Slack refuses a block with two equal ones.
FIRST_PAGE_ACTION_ID, PREVIOUS_PAGE_ACTION_ID, NEXT_PAGE_ACTION_ID = (
    "list_page_first",
    "list_page_previous",
    "list_page_next",
)
PAGE_ACTION = re.compile(r"^list_page_(first|previous|next)$")
PAGE_SIZE = 20
# Offsets beyond this are not a page anyone reached by clicking (Truedy lists at most this many here).
MAX_OFFSET = 10_000

Block = dict[str, Any]


def paused_list(page: truedy.CampaignPage, offset: int, done: str | None = None) -> Message:
    """The page of paused campaigns starting at `offset`; `done`: a line on what just happened (a resume)."""
    blocks: list[Block] = []
    if done:
        blocks.append(context(done))
    campaigns = page.campaigns[:PAGE_SIZE]
    if not campaigns:
        text = (
            "Nothing is paused in this workspace's Truedy account right now."
            if offset == 0
            else "No more paused campaigns: the others were resumed meanwhile."
        )
        blocks.append(section(f":white_check_mark: {text}"))
        if offset > 0:
            blocks.append(_pages([_page_button(FIRST_PAGE_ACTION_ID, "Back to the first page", 0)]))
        return {**private(text), "blocks": blocks}
    total = page.total if page.total is not None else offset + len(campaigns) + (1 if page.has_more else 0)
    shown = f"{offset + 1} to {offset + len(campaigns)} of {total}"
    heading = f"*Paused campaigns* ({shown}). Resume one here: the channel sees who resumed it, and the result."
    blocks.append(section(heading))
    for campaign in campaigns:
        blocks += _row(campaign, offset)
    buttons = []
    if offset > 0:
        buttons.append(_page_button(PREVIOUS_PAGE_ACTION_ID, "Previous", max(0, offset - PAGE_SIZE)))
    if page.has_more:
        buttons.append(_page_button(NEXT_PAGE_ACTION_ID, "Show more", offset + PAGE_SIZE))
    if buttons:
        blocks.append(_pages(buttons))
    return {**private(f"Paused campaigns ({shown})"), "blocks": blocks}


def name_matches(query: str, matches: list[truedy.Campaign], most: int) -> Message:
    """What a name typed after the command found among the paused campaigns: one to confirm, several to
    choose from, or none."""
    typed = escape(query, 80)
    if not matches:
        text = (
            f"No paused campaign in this workspace's Truedy account is named “{typed}”, so nothing was resumed. "
            f"`{COMMAND} list` shows every paused campaign; `{COMMAND} <campaign id>` resumes one by its id."
        )
        return private(text)
    if len(matches) == 1:
        heading = f"One paused campaign is named “{typed}”. Resume it?"
    else:
        more = f" (the first {most}; type more of the name to narrow it)" if len(matches) > most else ""
        heading = f"{len(matches)} paused campaigns are named “{typed}”{more}. Resume the one you mean:"
    blocks = [section(heading), *(block for campaign in matches[:most] for block in _row(campaign, 0))]
    return {**private(heading), "blocks": blocks}


def listing_failed(headline: str, advice: str) -> Message:
    return private(f":warning: I could not list the paused campaigns: {headline}. {advice}")


def listed_value(campaign_id: str, offset: int) -> str:
    return json.dumps({"id": campaign_id, "offset": offset}, separators=(",", ":"))


def parse_listed_value(value: str) -> tuple[CampaignId, int] | None:
    """The campaign and page of a Resume button on the list, or None for anything else."""
    try:
        parsed = json.loads(value)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    campaign_id, offset = parsed.get("id"), parsed.get("offset")
    if not isinstance(campaign_id, str) or not is_campaign_id(campaign_id):
        return None
    if type(offset) is not int or not 0 <= offset <= MAX_OFFSET:
        return None
    return CampaignId(campaign_id), offset


def parse_page_value(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() and int(value) <= MAX_OFFSET else None


def _row(campaign: truedy.Campaign, offset: int) -> list[Block]:
    """The campaign with its Resume button, and Resume later… under it."""
    name = escape(campaign.name or "Unnamed campaign", 120)
    progress = (
        f"{campaign.called} of {campaign.total_contacts} called"
        if campaign.called is not None and campaign.total_contacts is not None
        else "progress unknown"
    )
    updated = f" · last update {slack_date(campaign.updated_at)}" if campaign.updated_at else ""
    value = listed_value(campaign.id, offset)
    return [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{name}*  `{campaign.id}`\n{progress}{updated}"},
            "accessory": {
                "type": "button",
                "action_id": RESUME_LISTED_ACTION_ID,
                "text": {"type": "plain_text", "text": "Resume"},
                "value": value,
                "confirm": alert_blocks.resume_confirmation(campaign.name),
            },
        },
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": PICK_TIME_LISTED_ACTION_ID,
                    "text": {"type": "plain_text", "text": "Resume later…"},
                    "value": value,
                }
            ],
        },
    ]


def _pages(buttons: list[Block]) -> Block:
    return {"type": "actions", "block_id": "list_pages", "elements": buttons}


def _page_button(action_id: str, label: str, offset: int) -> Block:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": str(offset),
    }
