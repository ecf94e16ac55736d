"""The paused-campaign alert and its states, as pure functions over Block Kit.

Button contract, for any tooling that posts alerts with the bot's token: a button with
`action_id` `resume_campaign` and `value` the campaign id. The click resumes with the key of the
workspace it came from; the block holding the button may be anything.
"""

from datetime import datetime
from typing import Any

from bot import truedy
from bot.resume import ResumeOutcome
from bot.slack.blocks.messages import Message, escape, explain, requester, slack_date
from bot.slack.blocks.reminder_blocks import SNOOZE_ACTION_ID, snooze_menu

RESUME_ACTION_ID = "resume_campaign"
# Beside Resume: resume later, at a time read in the clicker's time zone (bot.when), as they could type it.
RESUME_LATER_ACTION_ID = "resume_later"
LATER_CHOICES = (("Resume at 9:00 tomorrow", "tomorrow 9:00"), ("Resume in 1 hour", "in 1h"))
# …or a time picked in Slack's own picker (bot.slack.time_picker).
PICK_A_TIME = ("Pick a time…", "pick")
STATE_BLOCK_ID = "campaign_state"
ACTIONS_BLOCK_ID = "campaign_actions"

Block = dict[str, Any]


def alert(campaign: truedy.Campaign, dashboard_url: str | None, snooze: bool = False) -> Message:
    """`snooze`: the workspace reminds of pauses nobody handles, and the alert offers to snooze them."""
    name = escape(campaign.name or "Unnamed campaign", 150)
    pending = f"{campaign.pending} pending contacts" if campaign.pending is not None else "its pending contacts"
    updated = slack_date(campaign.updated_at) if campaign.updated_at else "unknown"
    summary = f"*{name}*  `{campaign.id}`\n*Progress:* {_progress(campaign)}\n*Last update:* {updated}"
    state = f":double_vertical_bar: *Paused.* Resuming starts calling {pending} again."
    buttons: list[Block] = [
        {
            "type": "button",
            "action_id": RESUME_ACTION_ID,
            "text": {"type": "plain_text", "text": "Resume"},
            "style": "primary",
            "value": campaign.id,
            "confirm": resume_confirmation(campaign.name, pending),
        },
        later_menu(campaign.id),
    ]
    if snooze:
        buttons.append(snooze_menu())
    if dashboard_url:
        buttons.append(
            {
                "type": "button",
                "action_id": "open_in_truedy",
                "text": {"type": "plain_text", "text": "Open in Truedy"},
                "url": dashboard_url.replace("{id}", campaign.id),
            }
        )
    text = (
        f"Campaign paused: {name} ({campaign.id}), {_progress(campaign)}. "
        "Resume it here with the Resume button or in the Truedy dashboard."
    )
    return {
        "text": text,
        "blocks": [
            {"type": "section", "block_id": "campaign_summary", "text": {"type": "mrkdwn", "text": summary}},
            _state_block(state),
            {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": buttons},
        ],
    }


def resume_confirmation(name: str | None, pending: str | None = None) -> Block:
    """The dialog every Resume button opens before anything is sent (`name` as Truedy has it)."""
    calling = f"starts calling {pending} again" if pending else "starts calling again"
    return {
        "title": {"type": "plain_text", "text": "Resume this campaign?"},
        "text": {"type": "mrkdwn", "text": f"Resuming *{escape(name or 'Unnamed campaign', 80)}* {calling}."},
        "confirm": {"type": "plain_text", "text": "Resume calling"},
        "deny": {"type": "plain_text", "text": "Cancel"},
    }


def later_menu(campaign_id: str) -> Block:
    """The menu beside a Resume button that schedules the resume instead."""
    options = [
        {"text": {"type": "plain_text", "text": label}, "value": f"{when}|{campaign_id}"}
        for label, when in (*LATER_CHOICES, PICK_A_TIME)
    ]
    return {"type": "overflow", "action_id": RESUME_LATER_ACTION_ID, "options": options}


def parse_later_value(value: str) -> tuple[str, str] | None:
    """(when, campaign id) from a later menu's option (when is PICK_A_TIME's for the picker); None if it is not
    one of ours."""
    when, _, campaign_id = value.partition("|")
    known = when in dict(LATER_CHOICES).values() or when == PICK_A_TIME[1]
    return (when, campaign_id) if known and campaign_id else None


def resuming_state(user_id: str) -> str:
    return f":hourglass_flowing_sand: *Resuming…* requested by {requester(user_id)}"


def no_longer_paused_state(status: str, now: datetime) -> str:
    """For an alert whose campaign was resumed elsewhere (dashboard, API, command) or finished."""
    said = {
        "active": "it is running again",
        "scheduled": "it is scheduled again",
        "completed": "it has completed",
        "cancelled": "it was cancelled",
        "failed": "it has failed",
    }.get(status, f"its status is `{status if status.isidentifier() else 'unrecognised'}`")
    return f":information_source: *Not paused any more:* {said} (seen {slack_date(now)})."


def gone_state(campaign_id: str) -> str:
    return f":information_source: *Not paused any more:* `{campaign_id}` no longer exists in Truedy."


def abandoned_state(user_id: str, campaign: truedy.Campaign | None, now: datetime) -> str:
    """The status line of an alert (or digest row) whose resume's worker died before Truedy answered."""
    stopped = f":warning: The bot stopped before Truedy answered the resume {requester(user_id)} asked for"
    if campaign is None:
        return f"{stopped}, and Truedy does not know the campaign any more."
    if campaign.status == "paused":
        return f"{stopped}: it is *still paused*. Click Resume to try again."
    return f"{stopped}. {no_longer_paused_state(campaign.status, now).removeprefix(':information_source: ')}"


def restarting_state() -> str:
    return ":pause_button: *Not resumed:* the bot was restarting. Click Resume again."


def final_state(user_id: str, outcome: ResumeOutcome, now: datetime) -> tuple[str, bool]:
    """The alert's last word on a click, and whether it offers the Resume button again."""
    if isinstance(outcome, truedy.Resumed):
        when = slack_date(outcome.resumed_at or now)
        scheduled = "; it calls again from its scheduled start" if outcome.status == "scheduled" else ""
        return f":arrow_forward: *Resumed* by {requester(user_id)} {when}{scheduled}.", False
    headline = explain(outcome)[0]
    if isinstance(outcome, truedy.NotResumable) and outcome.status is not None:
        return f":information_source: *Not paused any more:* {headline}.", False
    if isinstance(outcome, truedy.CampaignNotFound):
        return f":x: *Not resumed:* {headline}.", False
    if outcome.outcome_unknown:
        # Resume stays: a second resume of a campaign that did resume is refused as already running; and the alert
        # stays open, so that the watcher shows it not paused any more if it did.
        return (
            f":grey_question: *May have resumed* ({requester(user_id)} tried): {headline}. Check it in the Truedy "
            "dashboard before trying again; details in the thread.",
            True,
        )
    return f":warning: *Not resumed* ({requester(user_id)} tried): {headline}. Details in the thread.", True


def with_state(blocks: list[Block], state: str, offer_resume: bool) -> list[Block]:
    """The alert's blocks with `state` as its status line, with or without the Resume button.

    `blocks` are the alert as it was clicked, so the button (with its confirm dialog) comes back as it was.
    """
    updated: list[Block] = []
    for block in blocks:
        if block.get("block_id") == STATE_BLOCK_ID:
            continue
        if block.get("type") == "actions" and _resume_buttons(block):
            updated.append(_state_block(state))
            elements = block["elements"] if offer_resume else _without_resume_buttons(block)
            if elements:
                updated.append({**block, "elements": elements})
            continue
        updated.append(block)
    if not any(block.get("block_id") == STATE_BLOCK_ID for block in updated):
        updated.append(_state_block(state))
    return updated


def state_text(campaign_id: str, state: str) -> str:
    return f"{campaign_id}: {state}"


def _progress(campaign: truedy.Campaign) -> str:
    if campaign.called is None or campaign.total_contacts is None:
        return "progress unknown"
    parts = [f"{campaign.called} of {campaign.total_contacts} called"]
    if campaign.failed is not None:
        parts.append(f"{campaign.failed} failed")
    if campaign.pending is not None:
        parts.append(f"{campaign.pending} pending")
    return " · ".join(parts)


def _state_block(text: str) -> Block:
    return {"type": "section", "block_id": STATE_BLOCK_ID, "text": {"type": "mrkdwn", "text": text}}


_RESUMING = (RESUME_ACTION_ID, RESUME_LATER_ACTION_ID, SNOOZE_ACTION_ID)


def _resume_buttons(block: Block) -> list[Block]:
    """Resume, its later menu and Snooze: shown, and hidden, together (there is nothing to snooze once resumed)."""
    return [element for element in block.get("elements", []) if element.get("action_id") in _RESUMING]


def _without_resume_buttons(block: Block) -> list[Block]:
    return [element for element in block.get("elements", []) if element.get("action_id") not in _RESUMING]
