"""Scheduling resumes: `/resume-campaign <id> at 9:00` (and an alert's or a digest row's "later" menu; a picked
time: bot.slack.time_picker) schedules one, `/resume-campaign scheduled` lists them, Cancel cancels one. Each
runs after the ack; the same restrictions as resuming apply to each."""

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services import Services
from bot.slack.blocks import messages, schedule_blocks
from bot.slack.permissions import may_resume
from bot.slack.replies import DirectMessage, log_refusal, update_message
from bot.storage.schedules import ScheduledResume
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId
from bot.when import NotATime, parse_when


def schedule(
    services: Services,
    workspace: WorkspaceId,
    user_id: str,
    campaign_id: CampaignId,
    when: str,
    channel: str,
    client: WebClient,
    respond: Respond,
    via: str = "command",
    thread_ts: str | None = None,
) -> None:
    """Read `when` in the person's time zone, keep the schedule, and tell the channel (else them) with Cancel."""
    if not may_resume(services, workspace, user_id, client, respond):
        return
    due = parse_when(when, services.schedules.now(), time_zone_of(user_id, client))
    if isinstance(due, NotATime):
        respond(**schedule_blocks.not_a_time(when, due.reason))
        return
    scheduled, created = services.schedules.add(workspace, campaign_id, user_id, due, channel, via, thread_ts)
    if not created:
        respond(**schedule_blocks.already_scheduled(scheduled))
        return
    announce(services, scheduled, channel, thread_ts, client, respond)


def announce(
    services: Services,
    scheduled: ScheduledResume,
    channel: str,
    thread_ts: str | None,
    client: WebClient,
    respond: Respond | DirectMessage,
) -> None:
    """The new schedule in the channel (its thread), with Cancel; privately to its author when refused there."""
    try:
        posted = client.chat_postMessage(channel=channel, thread_ts=thread_ts, **schedule_blocks.scheduled(scheduled))
    except SlackApiError as error:
        log_refusal("schedule", error)
        respond(**schedule_blocks.cannot_post_scheduled(scheduled))
        return
    services.schedules.posted(scheduled.id, posted["ts"])


def list_scheduled(services: Services, workspace: WorkspaceId, respond: Respond) -> None:
    shown, total = services.schedules.pending_in(workspace, schedule_blocks.LISTED_AT_MOST)
    respond(**schedule_blocks.scheduled_list(shown, total))


def cancel(
    services: Services, workspace: WorkspaceId, user_id: str, value: str, client: WebClient, respond: Respond
) -> None:
    """The Cancel button (on the channel's message, or the private list): for those who may resume here."""
    if not re.fullmatch(r"[0-9]{1,18}", value):  # ASCII digits that fit a database id: not "²", not 40 digits
        respond(**messages.invalid_button(value), replace_original=False)
        return
    if not may_resume(services, workspace, user_id, client, respond, replace_original=False):
        return
    cancelled = services.schedules.cancel(workspace, int(value), user_id)
    if cancelled is None:
        respond(**schedule_blocks.not_cancelled(services.schedules.get(workspace, int(value))), replace_original=False)
        return
    shown = schedule_blocks.cancelled(cancelled, user_id)
    if cancelled.message_ts:
        update_message(client, cancelled.channel, cancelled.message_ts, shown["text"], shown["blocks"])
    respond(**{**shown, "response_type": "ephemeral"}, replace_original=False)


def time_zone_of(user_id: str, client: WebClient) -> ZoneInfo | None:
    """The person's time zone as Slack has it (`users.info`); None when Slack does not say."""
    try:
        name = client.users_info(user=user_id)["user"].get("tz")
        return ZoneInfo(name) if name else None
    except (SlackApiError, ZoneInfoNotFoundError, ValueError, KeyError):
        return None
