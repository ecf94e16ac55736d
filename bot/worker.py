"""The Socket Mode worker: serve until SIGTERM, then finish what was accepted and exit."""

import logging
import os
import signal
import threading
import time
from datetime import timedelta
from functools import partial

from slack_sdk.errors import SlackApiError

from bot.ack_first import AckFirst, AckFirstSocketModeHandler
from bot.alert_records import AlertRecords
from bot.app import StartupError, bot_team_id, build_app, open_database, provide_services
from bot.audit import AuditLog
from bot.authorization import Authorizer
from bot.background import BackgroundWork
from bot.inflight import InFlightResumes
from bot.poll_schedule import PollSchedule
from bot.resume import ResumeService
from bot.services import Services
from bot.settings import Settings
from bot.truedy import TruedyClient
from bot.watcher import PausedWatcher
from bot.workspaces import WorkspaceSettings

log = logging.getLogger("bot.worker")

# Heroku sends SIGKILL 30 s after SIGTERM.
SHUTDOWN_GRACE_SECONDS = 25
# Checks and quick answers: enough to keep them flowing while every resume thread waits on Truedy, few
# enough that they do not compete with acks for the interpreter (4 measured better than 8 in bench/burst.py).
ANSWER_THREADS = 4


def alert_channel(settings: Settings, bot_team: str, workspace: WorkspaceSettings) -> str | None:
    """Where a workspace's paused-campaign alerts go: its setup's choice, else ALERT_CHANNELS, else (for the
    bot token's own workspace) ALERT_CHANNEL; None: the workspace is not watched."""
    team_id = workspace.workspace.team_id
    fallback = settings.alert_channel if team_id == bot_team else None
    return workspace.alert_channel or settings.alert_channels.get(team_id) or fallback


def run(settings: Settings) -> int:
    app = build_app(settings)
    team_id = bot_team_id(app.client)
    engine, workspaces = open_database(settings, team_id)
    truedy = TruedyClient(
        settings.truedy_api_url,
        connect_timeout=settings.truedy_connect_timeout,
        read_timeout=settings.truedy_read_timeout,
        max_connections=settings.resume_concurrency,
    )
    ack_first = AckFirst()
    audit, in_flight, schedule, alerts = (
        AuditLog(engine),
        InFlightResumes(engine),
        PollSchedule(engine),
        AlertRecords(engine),
    )
    services = Services(
        resumes=ResumeService(truedy, workspaces, Authorizer(), in_flight, audit, schedule),
        workspaces=workspaces,
        audit=audit,
        alerts=alerts,
        answers=BackgroundWork("answer", ANSWER_THREADS, ack_first.wait_until_acked),
        resume_calls=BackgroundWork("resume", settings.resume_concurrency, ack_first.wait_until_acked),
        truedy=truedy,
    )
    provide_services(app, services)
    handler = AckFirstSocketModeHandler(app, settings.slack_app_token.get_secret_value(), ack_first)
    watcher = PausedWatcher(
        workspaces=workspaces,
        alerts=alerts,
        schedule=schedule,
        in_flight=in_flight,
        truedy_client=truedy,
        slack=app.client,
        interval=timedelta(seconds=settings.paused_poll_seconds),
        channel_for=partial(alert_channel, settings, team_id),
        dashboard_url=settings.truedy_dashboard_url,
    )

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
        watcher.start()
        connected = sorted(w.workspace.team_id for w in workspaces.all() if w.api_key)
        log.info("worker started", extra={"fields": {"event": "started", "team": team_id, "workspaces": connected}})
        stop.wait()
        log.info("stopping: no new requests, finishing accepted ones", extra={"fields": {"event": "stopping"}})
    finally:
        handler.close()
        ack_first.close()
    watcher.stop(SHUTDOWN_GRACE_SECONDS / 2)
    deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
    # Answers first: an accepted request may still hand its resume over to the resume pool.
    unfinished = services.answers.drain(SHUTDOWN_GRACE_SECONDS)
    unfinished += services.resume_calls.drain(max(0.0, deadline - time.monotonic()))
    truedy.close()
    engine.dispose()
    log.info("worker stopped", extra={"fields": {"event": "stopped", "unfinished": unfinished}})
    if unfinished:
        # Stuck threads would keep the interpreter alive until Heroku's SIGKILL; leave now, logs flushed.
        logging.shutdown()
        os._exit(1)
    return 0
