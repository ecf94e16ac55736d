"""The Socket Mode worker: serve until SIGTERM, then finish what was accepted and exit."""

import logging
import os
import signal
import threading
import time

from slack_sdk.errors import SlackApiError

from bot.runtime import build_runtime
from bot.settings import Settings
from bot.slack.ack_first import AckFirst, AckFirstSocketModeHandler
from bot.slack.app import StartupError

log = logging.getLogger("bot.worker")

# Received requests are acked (and answered) before the Socket Mode connection closes.
ACK_DRAIN_SECONDS = 2


def run(settings: Settings) -> int:
    ack_first = AckFirst()
    runtime = build_runtime(settings, ack_first.wait_until_acked)
    assert settings.slack_app_token is not None  # required for the worker by load_settings
    handler = AckFirstSocketModeHandler(runtime.app, settings.slack_app_token.get_secret_value(), ack_first)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        try:
            handler.connect()
        except SlackApiError as error:
            raise StartupError(
                f"SLACK_APP_TOKEN: Slack refused to open a Socket Mode connection ({error.response.get('error')})"
            ) from None
        runtime.start()
        workspaces = runtime.services.workspaces.all()
        connected = sorted(w.workspace.team_id for w in workspaces if w.api_key)
        log.info("worker started", extra={"fields": {"event": "started", **runtime.serving(), "workspaces": connected}})
        # Woken every second: Python runs signal handlers on the main thread only, and a wait without a timeout
        # may never wake for a SIGTERM the kernel handed to another thread (one CI run never stopped).
        while not stop.wait(1.0):
            pass
    finally:
        stopping = time.monotonic()
        log.info("stopping: no new requests, finishing accepted ones", extra={"fields": {"event": "stopping"}})
        runtime.stop_taking_work()
        # Requests already received get their ack (and answer) before the connection closes.
        ack_first.wait_until_all_acked(ACK_DRAIN_SECONDS)
        handler.close()
        ack_first.close()
    unanswered = runtime.finish(stopping)
    logging.shutdown()
    # Threads still waiting on Truedy (their requests already answered as interrupted) would keep the
    # interpreter alive until their timeouts: leave now, logs flushed.
    os._exit(1 if unanswered else 0)
