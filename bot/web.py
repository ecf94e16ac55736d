"""`python -m bot web`: the HTTP process on $PORT, served by gunicorn (threads; WEB_CONCURRENCY processes).

- `POST /slack/events` (HTTP mode, when SLACK_SIGNING_SECRET is set): Slack's commands, clicks and form
  submissions through Bolt's WSGI adapter, each verified with the signing secret and answered exactly as
  over Socket Mode. Each process then also runs the watcher, the claim keeper and the resume pools.
- `GET /slack/install` and `GET /slack/oauth_redirect` (when SLACK_CLIENT_ID is set): Bolt's OAuth flow, by
  which workspaces install the app.
- `POST /truedy/webhook/<token>`: a workspace's Truedy webhooks (URL and secret from its setup); and
  `POST /truedy/webhook` when TRUEDY_WEBHOOK_SECRET is set.
- `GET /healthz`: 200 while the database answers, else 503.
"""

import itertools
import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.workers.gthread import ThreadWorker
from slack_bolt.adapter.wsgi import SlackRequestHandler
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot import storage
from bot.runtime import SHUTDOWN_SECONDS, Runtime, build_runtime
from bot.settings import Settings
from bot.slack.ack_first import AckFirst
from bot.slack.app import StartupError
from bot.storage.keybox import KeyBox
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import Workspaces
from bot.webhook import MAX_BODY_BYTES, WebhookReceiver

log = logging.getLogger("bot.web")

THREADS = 16  # requests answered at once per process: acks are quick, the slow work runs in the pools
# A client that stops sending (or reading) is dropped after this long, so it cannot hold a thread.
SOCKET_TIMEOUT_SECONDS = 10

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]
# Bolt's adapter serves them all: requests (POST), and when workspaces install the app, the install page and
# the page Slack sends the browser back to (GET; 404 with SLACK_BOT_TOKEN).
SLACK_PATHS = ("/slack/events", "/slack/install", "/slack/oauth_redirect")


def serve(settings: Settings) -> int:
    if settings.slack_signing_secret is None and settings.truedy_webhook_secret is None:
        raise StartupError(
            "SLACK_SIGNING_SECRET or TRUEDY_WEBHOOK_SECRET: the web process serves Slack's requests with the "
            "first and Truedy's webhooks with the second; set at least one"
        )
    engine = storage.connect(settings.database_url)
    try:
        storage.migrate(engine)  # once, before the processes start, so that a problem is one line here
    except storage.DatabaseError as error:
        raise StartupError(str(error)) from None
    finally:
        engine.dispose()
    WebServer(settings).run()
    return 0


class _ReadsWithATimeout:
    """A client socket whose blocking reads and writes time out.

    gunicorn's threaded worker reads a request with plain blocking reads: a client that sends part of a
    request and stops would hold a thread for good. gunicorn has no setting for it, so its threads get
    this socket, whose "blocking" mode has a timeout."""

    def __init__(self, sock: socket.socket):
        self._sock = sock

    def setblocking(self, flag: bool) -> None:
        if flag:
            self._sock.settimeout(SOCKET_TIMEOUT_SECONDS)
        else:
            self._sock.setblocking(False)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BoundedReadsWorker(ThreadWorker):
    def handle(self, conn: Any) -> Any:
        if not isinstance(conn.sock, _ReadsWithATimeout):
            conn.sock = _ReadsWithATimeout(conn.sock)
            conn.sock.setblocking(True)
        return super().handle(conn)


class WebServer(BaseApplication):
    """gunicorn, configured in code, so that `python -m bot web` stays the one command (Procfile `web:`)."""

    def __init__(self, settings: Settings):
        self._settings = settings
        self._runtime: Runtime | None = None
        self._stopping: float | None = None  # when SIGTERM came (time.monotonic())
        self._finished = threading.Event()
        self._unanswered = 0
        self._ack_first = AckFirst()
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": f"0.0.0.0:{self._settings.port}",
            "worker_class": f"{__name__}.BoundedReadsWorker",
            "threads": THREADS,
            # gunicorn's master kills a process this long after SIGTERM; ours end within SHUTDOWN_SECONDS.
            "graceful_timeout": SHUTDOWN_SECONDS + 3,
            "accesslog": None,
            "loglevel": "warning",
            "post_worker_init": self._on_worker_started,
            "worker_exit": self._on_worker_exit,
        }
        for name, value in options.items():
            self.cfg.set(name, value)

    def load(self) -> WsgiApp:
        """In each process: its own database pool, Bolt app, pools and watcher."""
        settings = self._settings
        slack = None
        if settings.slack_signing_secret is not None:
            self._runtime = build_runtime(settings, self._ack_first.wait_until_acked)
            slack = SlackRequestHandler(self._runtime.app)
        if self._runtime is not None:
            engine, workspaces = self._runtime.engine, self._runtime.services.workspaces
        else:
            engine = storage.connect(settings.database_url)
            workspaces = Workspaces(engine, KeyBox(settings.bot_encryption_key.get_secret_value()))
        shared_secret = settings.truedy_webhook_secret
        webhooks = WebhookReceiver(
            engine, PollSchedule(engine), workspaces, shared_secret.get_secret_value() if shared_secret else None
        )
        return routes(slack, webhooks, engine, self._ack_first)

    def _on_worker_started(self, worker: Any) -> None:
        if self._runtime is not None:
            self._runtime.start()
        gunicorn_sigterm = signal.getsignal(signal.SIGTERM)

        def on_sigterm(signum: int, frame: Any) -> None:
            # Deadlines count from here. gunicorn stops taking connections and lets the ones in flight finish
            # (up to its graceful timeout); accepted resumes end on their own thread meanwhile.
            stopping = self._stopping = time.monotonic()
            threading.Thread(target=self._stop_by_the_deadline, args=(stopping,), name="shutdown", daemon=True).start()
            if callable(gunicorn_sigterm):
                gunicorn_sigterm(signum, frame)

        signal.signal(signal.SIGTERM, on_sigterm)
        log.info("web started", extra={"fields": {"event": "web_started", "port": self._settings.port}})

    def _stop_by_the_deadline(self, stopping: float) -> None:
        self._finish(stopping)
        # Whatever gunicorn still waits for (a client that is slow to send) must not outlast the deadline.
        time.sleep(max(0.0, stopping + SHUTDOWN_SECONDS - 1 - time.monotonic()))
        self._exit()

    def _finish(self, stopping: float) -> None:
        try:
            if self._runtime is not None:
                self._runtime.stop_taking_work()
                self._unanswered = self._runtime.finish(stopping)
        finally:
            self._finished.set()

    def _on_worker_exit(self, server: Any, worker: Any) -> None:
        if self._stopping is None:
            self._finish(time.monotonic())  # stopped without SIGTERM (Ctrl-C): nothing else will end the work
        self._finished.wait(SHUTDOWN_SECONDS)
        self._exit()

    def _exit(self) -> None:
        log.info("web stopped", extra={"fields": {"event": "web_stopped", "unfinished": self._unanswered}})
        logging.shutdown()
        # Threads still waiting on Truedy (their requests already answered) must not keep the process alive.
        os._exit(1 if self._unanswered else 0)


def routes(
    slack: SlackRequestHandler | None, webhooks: WebhookReceiver, engine: Engine, ack_first: AckFirst
) -> WsgiApp:
    requests = itertools.count()

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if slack is not None and path in SLACK_PATHS:
            # Background jobs wait while requests are being answered (Bolt answers once the listener acks).
            request_id = str(next(requests))
            ack_first.arrived(request_id)
            try:
                return slack(environ, start_response)
            finally:
                ack_first.acked(request_id)
        if method == "POST" and (path == "/truedy/webhook" or path.startswith("/truedy/webhook/")):
            token = path.removeprefix("/truedy/webhook").removeprefix("/") or None
            return _webhook(webhooks, token, environ, start_response)
        if path == "/healthz" and method == "GET":
            if _database_answers(engine):
                return _answer(start_response, HTTPStatus.OK, {"ok": True})
            return _answer(start_response, HTTPStatus.SERVICE_UNAVAILABLE, {"ok": False, "database": "unreachable"})
        return _answer(start_response, HTTPStatus.NOT_FOUND, {"error": "not found"})

    return app


def _database_answers(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except SQLAlchemyError:
        return False
    return True


def _webhook(receiver: WebhookReceiver, token: str | None, environ: dict, start_response: Callable) -> Iterable[bytes]:
    length = environ.get("CONTENT_LENGTH") or ""
    if not length.isascii() or not length.isdigit() or int(length) > MAX_BODY_BYTES:
        too_large = {"error": f"at most {MAX_BODY_BYTES} bytes"}
        return _answer(start_response, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large)
    body = environ["wsgi.input"].read(int(length))
    headers = {
        name.removeprefix("HTTP_").replace("_", "-").lower(): value
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }
    try:
        status, problem = receiver.receive(headers, body, token)
    except SQLAlchemyError:
        status, problem = HTTPStatus.SERVICE_UNAVAILABLE, "database unavailable; deliver again later"
    except Exception:
        # Whatever went wrong, the sender gets a status code rather than a dropped connection.
        log.exception("webhook failed", extra={"fields": {"event": "webhook_failed"}})
        status, problem = HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; deliver again later"
    return _answer(start_response, status, {"error": problem} if problem else None)


def _answer(start_response: Callable, status: HTTPStatus, payload: dict | None) -> Iterable[bytes]:
    content = json.dumps(payload).encode() if payload is not None else b""
    headers = [("Content-Length", str(len(content)))]
    if content:
        headers.append(("Content-Type", "application/json"))
    start_response(f"{status.value} {status.phrase}", headers)
    return [content]
