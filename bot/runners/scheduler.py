"""Scheduled resumes run when they are due, in every process that serves Slack: each process takes the ones
due (each is taken once across processes, bot.storage.schedules) and starts each on the one resume flow,
as a click would: the same checks, claim, audit and thread answer, as the person who scheduled it.

Hand-written rather than on a scheduler library, for the reasons given in bot.runners.resume_all: what is left to
write is one indexed query a second and the hand-over to the resume flow.
"""

import logging
import threading
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.background import BackgroundWork
from bot.resume import ResumeRequest
from bot.resume_flow import ResumeFlows
from bot.slack.blocks import schedule_blocks
from bot.slack.replies import log_refusal
from bot.slack.surfaces import ScheduleAnswers, ScheduledSurface
from bot.storage.schedules import ScheduledResume, ScheduledResumes
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId

log = logging.getLogger("bot.scheduler")

TICK_SECONDS = 1.0
# Taken at most this many at once, so that other processes take their share of a crowd of due schedules.
MOST_PER_TICK = 50
# How often schedules left running by a process that died are looked for.
SWEEP_EVERY_TICKS = 60


class ScheduledResumeRunner:
    def __init__(
        self,
        schedules: ScheduledResumes,
        flows: ResumeFlows,
        starts: BackgroundWork,
        slack_for: Callable[[WorkspaceId], WebClient | None],
    ):
        self._schedules = schedules
        self._flows = flows
        self._starts = starts  # where each is checked and handed to the flow (the answers' pool)
        self._slack_for = slack_for
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No schedule is taken any more: those due meanwhile run at the next start, saying they are late."""
        self._stop.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(TICK_SECONDS):
            try:
                if ticks % SWEEP_EVERY_TICKS == 0:
                    for schedule in self._schedules.end_abandoned():
                        self._tell_interrupted(schedule)
                # Many due at once (a busy 9:00): take the next ones at once, not a tick later.
                while self.run_due() == MOST_PER_TICK and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("scheduled resumes failed", extra={"fields": {"event": "schedules_failed"}})
            ticks += 1

    def run_due(self) -> int:
        """Take the schedules that are due and start each; how many were taken."""
        taken = self._schedules.take_due(MOST_PER_TICK)
        for schedule in taken:
            if not self._starts.submit(self._run, schedule):
                self._schedules.release(schedule.id)  # stopping: the next process to start runs it
        return len(taken)

    def _run(self, schedule: ScheduledResume) -> None:
        log.info(
            "scheduled resume due",
            extra={
                "fields": {
                    "event": "schedule_due",
                    "team": schedule.workspace.team_id,
                    "campaign": schedule.campaign_id,
                    "schedule": schedule.id,
                    "late_seconds": round(schedule.late_by.total_seconds(), 1) if schedule.late_by else None,
                }
            },
        )
        slack = self._slack_for(schedule.workspace)
        if slack is None:
            self._schedules.end(schedule.id, "not_installed")  # uninstalled meanwhile: nowhere to say anything
            return
        request = ResumeRequest(
            schedule.workspace.team_id,
            schedule.scheduled_by,
            CampaignId(schedule.campaign_id),
            "schedule",
            schedule.workspace.enterprise_id,
        )
        surface = ScheduledSurface(slack, schedule, self._schedules)
        answers = ScheduleAnswers(slack, schedule.scheduled_by)
        try:
            self._flows.start(request, surface, slack, answers)
        finally:
            if not surface.started:
                # Refused before Truedy was asked (or the bot failed): the channel hears why, and it is over.
                surface.refused(answers.last_said or "the bot failed while starting it")

    def _tell_interrupted(self, schedule: ScheduledResume) -> None:
        slack = self._slack_for(schedule.workspace)
        if slack is None:
            return
        try:
            slack.chat_postMessage(
                channel=schedule.channel,
                thread_ts=schedule.message_ts or schedule.thread_ts,
                **schedule_blocks.interrupted(schedule),
            )
        except SlackApiError as error:
            log_refusal("schedule_interrupted", error)
