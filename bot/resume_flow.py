"""The one resume flow, shared by the slash command and the alert button: admit, show, resume, report, release.

Every admitted resume is tracked from its claim to its final answer, so that a shutdown can give each one
an ending: resumes that have not started are told so, and resumes still waiting for Truedy when time runs
out are told their outcome is unknown. No "is resuming…" is ever left behind.
"""

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, Protocol

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.background import BackgroundWork
from bot.resume import (
    BotFailure,
    Interrupted,
    NotSent,
    NotStarted,
    Refusal,
    ResumeOutcome,
    ResumeRequest,
    ResumeService,
    WorkspaceNotConfigured,
)
from bot.slack.blocks import messages
from bot.storage.inflight import AlreadyResuming, Claim, ShownAt

log = logging.getLogger("bot.resume_flow")

# Resumes still waiting for a thread when the worker stops get this many reporters at once.
REPORT_THREADS = 16


Ending = ResumeOutcome | AlreadyResuming | NotStarted


class Surface(Protocol):
    """Where a resume shows in Slack: the command's announcement, or the clicked alert."""

    def show_resuming(self) -> ShownAt | None:
        """Show it as under way; where, if anywhere public (recorded with the claim, for bot.runners.abandoned)."""
        ...

    def show_ending(self, ending: Ending) -> None: ...


@dataclass(eq=False)
class _Flow:
    request: ResumeRequest
    claim: Claim
    surface: Surface
    before_sending: Callable[[], bool] | None = None
    withheld: Callable[[], object] | None = None
    state: Literal["queued", "running", "ending"] = "queued"
    # Whether its request may have left for Truedy: set, under `leaving`, just before it does. A shutdown ends a
    # running flow that has not got there as not started (nothing was sent), never as unknown.
    sent: bool = False
    leaving: threading.Lock = field(default_factory=threading.Lock)


class ResumeFlows:
    def __init__(self, resumes: ResumeService, threads: int, before_each_job: Callable[[], None] = lambda: None):
        self._resumes = resumes
        self._pool = BackgroundWork("resume", threads, before_each_job)
        self._flows: set[_Flow] = set()
        self._accepting = True
        self._changed = threading.Condition()

    def start(
        self,
        request: ResumeRequest,
        surface: Surface,
        client: WebClient,
        respond: Respond,
        before_sending: Callable[[], bool] | None = None,
        withheld: Callable[[], object] | None = None,
    ) -> Refusal | NotStarted | None:
        """Check the request and claim the campaign (refusals go privately to the requester), show that it
        is being resumed, and queue the Truedy call for a resume thread. Runs on an answers thread. Returns
        why it was not queued (already said to the requester), or None once it is. `before_sending`: see
        ResumeService.resume; `withheld`: called when `before_sending` recorded the moment but a shutdown ended
        the flow meanwhile, so that nothing left after all."""
        if not self._accepting:
            respond(**messages.shutting_down())
            return NotStarted()
        admitted = self._resumes.admit(request, client)
        if not isinstance(admitted, Claim):
            respond(**messages.refusal(admitted, request.campaign_id))
            return admitted
        flow = _Flow(request, admitted, surface, before_sending, withheld)
        try:
            shown_at = surface.show_resuming()
            if shown_at is not None:
                self._resumes.shown(admitted, request.via, shown_at)
        except BaseException:
            # Whatever failed (Slack unreachable, a bug), the claim must not outlive it: a retry right
            # after must reach Truedy. The requester is told by the caller (answer_safely).
            self._resumes.release(admitted)
            raise
        with self._changed:
            queued = self._accepting
            if queued:
                self._flows.add(flow)
        if queued:
            self._pool.submit(self._run, flow)
        else:
            flow.state = "ending"
            self._end(flow, NotStarted())
        return None

    def record_unknown(self, request: ResumeRequest) -> None:
        """A resume whose process died once its request may have left (found by a sweep): audited, and counted,
        as interrupted."""
        self._resumes.record_refusal(request, "interrupted")

    def shut_down(self, stop_starting_at: float, interrupt_at: float, deadline: float) -> int:
        """Called once the worker takes no new requests (times are `time.monotonic()`): resumes may still
        start until `stop_starting_at`; those still queued then did not start; those still waiting for
        Truedy at `interrupt_at` end as interrupted. Returns how many had no final answer by `deadline`."""
        self._wait_until(lambda: not any(flow.state == "queued" for flow in self._flows), stop_starting_at)
        with self._changed:
            self._accepting = False
        reporters = ThreadPoolExecutor(REPORT_THREADS, thread_name_prefix="report")
        for flow in self._take("queued"):
            reporters.submit(self._end, flow, NotStarted())
        self._wait_until(lambda: not any(flow.state == "running" for flow in self._flows), interrupt_at)
        for flow in self._take("running"):
            outcome = Interrupted("the bot was restarting before Truedy answered") if flow.sent else NotStarted()
            reporters.submit(self._end, flow, outcome)
        self._wait_until(lambda: not self._flows, deadline)
        reporters.shutdown(wait=False, cancel_futures=True)
        self._pool.drain(0)
        with self._changed:
            return len(self._flows)

    def _run(self, flow: _Flow) -> None:
        if not self._advance(flow, "queued", "running"):
            return  # ended by the shutdown before its turn came
        ending: Ending
        try:
            ending = self._resumes.resume(flow.request, flow.claim, partial(self._leave, flow))
        except WorkspaceNotConfigured:
            self._resumes.record_refusal(flow.request, "not_sent")
            ending = NotSent("this workspace's Truedy key was removed meanwhile")
        except Exception:  # `resume` answers every failure of its own: this is a bug of the flow's
            log.exception("resume failed inside the bot", extra={"fields": {"event": "resume_failed"}})
            self._resumes.record_refusal(flow.request, "bot_failure")
            ending = BotFailure("the bot failed while resuming")
        if self._advance(flow, "running", "ending"):
            self._end(flow, ending)

    def _end(self, flow: _Flow, ending: Ending) -> None:
        """Show the final state, then release the claim: until the alert and its record are final, nobody
        else (a second click, the watcher) touches this campaign."""
        if isinstance(ending, NotStarted | Interrupted):
            self._resumes.record_refusal(
                flow.request, "not_started" if isinstance(ending, NotStarted) else "interrupted"
            )
        try:
            flow.surface.show_ending(ending)
        except Exception:
            log.exception("final answer not shown", extra={"fields": {"event": "ending_failed"}})
        finally:
            try:
                self._resumes.release(flow.claim)
            finally:
                with self._changed:
                    self._flows.discard(flow)
                    self._changed.notify_all()

    def _leave(self, flow: _Flow) -> bool:
        """Just before the request leaves: False (nothing is sent) once a shutdown ended the flow meanwhile, or
        the caller's `before_sending` says no. `before_sending` (a database write) runs outside any lock, so that
        a write that hangs holds up no shutdown: a flow still writing when the shutdown takes it is ended as not
        started, and its request never leaves (`withheld` undoes what the write recorded, when it did). The
        shutdown decides under `leaving`, so it sees either a flow whose request may have left, or one whose
        request never will."""
        with flow.leaving:
            if flow.state != "running":
                return False
        recorded = False
        try:
            recorded = flow.before_sending() if flow.before_sending is not None else True
        finally:
            with flow.leaving:
                ended = flow.state != "running"
                flow.sent = recorded and not ended
        if recorded and ended and flow.withheld is not None:
            flow.withheld()
        return flow.sent

    def _advance(self, flow: _Flow, expected: str, new: Literal["running", "ending"]) -> bool:
        with self._changed:
            if flow.state != expected:
                return False
            flow.state = new
            self._changed.notify_all()
            return True

    def _take(self, state: str) -> list[_Flow]:
        with self._changed:
            taken = [flow for flow in self._flows if flow.state == state]
            for flow in taken:
                with flow.leaving:  # a flow about to send either sent (`sent`) or never will
                    flow.state = "ending"
            return taken

    def _wait_until(self, condition: Callable[[], bool], moment: float) -> None:
        with self._changed:
            self._changed.wait_for(condition, timeout=max(0.0, moment - time.monotonic()))
