"""`python -m bot web`: receives Truedy's webhooks and prompts the watcher to look again at once.

Truedy signs each delivery: `X-Truedy-Signature` is the hex HMAC-SHA256 of "{X-Truedy-Timestamp}.{raw body}"
with the webhook secret. Deliveries are at-least-once, so each is recorded and a repeat changes nothing.
"""

import hashlib
import hmac
import json
import logging
import re
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from bot import storage
from bot.settings import Settings
from bot.slack.app import StartupError
from bot.storage.poll_turns import PollSchedule

log = logging.getLogger("bot.webhook")

MAX_AGE_SECONDS = 5 * 60
MAX_FUTURE_SECONDS = 60
MAX_BODY_BYTES = 1024 * 1024
PROMPTING_EVENTS = ("batch.status.changed", "batch.completed")
# Truedy redelivers within minutes (and signatures older than 5 minutes are refused anyway): a day of
# delivery records is plenty to recognise repeats, and the table stays small.
DELIVERY_RETENTION = timedelta(days=1)
# A client that stops sending (or reading) is dropped after this long, so it cannot hold a thread.
SOCKET_TIMEOUT_SECONDS = 10


def signature_problem(
    secret: bytes, timestamp: str | None, signature: str | None, body: bytes, now: float
) -> str | None:
    """Why a delivery is not Truedy's, or None when it is."""
    if not timestamp or not signature:
        return "missing signature headers"
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        return "malformed timestamp"
    if not re.fullmatch(r"[0-9a-fA-F]{64}", signature.strip()):
        return "malformed signature"
    age = now - int(timestamp)
    if age > MAX_AGE_SECONDS:
        return "timestamp too old"
    if age < -MAX_FUTURE_SECONDS:
        return "timestamp in the future"
    expected = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature.strip().lower()):
        return "signature does not match"
    return None


def dedupe_key(delivery: dict[str, Any], body: bytes) -> str:
    """What identifies one event across its deliveries (Truedy's docs: event ids first, else the entity
    with its status and time, so that later changes of the same batch are not taken for repeats)."""
    data = delivery.get("data") if isinstance(delivery.get("data"), dict) else {}
    event = str(delivery.get("event"))[:60]
    for candidate in (delivery.get("id"), delivery.get("event_id"), data.get("id"), data.get("eventId")):
        if isinstance(candidate, str | int) and str(candidate):
            return f"{event}:{str(candidate)[:150]}"
    batch = data.get("batch_id") or data.get("batchId")
    if batch is not None:
        status = data.get("status") or delivery.get("status")
        return f"{event}:{str(batch)[:80]}:{str(status)[:30]}:{str(delivery.get('timestamp'))[:40]}"
    return f"{event}:sha256:{hashlib.sha256(body).hexdigest()}"


class WebhookReceiver:
    def __init__(self, secret: str, engine: Engine, schedule: PollSchedule):
        self._secret = secret.encode()
        self._engine = engine
        self._schedule = schedule

    def receive(self, headers: dict[str, str], body: bytes) -> tuple[HTTPStatus, str]:
        problem = signature_problem(
            self._secret,
            headers.get("x-truedy-timestamp"),
            headers.get("x-truedy-signature"),
            body,
            time.time(),
        )
        if problem is not None:
            log.warning("webhook refused", extra={"fields": {"event": "webhook_refused", "reason": problem}})
            return HTTPStatus.UNAUTHORIZED, problem
        try:
            delivery = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return HTTPStatus.BAD_REQUEST, "body is not JSON"
        if not isinstance(delivery, dict):
            return HTTPStatus.BAD_REQUEST, "body is not a JSON object"
        key = dedupe_key(delivery, body)
        now = datetime.now(UTC)
        deliveries = storage.webhook_deliveries
        # One transaction: a delivery is recorded only with its prompt, so a failure in between leaves
        # nothing recorded and Truedy's redelivery prompts again.
        with self._engine.begin() as connection:
            if not storage.insert_if_absent(connection, deliveries, {"dedupe_key": key, "received_at": now}):
                log.info("webhook repeated", extra={"fields": {"event": "webhook_duplicate", "key": key}})
                return HTTPStatus.NO_CONTENT, ""
            if delivery.get("event") in PROMPTING_EVENTS:
                self._schedule.prompt_all(connection)
            connection.execute(deliveries.delete().where(deliveries.c.received_at < now - DELIVERY_RETENTION))
        log.info(
            "webhook received",
            extra={"fields": {"event": "webhook_received", "truedy_event": str(delivery.get("event"))[:60]}},
        )
        return HTTPStatus.NO_CONTENT, ""

    def healthy(self) -> bool:
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True


def serve(settings: Settings) -> int:
    if settings.truedy_webhook_secret is None:
        raise StartupError("TRUEDY_WEBHOOK_SECRET: required by the web process (Truedy dashboard > Webhooks)")
    engine = storage.connect(settings.database_url)
    try:
        storage.migrate(engine)
    except storage.DatabaseError as error:
        raise StartupError(str(error)) from None
    receiver = WebhookReceiver(settings.truedy_webhook_secret.get_secret_value(), engine, PollSchedule(engine))
    server = ThreadingHTTPServer(("0.0.0.0", settings.port), _handler(receiver))
    server.daemon_threads = True

    def stop(*_: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("web started", extra={"fields": {"event": "web_started", "port": server.server_address[1]}})
    server.serve_forever()
    server.server_close()
    engine.dispose()
    log.info("web stopped", extra={"fields": {"event": "web_stopped"}})
    return 0


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = SOCKET_TIMEOUT_SECONDS

        def do_GET(self) -> None:
            if self.path != "/healthz":
                self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})
            elif receiver.healthy():
                self._answer(HTTPStatus.OK, {"ok": True})
            else:
                self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"ok": False, "database": "unreachable"})

        def do_POST(self) -> None:
            if self.path != "/truedy/webhook":
                self._answer(HTTPStatus.NOT_FOUND, {"error": "not found"})
                return
            length = self.headers.get("Content-Length", "")
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"at most {MAX_BODY_BYTES} bytes"})
                return
            body = self.rfile.read(int(length))
            headers = {name.lower(): value for name, value in self.headers.items()}
            try:
                status, problem = receiver.receive(headers, body)
            except SQLAlchemyError:
                status, problem = HTTPStatus.SERVICE_UNAVAILABLE, "database unavailable; deliver again later"
            except Exception:
                # Whatever went wrong, the sender gets a status code rather than a dropped connection.
                log.exception("webhook failed", extra={"fields": {"event": "webhook_failed"}})
                status, problem = HTTPStatus.INTERNAL_SERVER_ERROR, "internal error; deliver again later"
            self._answer(status, {"error": problem} if problem else None)

        def _answer(self, status: HTTPStatus, payload: dict | None) -> None:
            content = json.dumps(payload).encode() if payload is not None else b""
            self.send_response(status)
            if content:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one JSON line per delivery comes from the receiver instead

    return Handler
