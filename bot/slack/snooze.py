"""Snooze ▾ on an alert and on each of its reminders: no reminders of that pause for an hour, until 9:00 tomorrow
(in the workspace's time zone from setup, else the clicker's), or until it is resumed; said in the thread, with
who snoozed it. Only those who may resume here may snooze (bot.storage.reminders keeps it)."""

from datetime import timedelta

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import when
from bot.services import Services
from bot.slack.blocks import messages, reminder_blocks
from bot.slack.permissions import may_resume
from bot.slack.replies import log_refusal
from bot.slack.schedule_requests import time_zone_of
from bot.storage.workspace_settings import WorkspaceId

NO_REMINDERS = (
    ":information_source: This pause has no reminders to snooze: it is over, its reminders ended, or this workspace "
    "does not remind of pauses (setup, *Remind after*). Nothing changed."
)


def snooze(
    services: Services,
    workspace: WorkspaceId,
    user_id: str,
    choice: str,
    channel: str,
    alert_ts: str,
    client: WebClient,
    respond: Respond,
) -> None:
    """A choice of the Snooze menu, for the reminders of the alert at (channel, alert_ts)."""
    picked = reminder_blocks.snooze_choice(choice)
    if picked is None or not channel or not alert_ts:
        respond(**messages.invalid_button(choice), replace_original=False)
        return
    if not may_resume(services, workspace, user_id, client, respond, replace_original=False):
        return
    now = services.reminders.now()
    if picked == "hour":
        until = now + reminder_blocks.SNOOZE_HOUR
    elif picked == "tomorrow":
        settings = services.workspaces.get(workspace)
        zone = when.zone_named(settings.time_zone if settings else None) or time_zone_of(user_id, client)
        tomorrow = when.parse_when("tomorrow 9:00", now, zone) if zone else None
        until = tomorrow if not isinstance(tomorrow, when.NotATime | None) else now + timedelta(hours=24)
    else:
        until = None
    snoozed = services.reminders.snooze(workspace, channel, alert_ts, user_id, until)
    if snoozed is None:
        respond(**messages.private(NO_REMINDERS), replace_original=False)
        return
    said = reminder_blocks.snoozed(user_id, until)
    try:
        client.chat_postMessage(channel=channel, thread_ts=alert_ts, **said)
    except SlackApiError as error:
        log_refusal("snoozed", error)
        respond(**messages.private(said["text"]), replace_original=False)  # they hear it, at least
