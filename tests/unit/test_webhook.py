import hashlib
import hmac

import pytest

from bot.webhook import dedupe_key, signature_problem

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
