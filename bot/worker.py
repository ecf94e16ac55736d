"""The Socket Mode worker: serve until SIGTERM, then finish what was accepted and exit."""

import logging
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from functools import partial

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.authorization import Authorizer
from bot.background import BackgroundWork
from bot.resume import ResumeService
from bot.resume_flow import ResumeFlows
from bot.services import Services
from bot.settings import Settings
from bot.slack.ack_first import AckFirst, AckFirstSocketModeHandler
from bot.slack.app import StartupError, bot_team_id, build_app, configure_slack_client, open_database, provide_services
from bot.storage.alert_channels import AlertChannelProblems
from bot.storage.alert_records import AlertRecords
from bot.storage.audit import AuditLog
from bot.storage.inflight import InFlightResumes
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import WorkspaceSettings
from bot.truedy import TruedyClient
from bot.watcher import PausedWatcher

log = logging.getLogger("bot.worker")

# Every deadline counts from SIGTERM; Heroku sends SIGKILL 30 s after it.
# Until then: requests queued before SIGTERM may still start their resume…
STOP_STARTING_SECONDS = 5
# …resumes still waiting for Truedy are told their outcome is unknown…
INTERRUPT_SECONDS = 15
# …and everything has ended (the last answers sent) or the worker leaves anyway.
SHUTDOWN_SECONDS = 25
# Received requests are acked (and answered) before the Socket Mode connection closes.
ACK_DRAIN_SECONDS = 2
# Checks and quick answers: enough to keep them flowing while every resume thread waits on Truedy, few
# enough that they do not compete with acks for the interpreter (4 measured better than 8 in bench/burst.py).
ANSWER_THREADS = 4
# Setup submissions are rare; a Truedy that hangs holds a thread each for at most its timeouts.
SETUP_CHECK_THREADS = 4


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
    resumes = ResumeService(truedy, workspaces, Authorizer(), in_flight, audit, schedule)
    services = Services(
        resumes=resumes,
        workspaces=workspaces,
        audit=audit,
        alerts=alerts,
        answers=BackgroundWork("answer", ANSWER_THREADS, ack_first.wait_until_acked),
        flows=ResumeFlows(resumes, settings.resume_concurrency, ack_first.wait_until_acked),
        truedy=truedy,
        setup_checks=ThreadPoolExecutor(SETUP_CHECK_THREADS, thread_name_prefix="setup-check"),
        channel_problems=AlertChannelProblems(engine),
    )
    provide_services(app, services)
    handler = AckFirstSocketModeHandler(app, settings.slack_app_token.get_secret_value(), ack_first)
    watcher = PausedWatcher(
        workspaces=workspaces,
        alerts=alerts,
        schedule=schedule,
        in_flight=in_flight,
        channel_problems=services.channel_problems,
        truedy_client=truedy,
        # Its own client: a `ratelimited` answer ends the poll's posting (the next poll goes on) instead
        # of sleeping in a polling thread.
        slack=configure_slack_client(
            WebClient(token=settings.slack_bot_token.get_secret_value()), settings, wait_out_rate_limits=False
        ),
        interval=timedelta(seconds=settings.paused_poll_seconds),
        channel_for=partial(alert_channel, settings, team_id),
        dashboard_url=settings.truedy_dashboard_url,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # Runs until the process ends: claims of resumes still in flight during shutdown stay alive too.
    keeper = threading.Thread(target=in_flight.keep_alive, args=(threading.Event(),), name="lock-keeper", daemon=True)
    try:
        try:
            handler.connect()
        except SlackApiError as error:
            raise StartupError(
                f"SLACK_APP_TOKEN: Slack refused to open a Socket Mode connection ({error.response.get('error')})"
            ) from None
        keeper.start()
        watcher.start()
        connected = sorted(w.workspace.team_id for w in workspaces.all() if w.api_key)
        log.info("worker started", extra={"fields": {"event": "started", "team": team_id, "workspaces": connected}})
        stop.wait()
    finally:
        stopping = time.monotonic()
        log.info("stopping: no new requests, finishing accepted ones", extra={"fields": {"event": "stopping"}})
        # New requests are told the bot is restarting (in their ack); those already received get their ack
        # and answer before the connection closes.
        services.answers.stop_accepting()
        watcher.stop()
        ack_first.wait_until_all_acked(ACK_DRAIN_SECONDS)
        handler.close()
        ack_first.close()
    services.answers.drain(max(0.0, stopping + STOP_STARTING_SECONDS - time.monotonic()))
    unanswered = services.flows.shut_down(
        stop_starting_at=stopping + STOP_STARTING_SECONDS,
        interrupt_at=stopping + INTERRUPT_SECONDS,
        deadline=stopping + SHUTDOWN_SECONDS - 1,
    )
    unanswered += services.answers.drain(max(0.0, stopping + SHUTDOWN_SECONDS - 1 - time.monotonic()))
    watcher.join(max(0.0, stopping + SHUTDOWN_SECONDS - 1 - time.monotonic()))
    log.info("worker stopped", extra={"fields": {"event": "stopped", "unfinished": unanswered}})
    logging.shutdown()
    # Threads still waiting on Truedy (their requests already answered as interrupted) would keep the
    # interpreter alive until their timeouts: leave now, logs flushed.
    os._exit(1 if unanswered else 0)
