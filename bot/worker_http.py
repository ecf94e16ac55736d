"""The worker's own small HTTP server on METRICS_PORT (opt-in): `/healthz` for a platform that restarts a stuck
worker (Kubernetes, Render, Fly), and `/metrics` for a scraper.

- `GET /healthz`: 200 while Socket Mode is connected and the database answers, else 503; no token, and nothing
  said beyond ok or not.
- `GET /metrics`: Prometheus' text format, only with `Authorization: Bearer <METRICS_TOKEN>` (else 401); 404
  without METRICS_TOKEN.

The standard library's WSGI server, on threads of its own: a scrape or a probe never waits on Slack's requests,
and it takes nothing more than the http.server that prometheus_client's own start_http_server uses (which has
no way to ask for a token, nor to add a route). No request line is ever logged: paths and headers stay here.
"""

import json
import logging
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sqlalchemy import Engine

from bot import metrics
from bot.storage import database_answers

log = logging.getLogger("bot.worker_http")

Start = Callable[[str, list[tuple[str, str]]], Any]


class _Threads(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Silent(WSGIRequestHandler):
    # A client that sends (or reads) nothing for this long is dropped: an idle connection holds a thread.
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:  # a request line carries its path: never written
        pass


class WorkerHttp:
    """Bound when made (a taken port stops the start before anything else is tried); answers once started."""

    def __init__(self, port: int, token: str | None):
        self._token = token
        self._engine: Engine | None = None
        self._connected: Callable[[], bool] = lambda: False
        self._server = make_server("0.0.0.0", port, self._answer, server_class=_Threads, handler_class=_Silent)

    def start(self, engine: Engine, connected: Callable[[], bool]) -> None:
        self._engine, self._connected = engine, connected
        threading.Thread(target=self._server.serve_forever, name="worker-http", daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, environ: dict[str, Any], start: Start) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if method not in ("GET", "HEAD"):
            return _json(start, "405 Method Not Allowed", {"error": "GET only"}, method)
        assert self._engine is not None  # served only once started
        if path == "/healthz":
            healthy = self._connected() and database_answers(self._engine)
            return _json(start, "200 OK" if healthy else "503 Service Unavailable", {"ok": healthy}, method)
        if path == "/metrics":
            return self._metrics(environ, start, method)
        return _json(start, "404 Not Found", {"error": "not found"}, method)

    def _metrics(self, environ: dict[str, Any], start: Start, method: str) -> Iterable[bytes]:
        if self._token is None:
            return _json(start, "404 Not Found", {"error": "metrics are off: METRICS_TOKEN is not set"}, method)
        if not metrics.scrape_allowed(environ.get("HTTP_AUTHORIZATION"), self._token):
            start("401 Unauthorized", [("Content-Type", "application/json"), ("WWW-Authenticate", "Bearer")])
            return [b"" if method == "HEAD" else b'{"error": "Authorization: Bearer <METRICS_TOKEN> is required"}']
        body, content_type = metrics.exposition(self._engine, environ.get("HTTP_ACCEPT"), self._connected)
        start("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [b"" if method == "HEAD" else body]


def _json(start: Start, status: str, payload: dict, method: str) -> Iterable[bytes]:
    body = json.dumps(payload).encode()
    start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [b"" if method == "HEAD" else body]
