"""The Socket Mode worker: serve until SIGTERM, then finish what was accepted and exit."""

import logging
import os
import signal
import threading
import time

from slack_sdk.errors import SlackApiError

from bot import metrics
from bot.runtime import build_runtime
from bot.settings import Settings
from bot.slack import reach
from bot.slack.ack_first import AckFirst, AckFirstSocketModeHandler
from bot.slack.app import StartupError
from bot.worker_http import WorkerHttp

log = logging.getLogger("bot.worker")

# Received requests are acked (and answered) before the Socket Mode connection closes.
ACK_DRAIN_SECONDS = 2
# While Socket Mode is not connected, a line says so this often.
RETRYING_LOG_SECONDS = 5


def _connected(handler: AckFirstSocketModeHandler, stop: threading.Event) -> bool:
    """Until Socket Mode is connected (slack_sdk's client tries again every few seconds by itself), saying
    meanwhile what fails; False if told to stop first. `connect` returns even when Slack refused the
    connection: only then is the worker started."""
    problems = _LastProblem()
    handler.client.logger.addHandler(problems)
    waited = 0
    try:
        while not handler.client.is_connected():
            if stop.wait(1.0):
                return False
            waited += 1
            if waited % RETRYING_LOG_SECONDS == 0:
                fields = {"event": "socket_mode_retrying", "waited_seconds": waited, "problem": problems.last}
                log.warning("not connected to Slack (Socket Mode) yet: trying again", extra={"fields": fields})
    finally:
        handler.client.logger.removeHandler(problems)
    return True


class _LastProblem(logging.Handler):
    """The gist of slack_sdk's last warning or error (its first words: the rest may carry a ticket)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.last = "none reported"

    def emit(self, record: logging.LogRecord) -> None:
        self.last = record.getMessage().split(" (")[0].split(":")[0][:100]


def _worker_http(settings: Settings) -> WorkerHttp | None:
    """/healthz (and /metrics, with METRICS_TOKEN) on METRICS_PORT, bound first of all: a taken port is a setting
    to change, found before Slack is waited for. Said once at the start either way."""
    token = settings.metrics_token.get_secret_value() if settings.metrics_token is not None else None
    fields = {
        "event": "metrics",
        "port": settings.metrics_port,
        "metrics": token is not None and bool(settings.metrics_port),
    }
    if settings.metrics_port is None:
        log.info("no health or metrics port: METRICS_PORT is not set", extra={"fields": fields})
        return None
    if token is not None:
        metrics.enable()
    try:
        http = WorkerHttp(settings.metrics_port, token)
    except OSError as error:
        raise StartupError(f"METRICS_PORT: cannot listen on {settings.metrics_port} ({error.strerror})") from None
    said = "/healthz and /metrics" if token is not None else "/healthz (metrics off: METRICS_TOKEN is not set)"
    log.info(f"{said} on port {settings.metrics_port}", extra={"fields": fields})
    return http


def run(settings: Settings) -> int:
    http = _worker_http(settings)
    ack_first = AckFirst()
    runtime = build_runtime(settings, ack_first.wait_until_acked)
    assert settings.slack_app_token is not None  # required for the worker by load_settings
    handler = AckFirstSocketModeHandler(runtime.app, settings.slack_app_token.get_secret_value(), ack_first)
    try:
        # apps.connections.open, before the signal handlers: a SIGTERM while Slack is still out of reach ends the
        # process at once, nothing having been accepted yet.
        reach.patiently(handler.connect, "apps.connections.open", settings.slack_api_url, handler.client.web_client)
    except SlackApiError as error:
        raise StartupError(
            f"SLACK_APP_TOKEN: Slack refused to open a Socket Mode connection ({error.response.get('error')})"
        ) from None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if http is not None:
        http.start(runtime.engine, handler.alive)
    try:
        runtime.start()
        if _connected(handler, stop):
            workspaces = runtime.services.workspaces.all()
            connected = sorted(w.workspace.team_id for w in workspaces if w.api_key)
            fields = {"event": "started", **runtime.serving(), "workspaces": connected}
            log.info("worker started", extra={"fields": fields})
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
        if http is not None:
            http.stop()
    unanswered = runtime.finish(stopping)
    logging.shutdown()
    # Threads still waiting on Truedy (their requests already answered as interrupted) would keep the
    # interpreter alive until their timeouts: leave now, logs flushed.
    os._exit(1 if unanswered else 0)
