"""Acks before anything else: background jobs wait while Socket Mode requests are waiting for their ack.

The worker's threads share one interpreter: during a burst, every thread posting to Slack or reading the
database slows the acks down (measured in bench/load.py: p99 2.5x a bare ack-only app at 500 requests).
A job that starts a few milliseconds later costs nothing; an ack later than 3 s is an error in Slack.
"""

import threading

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest

# A job waits at most this long for a quiet moment, so a steady stream of requests cannot starve it.
MAX_WAIT_SECONDS = 1.0


class AckFirst:
    def __init__(self) -> None:
        self._waiting_for_ack = 0
        self._closed = False
        self._changed = threading.Condition()

    def received(self, message: str) -> None:
        if '"envelope_id"' in message:
            with self._changed:
                self._waiting_for_ack += 1

    def acked(self) -> None:
        with self._changed:
            self._waiting_for_ack = max(0, self._waiting_for_ack - 1)
            if self._waiting_for_ack == 0:
                self._changed.notify_all()

    def wait_until_acked(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._closed or self._waiting_for_ack == 0, timeout=MAX_WAIT_SECONDS)

    def close(self) -> None:
        """The connection is closed: requests it left unhandled will never be acked, so nothing waits for them."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class AckFirstSocketModeHandler(SocketModeHandler):
    """Bolt's Socket Mode handler, telling `ack_first` when a request arrives and when its ack has gone."""

    def __init__(self, app, app_token: str, ack_first: AckFirst):
        super().__init__(app, app_token)
        self._ack_first = ack_first
        self.client.on_message_listeners.append(ack_first.received)

    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        try:
            super().handle(client, req)
        finally:
            self._ack_first.acked()
