import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from sqlalchemy import select

from bot.storage import webhook_deliveries
from bot.storage.poll_turns import PollSchedule
from bot.webhook import WebhookReceiver, dedupe_key, signature_problem

SECRET = b"whsec_test_secret"
BODY = b'{"event": "batch.status.changed", "data": {"batch_id": "b1"}}'
NOW = 1_800_000_000


def sign(timestamp: str, body: bytes = BODY, secret: bytes = SECRET) -> str:
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def test_a_fresh_correct_signature_is_accepted():
    assert signature_problem(SECRET, str(NOW - 10), sign(str(NOW - 10)), BODY, NOW) is None
    assert signature_problem(SECRET, str(NOW), sign(str(NOW)).upper(), BODY, NOW) is None


@pytest.mark.parametrize(
    "timestamp, signature, body, problem",
    [
        (None, "x", BODY, "missing signature headers"),
        (str(NOW), None, BODY, "missing signature headers"),
        ("2026-11-28T12:00:00Z", "x", BODY, "malformed timestamp"),
        (str(NOW - 301), sign(str(NOW - 301)), BODY, "timestamp too old"),
        (str(NOW + 120), sign(str(NOW + 120)), BODY, "timestamp in the future"),
        (str(NOW), sign(str(NOW), secret=b"another"), BODY, "signature does not match"),
        (str(NOW), sign(str(NOW)), BODY + b" ", "signature does not match"),
        (str(NOW), sign(str(NOW - 1)), BODY, "signature does not match"),
    ],
)
def test_anything_else_is_refused(timestamp, signature, body, problem):
    assert signature_problem(SECRET, timestamp, signature, body, NOW) == problem


def test_dedupe_prefers_event_ids_then_the_batch_with_its_status_and_time():
    assert dedupe_key({"event": "batch.completed", "id": "evt_1", "data": {"id": "x"}}, BODY) == "batch.completed:evt_1"
    assert dedupe_key({"event": "e", "data": {"eventId": "uv_2"}}, BODY) == "e:uv_2"
    changed = {"event": "batch.status.changed", "timestamp": "t1", "data": {"batchId": "b1", "status": "PAUSED"}}
    assert dedupe_key(changed, BODY) == "batch.status.changed:b1:PAUSED:t1"
    later = {**changed, "data": {"batchId": "b1", "status": "RUNNING"}}
    assert dedupe_key(later, BODY) != dedupe_key(changed, BODY)
    assert dedupe_key({"event": "x"}, BODY).startswith("x:sha256:")


@pytest.mark.parametrize(
    "timestamp, signature, problem",
    [
        ("²", sign(str(NOW)), "malformed timestamp"),  # a digit to str.isdigit(), not to int()
        ("١٨٠٠٠٠٠٠٠٠", sign(str(NOW)), "malformed timestamp"),  # Arabic-Indic digits
        (str(NOW), "é" * 64, "malformed signature"),  # compare_digest refuses non-ASCII str
        (str(NOW), sign(str(NOW))[:-1], "malformed signature"),
    ],
)
def test_garbage_headers_are_refused_not_raised(timestamp, signature, problem):
    assert signature_problem(SECRET, timestamp, signature, BODY, NOW) == problem


class PromptFailsOnce(PollSchedule):
    def __init__(self, engine):
        super().__init__(engine)
        self.prompts = 0

    def prompt_all(self, connection) -> None:
        self.prompts += 1
        if self.prompts == 1:
            raise RuntimeError("the process died between recording the delivery and prompting")
        super().prompt_all(connection)


def signed_headers(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"x-truedy-timestamp": stamp, "x-truedy-signature": sign(stamp, body)}


def test_a_delivery_is_recorded_only_with_its_prompt(engine):
    schedule = PromptFailsOnce(engine)
    receiver = WebhookReceiver(SECRET.decode(), engine, schedule)
    with pytest.raises(RuntimeError):
        receiver.receive(signed_headers(BODY), BODY)
    # Truedy delivers again: it is not taken for a repeat, and this time it prompts.
    assert receiver.receive(signed_headers(BODY), BODY) == (HTTPStatus.NO_CONTENT, "")
    assert schedule.prompts == 2
    with engine.connect() as connection:
        assert connection.execute(select(webhook_deliveries.c.dedupe_key)).scalars().all() == [
            dedupe_key(json.loads(BODY), BODY)
        ]


def test_old_deliveries_are_pruned(engine):
    with engine.begin() as connection:
        connection.execute(
            webhook_deliveries.insert().values(dedupe_key="old", received_at=datetime.now(UTC) - timedelta(days=2))
        )
    WebhookReceiver(SECRET.decode(), engine, PollSchedule(engine)).receive(signed_headers(BODY), BODY)
    with engine.connect() as connection:
        keys = connection.execute(select(webhook_deliveries.c.dedupe_key)).scalars().all()
    assert "old" not in keys and len(keys) == 1
