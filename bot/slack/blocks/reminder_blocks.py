"""Reminders of a pause nobody handles, and their Snooze menu, as pure functions over Block Kit."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.slack.blocks.messages import Message, escape, requester, slack_date

SNOOZE_ACTION_ID = "snooze_reminders"
# The Snooze menu's choices: (label, value).
SNOOZE_CHOICES = (
    ("Snooze reminders 1 hour", "hour"),
    ("Snooze until 9:00 tomorrow", "tomorrow"),
    ("No reminders until resumed", "resumed"),
)
SNOOZE_HOUR = timedelta(hours=1)
# Digest reminders name this many campaigns; the rest are counted.
NAMED = 10


@dataclass(frozen=True)
class Waiting:
    """A campaign still paused, as a reminder shows it."""

    campaign_id: str
    name: str | None
    pending: int | None


def snooze_menu() -> dict:
    """On the alert and on each reminder: silences the reminders of the alert's pause."""
    options = [{"text": {"type": "plain_text", "text": label}, "value": value} for label, value in SNOOZE_CHOICES]
    return {"type": "overflow", "action_id": SNOOZE_ACTION_ID, "options": options}


def snooze_choice(value: str) -> str | None:
    """The menu's value if it is one of ours, else None."""
    return value if value in {choice for _, choice in SNOOZE_CHOICES} else None


def reminder(campaign: Waiting, paused_for: timedelta, number: int, mention: str | None) -> Message:
    """The `number`th reminder of one campaign's pause, in its alert's thread; `mention`: the escalation
    target, from the second reminder on."""
    name = escape(campaign.name or "Unnamed campaign", 150)
    waiting = _contacts(campaign.pending)
    said = (
        f":alarm_clock: *Still paused after {duration(paused_for)}:* *{name}* (`{campaign.campaign_id}`) has {waiting} "
        "waiting. Resume it with the alert's Resume button, schedule it with Resume later, or snooze these reminders."
    )
    return _message(said, number, mention)


def digest_reminder(campaigns: list[Waiting], paused_for: timedelta, number: int, mention: str | None) -> Message:
    """One reminder for a digest's campaigns still paused, in the digest's thread."""
    names = ", ".join(f"*{escape(c.name or c.campaign_id, 60)}*" for c in campaigns[:NAMED])
    more = f" and {len(campaigns) - NAMED} more" if len(campaigns) > NAMED else ""
    known = [c.pending for c in campaigns if c.pending is not None]
    waiting = f", with {_contacts(sum(known))} waiting" if known else ""
    count = "1 campaign" if len(campaigns) == 1 else f"{len(campaigns)} campaigns"
    said = (
        f":alarm_clock: *Still paused after {duration(paused_for)}:* {count} of this digest{waiting}: {names}{more}. "
        "Resume them from the digest (one by one, or all), or snooze these reminders."
    )
    return _message(said, number, mention)


def snoozed(user_id: str, until: datetime | None) -> Message:
    """Said in the thread: who snoozed the reminders, and until when."""
    when = "until the campaign is resumed" if until is None else f"until {slack_date(until)}"
    said = f":no_bell: {requester(user_id)} snoozed the reminders of this pause {when}."
    return {"text": said, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": said}}]}


def duration(length: timedelta) -> str:
    """`45 min`, `1 h 5 min`, `2 days 3 h`: how long, to the minute."""
    minutes = max(0, int(length.total_seconds() // 60))
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {minutes} min" if minutes else "")
    return f"{minutes} min" if minutes else "less than a minute"


def mention_of(target: str | None) -> str | None:
    """A user group (`S…`) or a person (`U…`, `W…`) as Slack mentions them; None for anything else."""
    if not target or not target.isalnum():
        return None
    if target.startswith("S"):
        return f"<!subteam^{target}>"
    return f"<@{target}>" if target.startswith(("U", "W")) else None


def _message(said: str, number: int, mention: str | None) -> Message:
    text = f"{mention} {said}" if mention else said
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}, "accessory": snooze_menu()},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Reminder {number}"}]},
        ],
    }


def _contacts(pending: int | None) -> str:
    if pending is None:
        return "its pending contacts"
    return "1 contact" if pending == 1 else f"{pending:,} contacts"
