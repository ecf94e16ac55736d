"""Truedy's webhooks on the web process: each prompts the watcher to look again.

Each workspace has its own URL, `POST /truedy/webhook/<token>`, and signing secret (both from setup); with
SLACK_BOT_TOKEN, `POST /truedy/webhook` also takes deliveries signed with TRUEDY_WEBHOOK_SECRET, for every
workspace. Truedy signs each delivery: `X-Truedy-Signature` is the hex HMAC-SHA256 of
"{X-Truedy-Timestamp}.{raw body}" with the webhook secret. Deliveries are at-least-once, so each is recorded
and a repeat changes nothing.
"""

import hashlib
import hmac
import json
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any

from sqlalchemy import Engine

from bot import storage
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import Workspaces

log = logging.getLogger("bot.webhook")

MAX_AGE_SECONDS = 5 * 60
MAX_FUTURE_SECONDS = 60
MAX_BODY_BYTES = 1024 * 1024
PROMPTING_EVENTS = ("batch.status.changed", "batch.completed")
# Truedy redelivers within minutes (and signatures older than 5 minutes are refused anyway): a day of
# delivery records is plenty to recognise repeats, and the table stays small.
DELIVERY_RETENTION = timedelta(days=1)


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


WEBHOOK_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")


class WebhookReceiver:
    def __init__(self, engine: Engine, schedule: PollSchedule, workspaces: Workspaces, shared_secret: str | None):
        self._engine = engine
        self._schedule = schedule
        self._workspaces = workspaces
        self._shared_secret = shared_secret

    @property
    def shared(self) -> bool:
        """Whether the shared URL, /truedy/webhook, takes deliveries."""
        return self._shared_secret is not None

    def receive(self, headers: dict[str, str], body: bytes, token: str | None = None) -> tuple[HTTPStatus, str]:
        """A delivery on the shared URL (`token` None) or on a workspace's own."""
        workspace = None
        if token is None:
            if self._shared_secret is None:
                return HTTPStatus.NOT_FOUND, "not found"
            secret = self._shared_secret
        else:
            settings = self._workspaces.by_webhook_token(token) if WEBHOOK_TOKEN.fullmatch(token) else None
            if settings is None:
                return HTTPStatus.NOT_FOUND, "no workspace has this webhook URL"
            if settings.webhook_secret is None:
                return HTTPStatus.UNAUTHORIZED, "no signing secret saved for this webhook (/resume-campaign setup)"
            secret, workspace = settings.webhook_secret, settings.workspace
        problem = signature_problem(
            secret.encode(),
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
        if workspace is not None:
            key = f"{workspace.team_id}:{key}"  # each workspace's account numbers its own events
        now = datetime.now(UTC)
        deliveries = storage.webhook_deliveries
        # One transaction: a delivery is recorded only with its prompt, so a failure in between leaves
        # nothing recorded and Truedy's redelivery prompts again.
        with self._engine.begin() as connection:
            if not storage.insert_if_absent(connection, deliveries, {"dedupe_key": key, "received_at": now}):
                log.info("webhook repeated", extra={"fields": {"event": "webhook_duplicate", "key": key}})
                return HTTPStatus.NO_CONTENT, ""
            if delivery.get("event") in PROMPTING_EVENTS:
                if workspace is None:
                    self._schedule.prompt_all(connection)
                else:
                    self._schedule.prompt(connection, workspace)
            connection.execute(deliveries.delete().where(deliveries.c.received_at < now - DELIVERY_RETENTION))
        log.info(
            "webhook received",
            extra={"fields": {"event": "webhook_received", "truedy_event": str(delivery.get("event"))[:60]}},
        )
        return HTTPStatus.NO_CONTENT, ""
