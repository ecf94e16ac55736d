"""Resume later at a picked time: "Pick a time…" (an alert's or a digest row's menu, a row of the list) and
`/resume-campaign <id> at` open a modal with Slack's datetimepicker; its submission is checked as a typed
schedule is (the same restrictions, in the future, within 30 days, one schedule per campaign) and answered on
its field within Slack's 3 s; then the schedule is announced as a typed one is."""

import logging
import threading
from concurrent.futures import TimeoutError as FuturesTimeout
from datetime import UTC, datetime

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot import truedy
from bot.services import Services
from bot.slack import schedule_requests
from bot.slack.blocks import messages, schedule_blocks
from bot.slack.blocks import time_picker_blocks as blocks
from bot.slack.permissions import may_resume
from bot.slack.replies import DirectMessage
from bot.storage.schedules import ScheduledResume
from bot.storage.workspace_settings import WorkspaceId
from bot.when import FURTHEST, NotATime, within_reach

log = logging.getLogger("bot.time_picker")

# A submission is answered within Slack's 3 s: its checks (the database, Slack when resumes are restricted to a
# group) and its one write get this long together; the ack, the rest.
ANSWER_BUDGET_SECONDS = 2.5


def open_picker(
    services: Services,
    workspace: WorkspaceId,
    user_id: str,
    picked_for: blocks.PickedFor,
    trigger_id: str,
    client: WebClient,
    respond: Respond,
) -> None:
    """The modal, for those who may resume here (others are told why, and see no form); it opens at once (the
    click's trigger lasts 3 s) and shows the campaign as Truedy has it once read."""
    if not may_resume(services, workspace, user_id, client, respond, replace_original=False):
        return
    initial = blocks.initial_moment(services.schedules.now())
    view = blocks.picker(picked_for, initial, blocks.reading_summary(picked_for.campaign_id))
    try:
        opened = client.views_open(trigger_id=trigger_id, view=view)["view"]
    except SlackApiError as error:
        respond(**blocks.not_opened(error.response.get("error") or "unknown_error"), replace_original=False)
        return
    services.lookups.submit(_show_summary, services, workspace, picked_for, initial, opened["id"], client)


def _show_summary(
    services: Services,
    workspace: WorkspaceId,
    picked_for: blocks.PickedFor,
    initial: datetime,
    view_id: str,
    client: WebClient,
) -> None:
    settings = services.workspaces.get(workspace)
    if settings is None or settings.api_key is None:
        return  # the key was removed meanwhile: the submission says so
    try:
        summary = blocks.summary(services.truedy.get_campaign(settings.api_key, picked_for.campaign_id))
    except truedy.TruedyError as error:
        summary = blocks.summary_unread(picked_for.campaign_id, messages.explain(error)[0])
    try:
        # The picked time stays as it is: Slack keeps an input's value when its block and action ids are the same.
        client.views_update(view_id=view_id, view=blocks.picker(picked_for, initial, summary))
    except SlackApiError as error:  # closed or submitted already: nothing to show it in
        log.info(
            "picker summary not shown",
            extra={"fields": {"event": "picker_not_updated", "error": error.response.get("error")}},
        )


def submitted(
    services: Services, workspace: WorkspaceId, user_id: str, view: dict, client: WebClient
) -> tuple[blocks.PickedFor, ScheduledResume] | str:
    """The picker's submission: the schedule now kept, or what to say on the field instead, within Slack's 3 s.
    The database and Slack are asked on a thread given ANSWER_BUDGET_SECONDS; past it, nothing more is written
    (or, if the write had begun, the person is told it may be kept, and the channel hears of it once it is)."""
    picked_for = blocks.parse_metadata(view.get("private_metadata") or "")
    if picked_for is None:
        return blocks.NOT_OURS
    seconds = blocks.picked_seconds(view)
    if seconds is None:
        return blocks.NO_TIME
    attempt = _Attempt()
    keeping = services.setup_checks.submit(_keep, services, workspace, user_id, picked_for, seconds, client, attempt)
    try:
        return keeping.result(timeout=ANSWER_BUDGET_SECONDS)
    except FuturesTimeout:
        return blocks.MAY_BE_KEPT if attempt.give_up() else blocks.TOO_SLOW


class _Attempt:
    """Whether the schedule's write began before the answer was given up on: one or the other, never both."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._writing = self._given_up = False

    def start_writing(self) -> bool:
        with self._lock:
            self._writing = not self._given_up
            return self._writing

    def give_up(self) -> bool:
        """True if the write had begun (it may be kept)."""
        with self._lock:
            self._given_up = True
            return self._writing

    @property
    def given_up(self) -> bool:
        with self._lock:
            return self._given_up


def _keep(
    services: Services,
    workspace: WorkspaceId,
    user_id: str,
    picked_for: blocks.PickedFor,
    seconds: int,
    client: WebClient,
    attempt: _Attempt,
) -> tuple[blocks.PickedFor, ScheduledResume] | str:
    try:
        now = services.schedules.now()
        # Compared as numbers first: a moment past the calendar's end (year 9999) is far, not a crash.
        if seconds > now.timestamp() + FURTHEST.total_seconds():
            return blocks.TOO_FAR
        due = within_reach(datetime.fromtimestamp(seconds, UTC), now)
        if isinstance(due, NotATime):
            return blocks.PASSED if due.reason.endswith("passed") else blocks.TOO_FAR
        refusal = services.resumes.refusal(workspace, user_id, client)
        if refusal is not None:
            return messages.refusal(refusal, picked_for.campaign_id)["text"]
        if not attempt.start_writing():
            return blocks.TOO_SLOW
        scheduled, created = services.schedules.add(
            workspace, picked_for.campaign_id, user_id, due, picked_for.channel, picked_for.via, picked_for.thread_ts
        )
    except SQLAlchemyError:
        log.exception("picked schedule not kept", extra={"fields": {"event": "database_error"}})
        return messages.database_unavailable()["text"]
    if not created:
        return schedule_blocks.already_scheduled(scheduled)["text"]
    if attempt.given_up:  # kept after the person was told it may be: the channel hears of it as of any other
        announce(services, picked_for, scheduled, user_id, client)
    return picked_for, scheduled


def announce(
    services: Services, picked_for: blocks.PickedFor, scheduled: ScheduledResume, user_id: str, client: WebClient
) -> None:
    """After the ack: the channel's message with Cancel, as for a typed schedule (privately if it refuses)."""
    schedule_requests.announce(
        services, scheduled, picked_for.channel, picked_for.thread_ts, client, DirectMessage(client, user_id)
    )
