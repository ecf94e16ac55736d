"""The messages of scheduled resumes, as pure functions: scheduled (with Cancel), cancelled, running, ended,
interrupted, and the private list of what is scheduled."""

from datetime import datetime, timedelta
from typing import Any

from bot import truedy
from bot.resume import ResumeOutcome
from bot.slack.blocks.messages import COMMAND, Message, context, duration, escape, explain, private, section, slack_date
from bot.storage.schedules import ScheduledResume

CANCEL_ACTION_ID = "cancel_scheduled_resume"
# Slack's limit is 50 blocks a message: a section and its Cancel button take one block each.
LISTED_AT_MOST = 20
# A schedule taken later than this after its time says it is late (a tick or two is not late).
LATE_AFTER = timedelta(minutes=1)


def scheduled(schedule: ScheduledResume) -> Message:
    """The channel's message: who scheduled what for when, with the Cancel button."""
    text = (
        f":alarm_clock: <@{schedule.scheduled_by}> scheduled `{schedule.campaign_id}` to resume "
        f"{slack_date(schedule.due_at)}."
    )
    return {"text": text, "blocks": [_with_cancel(text, schedule)]}


def rate_limited(schedule: ScheduledResume, retry_at: datetime) -> Message:
    """Its time came while Truedy's rate limit for the key was reached: it is tried again when it resets."""
    text = (
        f":hourglass: <@{schedule.scheduled_by}> scheduled `{schedule.campaign_id}` to resume "
        f"{slack_date(schedule.due_at)}; Truedy's limit of requests for this workspace's key was reached, so it is "
        f"tried again {slack_date(retry_at)}."
    )
    return {"text": text, "blocks": [_with_cancel(text, schedule)]}


def already_scheduled(schedule: ScheduledResume) -> Message:
    """Someone scheduled a campaign that has a schedule not yet ended: when that one is, and how to cancel it."""
    if schedule.state != "pending":
        return private(
            f":hourglass_flowing_sand: `{schedule.campaign_id}` is being resumed right now, as "
            f"<@{schedule.scheduled_by}> scheduled for {slack_date(schedule.due_at)}: nothing new was scheduled. "
            "Its result shows in the thread of its message in a moment."
        )
    return private(
        f":alarm_clock: `{schedule.campaign_id}` is already scheduled to resume {slack_date(schedule.due_at)}, by "
        f"<@{schedule.scheduled_by}>: nothing new was scheduled. To change the time, cancel that one first "
        f"(its Cancel button, or `{COMMAND} scheduled`), then schedule it again."
    )


def cancelled(schedule: ScheduledResume, by: str) -> Message:
    text = (
        f":no_entry_sign: <@{by}> cancelled the resume of `{schedule.campaign_id}` that <@{schedule.scheduled_by}> "
        f"scheduled for {slack_date(schedule.due_at)}. Nothing was sent to Truedy."
    )
    return {"text": text, "blocks": [section(text)]}


def not_cancelled(schedule: ScheduledResume | None) -> Message:
    """The schedule was not pending any more (it ran, or someone cancelled it first), or is not this
    workspace's."""
    if schedule is None:
        return private(":warning: That scheduled resume is not one of this workspace's. Nothing was changed.")
    if schedule.state == "cancelled":
        said = f"<@{schedule.cancelled_by}> cancelled it already"
    elif schedule.state in ("taken", "sending"):
        said = "its time came and it is being resumed right now (its result shows in the thread of its message)"
    else:
        said = "its time came and it ran (its result is in the thread of its message)"
    return private(f":information_source: The resume of `{schedule.campaign_id}` was not cancelled: {said}.")


def running(schedule: ScheduledResume) -> Message:
    text = (
        f":hourglass_flowing_sand: Resuming `{schedule.campaign_id}`, as <@{schedule.scheduled_by}> scheduled for "
        f"{slack_date(schedule.due_at)}…{_late_note(schedule)}"
    )
    return {"text": text, "blocks": [section(text)]}


def ended(schedule: ScheduledResume, outcome: ResumeOutcome) -> Message:
    """The final state of the schedule's message, readable at a glance in the channel."""
    asked = f"<@{schedule.scheduled_by}> scheduled `{schedule.campaign_id}` to resume {slack_date(schedule.due_at)}"
    if isinstance(outcome, truedy.Resumed):
        when = f" {slack_date(outcome.resumed_at)}" if outcome.resumed_at else ""
        text = f":arrow_forward: {asked}: it was resumed{when}."
    elif isinstance(outcome, truedy.NotResumable):
        text = f":information_source: {asked}, but {explain(outcome)[0]}: nothing was resumed."
    elif outcome.outcome_unknown:
        text = (
            f":grey_question: {asked}; it *may have resumed*: {explain(outcome)[0]}. Check it in the Truedy "
            "dashboard: it will not be tried again."
        )
    else:
        text = f":warning: {asked}, but it could not be resumed: {explain(outcome)[0]}."
    text += _late_note(schedule)
    return {"text": text, "blocks": [section(text)]}


def refused(schedule: ScheduledResume, why: str) -> Message:
    """Its time came, and the resume was refused before Truedy was asked (the scheduler may not resume any
    more, the workspace has no Truedy key, someone else was resuming it)."""
    text = (
        f":warning: <@{schedule.scheduled_by}> scheduled `{schedule.campaign_id}` to resume "
        f"{slack_date(schedule.due_at)}, but it was not: {why}"
    )
    return {"text": text, "blocks": [section(text)]}


def retrying(schedule: ScheduledResume, why: str, at: datetime) -> Message:
    """Its time came, and nothing reached Truedy because something failed: it is tried again at `at`."""
    text = (
        f":hourglass: <@{schedule.scheduled_by}> scheduled `{schedule.campaign_id}` to resume "
        f"{slack_date(schedule.due_at)}; {why}, so nothing was sent yet. It is tried again {slack_date(at)}."
    )
    return {"text": text, "blocks": [_with_cancel(text, schedule)]}


def given_up(schedule: ScheduledResume, why: str) -> Message:
    """Tried again and again, and nothing ever reached Truedy: over, nothing resumed."""
    text = (
        f":warning: <@{schedule.scheduled_by}> scheduled `{schedule.campaign_id}` to resume "
        f"{slack_date(schedule.due_at)}, but it was not: {why}, every time it was tried. Nothing was sent to "
        f"Truedy. Resume it with `{COMMAND} {schedule.campaign_id}`, or schedule it again."
    )
    return {"text": text, "blocks": [section(text)]}


def stopped_while_sending(schedule: ScheduledResume) -> Message:
    """Its process stopped once its request may have left for Truedy, before the answer: unknown, never resent."""
    text = (
        f":grey_question: The bot stopped while resuming `{schedule.campaign_id}` as <@{schedule.scheduled_by}> "
        f"scheduled for {slack_date(schedule.due_at)}, after its request may have reached Truedy: it *may have "
        f"resumed*. Check it in the Truedy dashboard (`{COMMAND} list` shows whether it is still paused) before "
        "trying again; it will not be tried again by itself."
    )
    return {"text": text, "blocks": [section(text)]}


def _late_note(schedule: ScheduledResume) -> str:
    if schedule.late_by is None or schedule.late_by < LATE_AFTER:
        return ""
    late = f" It ran {duration(schedule.late_by.total_seconds())} late"
    # Late at its first try: nothing was running then. Handed back before: its earlier messages said why.
    return f"{late}: the bot was not running at that time." if schedule.attempts == 0 else f"{late}."


def scheduled_list(schedules: list[ScheduledResume], total: int) -> Message:
    """`/resume-campaign scheduled`: what is scheduled here, soonest first, each with Cancel."""
    if not schedules:
        return private(
            f":calendar: Nothing is scheduled in this workspace. `{COMMAND} <campaign id> at 9:00` (or `tomorrow "
            "9:00`, `in 2h`, `2026-12-01 08:30`, in your own time zone) schedules a resume."
        )
    headline = f":calendar: {total} scheduled resume{'s' if total != 1 else ''} in this workspace, soonest first:"
    blocks: list[dict[str, Any]] = [section(headline)]
    for schedule in schedules:
        line = (
            f"`{schedule.campaign_id}` {slack_date(schedule.due_at)}, scheduled by <@{schedule.scheduled_by}> "
            f"in <#{schedule.channel}>"
        )
        blocks.append(_with_cancel(line, schedule))
    if total > len(schedules):
        blocks.append(context(f"…and {total - len(schedules)} more after these."))
    return {"response_type": "ephemeral", "text": headline, "blocks": blocks}


def not_a_time(typed: str, reason: str) -> Message:
    return private(
        f":warning: I could not schedule that: {reason}. Nothing was scheduled.\n"
        f"Say when after the campaign id, in your own time zone: `{COMMAND} batch_c3d4e5f6 at 9:00`, "
        "`tomorrow 9:00`, `in 2h`, `monday 9am` or `2026-12-01 08:30`; or `at` alone, to pick it in a calendar."
        + (f" (You typed `{escape(typed, 60).replace('`', '')}`.)" if typed else "")
    )


def cannot_post_scheduled(schedule: ScheduledResume) -> Message:
    """The channel would not take the "scheduled" message: the requester hears it privately instead."""
    return {**scheduled(schedule), "response_type": "ephemeral"}


def _with_cancel(text: str, schedule: ScheduledResume) -> dict[str, Any]:
    block = section(text)
    block["accessory"] = {
        "type": "button",
        "action_id": CANCEL_ACTION_ID,
        "text": {"type": "plain_text", "text": "Cancel"},
        "value": str(schedule.id),
        "confirm": {
            "title": {"type": "plain_text", "text": "Cancel this resume?"},
            "text": {"type": "plain_text", "text": f"{schedule.campaign_id} will not be resumed at that time."},
            "confirm": {"type": "plain_text", "text": "Cancel it"},
            "deny": {"type": "plain_text", "text": "Keep it"},
        },
    }
    return block
