"""Scheduled resumes run when they are due, in every process that serves Slack. Each process takes the ones due
under a lease (bot.storage.schedules, whose docstring has the states and moves), renews it until it exits, and
starts each on the one resume flow, as a click would: the same checks, claim, audit and thread answer, as the
person who scheduled it. The moment its request may leave for Truedy is recorded first (`start_sending`).

What becomes of a schedule this process took:
- its workspace uninstalled the app meanwhile: ended (nowhere to say anything);
- refused for good (the person may not resume any more, the workspace has no Truedy key): ended, and said in
  the channel and to them;
- not started now (the flow is stopping, someone else is resuming the campaign, Slack rate-limits the check
  of who may resume, Slack or the database failed before Truedy was asked): handed back, due again a little
  later, so that it is never lost and never refused by this process's own claim;
- admitted: the flow resumes it, and its surface (bot.slack.surfaces.ScheduledSurface) ends it or hands it
  back by what Truedy answered.
At shutdown, what this process holds unsent goes back at once, for the next process. A process that dies leaves
its leases to run out: what it never sent is taken again by any process; what it may have sent ends as unknown,
said in its thread, and is never sent again.

Hand-written rather than on a scheduler library, for the reasons given in bot.runners.resume_all: what is left
to write is one indexed query a second and the hand-over to the resume flow.
"""

import logging
import secrets
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.background import BackgroundWork
from bot.resume import CannotCheck, NotStarted, ResumeRequest
from bot.resume_flow import ResumeFlows
from bot.slack.blocks import messages, schedule_blocks
from bot.slack.replies import DirectMessage, log_refusal
from bot.slack.surfaces import SOMEONE_ELSE_SECONDS, ScheduledSurface
from bot.slack.undo import Undo
from bot.storage.inflight import AlreadyResuming
from bot.storage.schedules import RENEW_SECONDS, ScheduledResume, ScheduledResumes
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import CampaignId

log = logging.getLogger("bot.scheduler")

TICK_SECONDS = 1.0
# Taken at most this many at once, so that other processes take their share of a crowd of due schedules.
MOST_PER_TICK = 50
# How often schedules whose process died once their request may have left are looked for.
SWEEP_EVERY_TICKS = 10


class ScheduledResumeRunner:
    def __init__(
        self,
        schedules: ScheduledResumes,
        flows: ResumeFlows,
        starts: BackgroundWork,
        slack_for: Callable[[WorkspaceId], WebClient | None],
        undo: Undo | None = None,
    ):
        self._undo = undo  # Pause again under each successful resume
        self._schedules = schedules
        self._flows = flows
        self._starts = starts  # where each is checked and handed to the flow: a pool of its own
        self._slack_for = slack_for
        # This process's token: its leases are its own, and a process that dies leaves nothing others must wait on
        # longer than a lease.
        self.owner = f"scheduler-{secrets.token_hex(8)}"
        # The schedules this process is working on: only their leases are renewed. Each with the move the database
        # would not take when it was made (a blip), tried again each tick until it does.
        self._working: dict[int, Callable[[], object] | None] = {}
        self._working_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)
        self._leases = threading.Thread(target=self._keep_leases, name="schedule-leases", daemon=True)

    def start(self) -> None:
        self._leases.start()
        self._thread.start()

    def stop(self) -> None:
        """No schedule is taken or started any more: those not started yet are dropped here and handed back at
        the end of the shutdown (`hand_back_unsent`); those the flow has run on, or end as its shutdown decides."""
        self._stop.set()
        self._starts.drain(0)

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def hand_back_unsent(self) -> int:
        """At the very end of a shutdown (the flows ended, their claims released): what this process took and
        never sent is pending again, for the next process to run at once."""
        handed = self._schedules.hand_back_all(self.owner)
        if handed:
            log.info("scheduled resumes handed back", extra={"fields": {"event": "schedules_handed_back", "n": handed}})
        return handed

    def _keep_leases(self) -> None:
        """Until the process exits (shutdown included: a resume waiting on Truedy still holds its schedule)."""
        while True:
            time.sleep(RENEW_SECONDS)
            with self._working_lock:
                working = list(self._working)
            try:
                self._schedules.renew(self.owner, working)
            except Exception:
                log.exception("schedule leases not renewed", extra={"fields": {"event": "lease_not_renewed"}})

    def _started(self, schedule_ids: list[int]) -> None:
        with self._working_lock:
            self._working.update(dict.fromkeys(schedule_ids))

    def _finished(self, schedule_id: int, unrecorded: Callable[[], object] | None = None) -> None:
        """Through with it; or, with `unrecorded`, once that move is taken (its lease renewed meanwhile)."""
        with self._working_lock:
            if unrecorded is None:
                self._working.pop(schedule_id, None)
            else:
                self._working[schedule_id] = unrecorded

    def _record_moves_again(self) -> None:
        with self._working_lock:
            waiting = [(schedule_id, move) for schedule_id, move in self._working.items() if move is not None]
        for schedule_id, move in waiting:
            try:
                move()
            except Exception:
                continue  # the database still refuses: next tick
            self._finished(schedule_id)

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(TICK_SECONDS):
            try:
                self._record_moves_again()
                if ticks % SWEEP_EVERY_TICKS == 0:
                    for schedule in self._schedules.end_unknown():
                        try:
                            self._flows.record_unknown(_request(schedule))
                            self._tell_unknown(schedule)
                        except Exception:  # Slack out of reach for this one: the others are still told
                            log.exception("unknown schedule not told", extra={"fields": {"event": "schedule_untold"}})
                # Many due at once (a busy 9:00): take the next ones at once, not a tick later.
                while self.run_due() == MOST_PER_TICK and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("scheduled resumes failed", extra={"fields": {"event": "schedules_failed"}})
            ticks += 1

    def run_due(self) -> int:
        """Take the schedules that are due and start each; how many were taken."""
        taken = self._schedules.take(self.owner, MOST_PER_TICK)
        self._started([schedule.id for schedule in taken])
        for schedule in taken:
            if not self._starts.submit(self._run, schedule):
                self._finished(schedule.id)
                self._schedules.hand_back(schedule.id, self.owner)  # stopping: the next process runs it
        return len(taken)

    def _run(self, schedule: ScheduledResume) -> None:
        late = round(schedule.late_by.total_seconds(), 1) if schedule.late_by else None
        fields = {"event": "schedule_due", "team": schedule.workspace.team_id, "schedule": schedule.id}
        log.info("scheduled resume due", extra={"fields": {**fields, "campaign": schedule.campaign_id, "late": late}})
        surface: ScheduledSurface | None = None
        admitted = False
        try:
            slack = self._slack_for(schedule.workspace)
            if slack is None:  # uninstalled meanwhile: nowhere to say anything
                self._schedules.end(schedule.id, self.owner, "not_installed", leaving="taken")
                return
            surface = ScheduledSurface(
                slack, schedule, self._schedules, self.owner, done=self._finished, undo=self._undo
            )
            admitted = self._start(schedule, slack, surface)
        except Exception:
            # Slack or the database failed before Truedy was asked: nothing was sent, and it is tried again.
            log.exception("scheduled resume not started", extra={"fields": {**fields, "event": "schedule_not_started"}})
            if surface is not None:
                surface.try_again_later("the bot could not reach Slack or its database")
            # else: its lease, no longer renewed, runs out, and it is taken again
        finally:
            if not admitted:  # once admitted, the surface says when it is through (`done`)
                self._finished(schedule.id, surface.unrecorded if surface is not None else None)

    def _start(self, schedule: ScheduledResume, slack: WebClient, surface: ScheduledSurface) -> bool:
        """Hand it to the resume flow; True once the flow took it (its surface ends it), else what becomes of it
        was decided here."""
        request = _request(schedule)
        sending = partial(self._schedules.start_sending, schedule.id, self.owner)
        # Recorded as sending, then ended by a shutdown before it left: pending again (it was never sent).
        withheld = partial(self._schedules.hand_back, schedule.id, self.owner, timedelta(0), ("sending",))
        not_started = self._flows.start(
            request, surface, slack, _say_nothing, before_sending=sending, withheld=withheld
        )
        if not_started is None:
            return True
        if isinstance(not_started, NotStarted):
            surface.try_again_in(0, "the bot is stopping")  # the next process runs it
        elif isinstance(not_started, AlreadyResuming):
            surface.try_again_in(SOMEONE_ELSE_SECONDS, "someone else was resuming it at its time")
        elif isinstance(not_started, CannotCheck):
            surface.try_again_in(not_started.retry_after, "Slack rate-limited the check of who may resume")
        else:
            said = messages.refusal(not_started, schedule.campaign_id)["text"]
            surface.refused(said)
            try:
                DirectMessage(slack, schedule.scheduled_by)(text=said)
            except SlackApiError as error:
                log_refusal("schedule_dm", error)
        return False

    def _tell_unknown(self, schedule: ScheduledResume) -> None:
        slack = self._slack_for(schedule.workspace)
        if slack is None:
            return
        shown = schedule_blocks.stopped_while_sending(schedule)
        try:
            if schedule.message_ts:
                slack.chat_update(channel=schedule.channel, ts=schedule.message_ts, **shown)
            slack.chat_postMessage(
                channel=schedule.channel, thread_ts=schedule.message_ts or schedule.thread_ts, **shown
            )
        except SlackApiError as error:
            log_refusal("schedule_unknown", error)


def _request(schedule: ScheduledResume) -> ResumeRequest:
    """Its resume, as the person who scheduled it."""
    return ResumeRequest(
        schedule.workspace.team_id,
        schedule.scheduled_by,
        CampaignId(schedule.campaign_id),
        "schedule",
        schedule.workspace.enterprise_id,
    )


def _say_nothing(**_message: object) -> None:
    """The flow's private answers: a schedule's refusals are said in its channel (and to its person) instead."""
