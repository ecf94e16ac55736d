"""The "Pick a time…" modal, as pure functions: Block Kit's datetimepicker (Slack shows it in the clicker's own time
zone, and answers Unix seconds), a short summary of the campaign, and what a submission is told on its field.

Opened from an alert's or a digest row's Resume later menu, a row of the list, and `/resume-campaign <id> at`;
`private_metadata` carries where it was opened (the campaign, the channel and thread the schedule is announced
in), set by the bot and returned by Slack as it was.
"""

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot import truedy
from bot.slack.blocks.messages import Message, escape, private, slack_date
from bot.truedy.campaign_id import CampaignId, InvalidCampaignId, parse_campaign_id
from bot.when import FURTHEST

CALLBACK_ID = "resume_at_picked"
WHEN_BLOCK_ID = "resume_at"
WHEN_ACTION_ID = "resume_at"
SUMMARY_BLOCK_ID = "campaign_summary"
# Where a picker can be opened from, as its schedules record it (`scheduled_resumes.via`).
OPENED_FROM = ("alert", "digest", "list", "command")
# The picker opens an hour ahead, rounded up to a quarter of an hour: a time people pick without scrolling far.
INITIAL_AHEAD = timedelta(hours=1)
_ROUNDED_TO_SECONDS = 15 * 60
_CONVERSATION = re.compile(r"[CDGU][A-Z0-9]{2,30}")  # a channel, or a person's DM with the bot (their user id)
_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")

NOT_OURS = "This form is not one the bot can read any more: open it again from the alert or the list."
NO_TIME = "Pick a date and a time."
PASSED = "That time has already passed: pick a later one."
TOO_FAR = f"That is more than {FURTHEST.days} days ahead: pick a time within {FURTHEST.days} days."
TOO_SLOW = (
    "The bot could not check this in time (its database or Slack is slow right now): nothing was scheduled. "
    "Try Schedule again in a moment."
)
MAY_BE_KEPT = (
    "The bot's database was too slow to confirm it in time: it may be scheduled after all, and if it is, the "
    "channel sees it in a moment (`/resume-campaign scheduled` lists it). Check before trying again."
)


@dataclass(frozen=True)
class PickedFor:
    """What a picker schedules, and where the schedule is announced."""

    campaign_id: CampaignId
    channel: str
    thread_ts: str | None
    via: str


def picker(picked_for: PickedFor, initial: datetime, summary: str) -> dict[str, Any]:
    """The modal: the campaign's summary, and the datetimepicker set to `initial`."""
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Resume later"},
        "submit": {"type": "plain_text", "text": "Schedule"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": metadata(picked_for),
        "blocks": [
            {"type": "section", "block_id": SUMMARY_BLOCK_ID, "text": {"type": "mrkdwn", "text": summary}},
            {
                "type": "input",
                "block_id": WHEN_BLOCK_ID,
                "label": {"type": "plain_text", "text": "Resume at"},
                "hint": {
                    "type": "plain_text",
                    "text": f"In your own time zone, within {FURTHEST.days} days. One schedule per campaign: "
                    "the channel sees it, with Cancel.",
                },
                "element": {
                    "type": "datetimepicker",
                    "action_id": WHEN_ACTION_ID,
                    "initial_date_time": int(initial.timestamp()),
                    "focus_on_load": True,
                },
            },
        ],
    }


def initial_moment(now: datetime) -> datetime:
    """Where the picker opens: INITIAL_AHEAD from `now`, rounded up to a quarter of an hour."""
    ahead = int((now + INITIAL_AHEAD).timestamp())
    return datetime.fromtimestamp(-(-ahead // _ROUNDED_TO_SECONDS) * _ROUNDED_TO_SECONDS, now.tzinfo)


def reading_summary(campaign_id: str) -> str:
    """Shown while Truedy is read for the campaign's summary (the modal must open within 3 s of the click)."""
    return f"`{campaign_id}` :hourglass_flowing_sand: reading it from Truedy…"


def summary(campaign: truedy.Campaign) -> str:
    name = escape(campaign.name or "Unnamed campaign", 150)
    pending = f"{campaign.pending} contacts wait" if campaign.pending is not None else "its contacts wait"
    if campaign.status == "paused":
        state = f":double_vertical_bar: Paused: {pending}."
    else:
        state = (
            f":information_source: It is `{escape(campaign.status, 30)}` now, not paused: a scheduled resume would "
            "find nothing to resume, unless it is paused again by then."
        )
    updated = f" Last update {slack_date(campaign.updated_at)}." if campaign.updated_at else ""
    return f"*{name}*  `{campaign.id}`\n{state}{updated}"


def summary_unread(campaign_id: str, headline: str) -> str:
    """Truedy could not be read now: the schedule can still be made (it checks the campaign at its time)."""
    return f"`{campaign_id}`\n:warning: Truedy could not be read just now ({headline}); you can still schedule it."


def metadata(picked_for: PickedFor) -> str:
    return json.dumps(
        {
            "campaign": picked_for.campaign_id,
            "channel": picked_for.channel,
            "thread": picked_for.thread_ts,
            "via": picked_for.via,
        }
    )


def parse_metadata(text: str) -> PickedFor | None:
    """What `metadata` wrote, or None for anything else."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    campaign_id = parse_campaign_id(data.get("campaign")) if isinstance(data.get("campaign"), str) else None
    channel, thread, via = data.get("channel"), data.get("thread"), data.get("via")
    if campaign_id is None or isinstance(campaign_id, InvalidCampaignId):
        return None
    if not isinstance(channel, str) or not _CONVERSATION.fullmatch(channel) or via not in OPENED_FROM:
        return None
    if thread is not None and (not isinstance(thread, str) or not _TS.fullmatch(thread)):
        return None
    return PickedFor(campaign_id, channel, thread, via)


def picked_seconds(view: dict[str, Any]) -> int | None:
    """The picked moment (Unix seconds) of a submitted picker; None when there is none, or it is not a number."""
    state = ((view.get("state") or {}).get("values") or {}).get(WHEN_BLOCK_ID) or {}
    picked = (state.get(WHEN_ACTION_ID) or {}).get("selected_date_time")
    if isinstance(picked, bool) or not isinstance(picked, int | str):
        return None
    if isinstance(picked, str) and not re.fullmatch(r"[0-9]{1,12}", picked):
        return None
    return int(picked)


def not_opened(error: str) -> Message:
    return private(
        f":warning: Slack would not open the form to pick a time ({escape(error, 60)}). Nothing was scheduled. "
        "Try again, or type the time: `/resume-campaign <campaign id> at 9:00`."
    )
