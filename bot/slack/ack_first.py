"""Acks before anything else: background jobs wait while requests from Slack are waiting for their ack
(Socket Mode envelopes, or HTTP requests being answered).

The worker's threads share one interpreter: during a burst, every thread posting to Slack or reading the
database slows the acks down (measured in bench/load.py: p99 2.5x a bare ack-only app at 500 requests).
A job that starts a few milliseconds later costs nothing; an ack later than 3 s is an error in Slack.

Requests are tracked by envelope id, counted before they are queued for Bolt, so an ack can never be
seen before its request (which would leave a count behind for good); a request never acked (Bolt could
not read it) stops counting after Slack's own 3 s.
"""

import re
import threading
import time

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

from bot import metrics

# A job waits at most this long for a quiet moment, so a steady stream of requests cannot starve it.
MAX_WAIT_SECONDS = 1.0
# A burst is over once no request has arrived for this long.
BURST_GAP_SECONDS = 0.02
# Slack gives up on an ack after 3 s: a request older than that no longer holds anything up.
FORGET_AFTER_SECONDS = 3.0
# slack_sdk pings Slack this often over Socket Mode (Bolt's default, 10 s, would leave a connection gone silent
# looking alive for up to 40 s)…
PING_SECONDS = 3
# …and one whose last answered ping is older than this is not alive (/healthz says 503 within 10 s of a silence).
SILENT_SECONDS = 7
# A request not acked by then never will be (Bolt could not read it): its arrival is forgotten.
NEVER_ACKED_SECONDS = 60.0
# At shutdown, the connection stays open until no request has arrived for this long.
QUIET_SECONDS = 0.3
_ENVELOPE_ID = re.compile(r'"envelope_id"\s*:\s*"([^"]+)"')


class AckFirst:
    def __init__(self) -> None:
        self._waiting: dict[str, float] = {}  # envelope id -> when it arrived (monotonic)
        # Every request's arrival until its ack, however late (for its duration); one never acked goes after a minute.
        self._arrivals: dict[str, float] = {}
        self._last_arrival = 0.0
        self._closed = False
        self._changed = threading.Condition()

    def received(self, message: str) -> None:
        """A Socket Mode message arrived; it is waited for if it is a request (has an envelope id)."""
        if found := _ENVELOPE_ID.search(message):
            self.arrived(found.group(1))

    def arrived(self, request_id: str) -> None:
        with self._changed:
            now = self._last_arrival = self._waiting[request_id] = self._arrivals[request_id] = time.monotonic()
            while next(iter(self._arrivals.values())) < now - NEVER_ACKED_SECONDS:
                del self._arrivals[next(iter(self._arrivals))]

    def acked(self, envelope_id: str) -> float | None:
        """When the request arrived (`time.monotonic()`), unless it was never seen or over a minute ago."""
        with self._changed:
            self._waiting.pop(envelope_id, None)
            arrived = self._arrivals.pop(envelope_id, None)
            # Waking the waiting jobs on every ack would cost the acks more than it saves: only when none is left.
            if not self._waiting:
                self._changed.notify_all()
            return arrived

    def waiting(self) -> int:
        """Requests received and not yet acked (within Slack's 3 s)."""
        with self._changed:
            return self._count_waiting()

    def wait_until_acked(self) -> None:
        """Until no request waits for its ack and none arrived for BURST_GAP_SECONDS; at most MAX_WAIT_SECONDS.
        A burst is read one request at a time: between two of them, none may be waiting for a moment, and a
        job that started then (a thread to create, the database, Slack) would slow down every ack after it."""
        deadline = time.monotonic() + MAX_WAIT_SECONDS
        with self._changed:
            while not self._closed and (now := time.monotonic()) < deadline:
                if self._count_waiting():
                    self._changed.wait(deadline - now)  # woken once the last one is acked
                    continue
                quiet_left = self._last_arrival + BURST_GAP_SECONDS - now
                if quiet_left <= 0:
                    return
                self._changed.wait(min(quiet_left, deadline - now))

    def wait_until_all_acked(self, timeout: float, quiet: float = QUIET_SECONDS) -> bool:
        """For shutdown: until every request received is acked (and so answered) and none has arrived for
        `quiet` seconds, so that requests already on their way when the connection is about to close
        still get in; at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                now = time.monotonic()
                if self._count_waiting() == 0 and now - self._last_arrival >= quiet:
                    return True
                if now >= deadline:
                    return False
                self._changed.wait(min(0.05, deadline - now))

    def close(self) -> None:
        """The connection is closed: requests it left unhandled will never be acked, so nothing waits for them."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def _count_waiting(self) -> int:
        # Oldest first (dicts keep insertion order): dropping the stale ones costs nothing when there are none.
        too_old = time.monotonic() - FORGET_AFTER_SECONDS
        while self._waiting and next(iter(self._waiting.values())) < too_old:
            del self._waiting[next(iter(self._waiting))]
        return len(self._waiting)


class AckFirstSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler, telling `ack_first` when a request arrives and when its ack has gone."""

    def __init__(self, app, app_token: str, ack_first: AckFirst):
        super().__init__(app, app_token, ping_interval=PING_SECONDS)
        self._ack_first = ack_first
        enqueue = self.client.enqueue_message

        def count_then_enqueue(message: str) -> None:
            # Counted before Bolt can see it, so its ack always comes after.
            ack_first.received(message)
            enqueue(message)

        self.client.enqueue_message = count_then_enqueue  # type: ignore[method-assign]

    def alive(self) -> bool:
        """Connected, and Slack answered a ping within SILENT_SECONDS: a connection can go silent without closing
        (the usual way a network fails), which slack_sdk notices only after 4 pings without a pong."""
        if not self.client.is_connected():
            return False
        session = self.client.current_session
        # slack_sdk records the time of the last ping Slack answered (before any answer, of its first ping).
        since = (session.last_ping_pong_time or getattr(session, "_first_ping_time", None)) if session else None
        return since is None or time.time() - since < SILENT_SECONDS

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        try:
            super().handle(client, req)  # Bolt's: dispatches, then sends the ack
        finally:
            if (arrived := self._ack_first.acked(req.envelope_id)) is not None:
                metrics.acked(request_kind(req.payload), time.monotonic() - arrived)


# Slack's payload types, by the kind of request they are; anything else is counted as an event.
_KINDS = {
    "block_actions": "action",
    "interactive_message": "action",
    "view_submission": "view",
    "view_closed": "view",
    "block_suggestion": "options",
    "shortcut": "shortcut",
    "message_action": "shortcut",
}


def request_kind(payload: object) -> str:
    """command, action, view, options, shortcut or event: the `kind` of an ack's duration."""
    if not isinstance(payload, dict):
        return "event"
    if "command" in payload:
        return "command"
    return _KINDS.get(str(payload.get("type")), "event")
