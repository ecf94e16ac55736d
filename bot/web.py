"""`python -m bot web`: the HTTP process on $PORT: gunicorn's processes (WEB_CONCURRENCY), each an event loop
(uvicorn) that holds connections, idle or slow, at the cost of a coroutine each; a request reaches a thread
only once it was read whole.

- `POST /slack/events` (HTTP mode, when SLACK_SIGNING_SECRET is set): Slack's commands, clicks and form
  submissions, dispatched to Bolt's App, each verified with the signing secret and answered exactly as over
  Socket Mode. Each process then also runs the watcher, the claim keeper and the resume pools.
- `GET /slack/install` and `GET /slack/oauth_redirect` (when SLACK_CLIENT_ID is set): Bolt's OAuth flow, by
  which workspaces install the app.
- `POST /truedy/webhook/<token>`: a workspace's Truedy webhooks (URL and secret from its setup); and
  `POST /truedy/webhook` when TRUEDY_WEBHOOK_SECRET is set.
- `GET /healthz` (and HEAD): 200 while the database answers, else 503.
- `GET /metrics` (with METRICS_TOKEN): Prometheus' text format, summed over the processes (bot.metrics), only
  with `Authorization: Bearer <METRICS_TOKEN>`.

Every request has a deadline (REQUEST_SECONDS, headers included), and no body larger than MAX_BODY_BYTES is
read: Content-Length says so at once, and a chunked body is cut there.
"""

import asyncio
import itertools
import json
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from http.client import HTTPException
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import AppImportError
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import FailureArgs
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn_worker import UvicornWorker

from bot import metrics, storage
from bot.background import pool_of_started_threads
from bot.runtime import SHUTDOWN_SECONDS, Runtime, build_runtime
from bot.settings import Settings
from bot.slack import install_pages
from bot.slack.ack_first import AckFirst, request_kind
from bot.slack.app import StartupError, bot_tokens, open_database, seed_keys
from bot.slack.tokens import OneToken, TokenIdentity
from bot.storage.keybox import KeyBox
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import Workspaces
from bot.webhook import MAX_BODY_BYTES, WebhookReceiver

log = logging.getLogger("bot.web")

# Requests handled at once per process, once read: acks are quick, the slow work runs in the pools.
THREADS = 16
# The most one request may take, from its first byte to its answer: a client that sends (or reads) slowly is
# dropped then, whatever it still holds.
REQUEST_SECONDS = 10
# At SIGTERM, requests already being answered get this long before the process's own shutdown starts.
GRACEFUL_SECONDS = 3
SLACK_PATHS = ("/slack/events", "/slack/install", "/slack/oauth_redirect")

Answer = tuple[int, list[tuple[bytes, bytes]], bytes]
# What is left of a body not read is never read: the connection ends with the answer.
# No page is shown inside another site's frame (the install page's button, with its state cookie set, least of all).
EVERY_ANSWER = ((b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"))
NOT_KEPT = (b"cache-control", b"no-store")
CLOSE = (b"connection", b"close")


def serve(settings: Settings) -> int:
    if not _free(settings.port):
        raise StartupError(f"PORT: {settings.port} is taken by another process: stop it, or set PORT to a free port")
    identity = _checked_before_forking(settings)
    master, folder = os.getpid(), None
    try:
        if settings.metrics_token is None:
            log.info("metrics off: METRICS_TOKEN is not set", extra={"fields": {"event": "metrics_off"}})
        else:
            metrics.enable()
            folder = metrics.shared_folder()  # before gunicorn forks: each process counts into it
        WebServer(settings, identity).run()
    except SystemExit as stopped:
        # gunicorn's processes, forked from here, leave through here too: only the master's exit is translated.
        if os.getpid() != master or stopped.code != Arbiter.APP_LOAD_ERROR:
            raise
        return 2  # a process could not start, and said why in one line (WebServer.load)
    finally:
        if folder is not None and os.getpid() == master:  # a process leaving through here keeps the folder
            metrics.remove_shared_folder(folder)
    return 0


def _checked_before_forking(settings: Settings) -> TokenIdentity | None:
    """Once, before gunicorn starts its processes, what each of them would otherwise find wrong by itself (a
    traceback each, then "Worker failed to boot"): the database (migrated here), the encryption key, the Truedy
    keys of the environment and, in HTTP mode, SLACK_BOT_TOKEN, asked of Slack here only, waiting while Slack is
    out of reach. Returns the token's identity, for the processes to take as it is."""
    database = open_database(settings)
    try:
        if settings.slack_signing_secret is None:
            return None  # no Bolt app: nothing asks Slack
        tokens = bot_tokens(settings, database)
        seed_keys(settings, database, tokens)
        return tokens.identity if isinstance(tokens, OneToken) else None
    finally:
        database.engine.dispose()


def _install_page(oauth: OAuthFlow, page: Callable[[BoltRequest], BoltResponse], request: BoltRequest) -> BoltResponse:
    """Bolt's install page, or its callback; when Slack cannot be reached (the code exchange), the failure page
    through Bolt's own failure hook, not an empty answer: Bolt's flow lets a network error through."""
    try:
        return page(request)
    except (OSError, HTTPException, json.JSONDecodeError) as error:  # JSON: an answer cut short on the way
        log.warning("install: Slack could not be reached", extra={"fields": {"event": "install_failed"}})
        failure = FailureArgs(
            request=request,
            reason="slack_unreachable",
            error=error,
            suggested_status_code=HTTPStatus.BAD_GATEWAY,
            settings=oauth.settings,
            default=oauth.default_callback_options,
        )
        return oauth.failure_handler(failure)


def _free(port: int) -> bool:
    """Whether gunicorn can listen on `port` (else it logs a traceback five times, then exits)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does: TIME_WAIT is no obstacle
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


class HeadersWithADeadline(H11Protocol):
    """uvicorn gives a request's headers no deadline: a client that sends them a byte at a time (or never)
    would keep its connection for good. It costs only a coroutine here, but a deadline bounds even that."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # uvicorn logs a request line whenever its access logger has a handler anywhere up the tree (the root's
        # counts): never, here. A path can carry a workspace's webhook token, a query an OAuth code and state.
        self.access_log = False
        self._headers_deadline = self.loop.call_later(REQUEST_SECONDS, self._drop_if_nothing_asked)

    def connection_lost(self, exc: Exception | None) -> None:
        self._headers_deadline.cancel()
        super().connection_lost(exc)

    def _drop_if_nothing_asked(self) -> None:
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()


class GunicornLogsAsJson(glogging.Logger):
    """gunicorn's own lines (and uvicorn's, which take gunicorn's handlers) go to the root logger: one JSON
    object per line, secrets redacted, like every other line (bot.log). Access lines go nowhere: a request line
    carries its path and query (webhook tokens, OAuth codes and states)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.error_log.handlers.clear()
        self.error_log.propagate = True
        _silence(self.access_log)


def _silence(logger: logging.Logger) -> None:
    logger.handlers.clear()
    logger.propagate = False
    logger.disabled = True


class BotWorker(UvicornWorker):
    # uvicorn's documented way to configure it under gunicorn. Access logs are off (and stay off: see
    # HeadersWithADeadline and _silence): paths carry webhook tokens, queries OAuth codes.
    CONFIG_KWARGS = {  # noqa: RUF012
        "loop": "asyncio",
        "http": HeadersWithADeadline,
        "lifespan": "on",
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        logging.getLogger("uvicorn.error").propagate = True  # set apart by UvicornWorker: back to the root's JSON
        _silence(logging.getLogger("uvicorn.access"))

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGQUIT:
            # gunicorn asks for a quick stop (Ctrl-C) with SIGQUIT, which uvicorn does not stop for: ask it as it
            # expects. Nothing is in flight that would make the shutdown slow.
            signal.raise_signal(signal.SIGTERM)


class WebServer(BaseApplication):
    """gunicorn, configured in code, so that `python -m bot web` stays the one command (Procfile `web:`)."""

    def __init__(self, settings: Settings, identity: TokenIdentity | None):
        self._settings = settings
        self._identity = identity
        super().__init__()

    def load_config(self) -> None:
        options: dict[str, Any] = {
            "bind": f"0.0.0.0:{self._settings.port}",
            "workers": self._settings.web_concurrency,
            "worker_class": f"{__name__}.BotWorker",
            # gunicorn's master kills a process this long after SIGTERM; ours end within SHUTDOWN_SECONDS.
            "graceful_timeout": SHUTDOWN_SECONDS + GRACEFUL_SECONDS + 3,
            "accesslog": None,
            "loglevel": "warning",
            "logger_class": f"{__name__}.GunicornLogsAsJson",
            # A process that ended keeps its counts in the sums; its share of live gauges goes.
            "child_exit": lambda _server, worker: metrics.process_ended(worker.pid),
        }
        for name, value in options.items():
            self.cfg.set(name, value)

    def load(self) -> "WebApp":
        """In each process: its own database pool, Bolt app, pools and watcher."""
        try:
            return self._load()
        except StartupError as error:
            # What serve checked, failing since (the database gone meanwhile): gunicorn prints this error's message
            # alone and stops (exit 4, see serve), where any other exception is a traceback.
            raise AppImportError(f"cannot start: {error}") from None

    def _load(self) -> "WebApp":
        settings, ack_first = self._settings, AckFirst()
        runtime = None
        if settings.slack_signing_secret:
            runtime = build_runtime(settings, ack_first.wait_until_acked, self._identity)
        if runtime is not None:
            engine, workspaces = runtime.engine, runtime.services.workspaces
        else:
            engine = storage.connect(settings.database_url, settings.database_pool_size)
            workspaces = Workspaces(engine, KeyBox(settings.bot_encryption_key.get_secret_value()))
        shared_secret = settings.truedy_webhook_secret
        webhooks = WebhookReceiver(
            engine, PollSchedule(engine), workspaces, shared_secret.get_secret_value() if shared_secret else None
        )
        token = settings.metrics_token.get_secret_value() if settings.metrics_token is not None else None
        operator = install_pages.Operator.of(settings)
        return WebApp(runtime, ack_first, webhooks, engine, settings.port, operator, token)


class _TooLarge(Exception):
    pass


class _ClientGone(Exception):
    pass


class WebApp:
    """The ASGI application: reads each request on the event loop (bounded in size and time), then answers
    it on a thread of its own pool (Bolt's App, the database and Truedy's webhooks are synchronous)."""

    def __init__(
        self,
        runtime: Runtime | None,
        ack_first: AckFirst,
        webhooks: WebhookReceiver,
        engine: Engine,
        port: int,
        operator: install_pages.Operator,
        metrics_token: str | None = None,
    ):
        self._runtime = runtime
        self._bolt: App | None = runtime.app if runtime is not None else None
        self._ack_first = ack_first
        self._webhooks = webhooks
        self._engine = engine
        self._port = port
        self._metrics_token = metrics_token
        self._operator = operator
        self._threads = pool_of_started_threads(THREADS, "request")
        self._requests = itertools.count()

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            async with asyncio.timeout(REQUEST_SECONDS):
                status, headers, body = await self._answer(scope, receive)
        except TimeoutError:
            status, headers, body = _json(HTTPStatus.REQUEST_TIMEOUT, {"error": "the request took too long"})
        except _TooLarge:
            status, headers, body = _json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"at most {MAX_BODY_BYTES} bytes"}
            )
        except _ClientGone:
            return
        headers = [*headers, (b"content-length", str(len(body)).encode()), *EVERY_ANSWER]
        if not any(name.lower() == b"cache-control" for name, _ in headers):
            headers.append(NOT_KEPT)  # the install page carries a fresh state (and sets its cookie): never cached
        if status in (HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.REQUEST_ENTITY_TOO_LARGE):
            headers.append(CLOSE)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})

    async def _answer(self, scope: dict, receive: Callable[[], Awaitable[dict]]) -> Answer:
        path, method = scope["path"], scope["method"]
        if self._bolt is not None and path in SLACK_PATHS:
            return await self._slack(scope, receive, path, method)
        if method == "POST" and (path == "/truedy/webhook" or path.startswith("/truedy/webhook/")):
            token = path.removeprefix("/truedy/webhook").removeprefix("/") or None
            body = await _read_body(scope, receive)
            return await self._in_thread(self._webhook, _headers(scope), body, token)
        if path == "/" and method in ("GET", "HEAD"):
            oauth = self._bolt.oauth_flow if self._bolt is not None else None
            page = install_pages.landing(oauth.install_path if oauth is not None else None, self._operator)
            return int(HTTPStatus.OK), [(b"content-type", b"text/html; charset=utf-8")], page.encode()
        if path == "/healthz" and method in ("GET", "HEAD"):
            if await self._in_thread(storage.database_answers, self._engine):
                return _json(HTTPStatus.OK, {"ok": True})
            return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"ok": False, "database": "unreachable"})
        if path == "/metrics" and method in ("GET", "HEAD"):
            return await self._metrics(scope)
        return _json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    async def _metrics(self, scope: dict) -> Answer:
        if self._metrics_token is None:
            return _json(HTTPStatus.NOT_FOUND, {"error": "metrics are off: METRICS_TOKEN is not set"})
        headers = _headers(scope)
        if not metrics.scrape_allowed(headers.get("authorization"), self._metrics_token):
            status, answer_headers, body = _json(
                HTTPStatus.UNAUTHORIZED, {"error": "Authorization: Bearer <METRICS_TOKEN> is required"}
            )
            return status, [*answer_headers, (b"www-authenticate", b"Bearer")], body
        body, content_type = await self._in_thread(metrics.exposition, self._engine, headers.get("accept"))
        return int(HTTPStatus.OK), [(b"content-type", content_type.encode())], body

    async def _slack(self, scope: dict, receive: Callable[[], Awaitable[dict]], path: str, method: str) -> Answer:
        assert self._bolt is not None
        query = scope.get("query_string", b"").decode("latin-1")
        oauth = self._bolt.oauth_flow
        if method == "POST" and path == "/slack/events":
            # Background jobs wait from the moment the request is here, not only once a thread dispatches it:
            # in a burst, the requests still being read on the event loop are acks to come too.
            request_id = str(next(self._requests))
            self._ack_first.arrived(request_id)
            answered = False
            try:
                body = (await _read_body(scope, receive)).decode("utf-8", "replace")
                request = BoltRequest(body=body, query=query, headers=_headers(scope))
                answer = _bolt_answer(await self._in_thread(self._bolt.dispatch, request))
                answered = answer[0] != HTTPStatus.UNAUTHORIZED  # not Slack's: a forged ack would hide a slow one
                return answer
            finally:
                arrived = self._ack_first.acked(request_id)
                if answered and arrived is not None:
                    metrics.acked(request_kind(request.body), time.monotonic() - arrived)
        if method == "GET" and oauth is not None and path in (oauth.install_path, oauth.redirect_uri_path):
            request = BoltRequest(body="", query=query, headers=_headers(scope))
            page = oauth.handle_installation if path == oauth.install_path else oauth.handle_callback
            return _bolt_answer(await self._in_thread(_install_page, oauth, page, request))
        return _json(HTTPStatus.NOT_FOUND, {"error": "not found"})

    def _webhook(self, headers: dict[str, str], body: bytes, token: str | None) -> Answer:
        try:
            status, problem = self._webhooks.receive(headers, body, token)
        except SQLAlchemyError:
            status, problem = HTTPStatus.SERVICE_UNAVAILABLE, "database unavailable; deliver again later"
        except Exception:
            # Whatever went wrong, the sender gets a status code rather than a dropped connection.
            log.exception("webhook failed", extra={"fields": {"event": "webhook_failed"}})
            status, problem = HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; deliver again later"
        return _json(status, {"error": problem} if problem else None)

    async def _in_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._threads, function, *args)

    async def _lifespan(self, receive: Callable[[], Awaitable[dict]], send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self._runtime is not None:
                    self._runtime.start()
                log.info("web started", extra={"fields": {"event": "web_started", "port": self._port}})
                if self._bolt is None and not self._webhooks.shared:
                    # Heroku starts a web dyno after the first push, whatever the mode: it must not crash-loop.
                    log.warning(
                        "Slack's requests are not served here (SLACK_SIGNING_SECRET is not set: the worker takes "
                        "them over Socket Mode) and the shared Truedy webhook is off (TRUEDY_WEBHOOK_SECRET is "
                        "not set); each workspace's own webhook works once its setup saves a signing secret",
                        extra={"fields": {"event": "webhooks_off"}},
                    )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # uvicorn stopped taking connections (SIGTERM, or Ctrl-C) and let the requests being answered
                # finish: the deadlines count from here, at most GRACEFUL_SECONDS after the signal.
                unanswered = await asyncio.get_running_loop().run_in_executor(None, self._finish, time.monotonic())
                log.info("web stopped", extra={"fields": {"event": "web_stopped", "unfinished": unanswered}})
                logging.shutdown()
                # Threads still waiting on Truedy (their requests already answered) must not keep it alive.
                os._exit(1 if unanswered else 0)

    def _finish(self, stopping: float) -> int:
        if self._runtime is None:
            return 0
        self._runtime.stop_taking_work()
        return self._runtime.finish(stopping)


async def _read_body(scope: dict, receive: Callable[[], Awaitable[dict]]) -> bytes:
    """The whole body, never more than MAX_BODY_BYTES of it (_TooLarge as soon as it is more)."""
    declared = _headers(scope).get("content-length")
    if declared is not None and (not declared.isascii() or not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        raise _TooLarge
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise _TooLarge
        if not message.get("more_body"):
            return bytes(body)


def _headers(scope: dict) -> dict[str, str]:
    return {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}


def _bolt_answer(response: BoltResponse) -> Answer:
    body = response.body.encode() if isinstance(response.body, str) else response.body
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, values in response.headers.items()
        for value in values
        if name.lower() != "content-length"  # set from the body as sent
    ]
    return response.status, headers, body


def _json(status: int, payload: dict | None) -> Answer:
    content = json.dumps(payload).encode() if payload is not None else b""
    headers = [(b"content-type", b"application/json")] if content else []
    return int(status), headers, content
