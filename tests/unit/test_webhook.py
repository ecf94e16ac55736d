import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
from sqlalchemy import select

from bot.storage import poll_schedule, webhook_deliveries
from bot.storage.poll_turns import PollSchedule
from bot.storage.workspace_settings import SetupChoices, WorkspaceId
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


def test_a_delivery_is_recorded_only_with_its_prompt(engine, workspaces):
    schedule = PromptFailsOnce(engine)
    receiver = WebhookReceiver(engine, schedule, workspaces, SECRET.decode())
    with pytest.raises(RuntimeError):
        receiver.receive(signed_headers(BODY), BODY)
    # Truedy delivers again: it is not taken for a repeat, and this time it prompts.
    assert receiver.receive(signed_headers(BODY), BODY) == (HTTPStatus.NO_CONTENT, "")
    assert schedule.prompts == 2
    with engine.connect() as connection:
        assert connection.execute(select(webhook_deliveries.c.dedupe_key)).scalars().all() == [
            dedupe_key(json.loads(BODY), BODY)
        ]


def test_old_deliveries_are_pruned(engine, workspaces):
    with engine.begin() as connection:
        connection.execute(
            webhook_deliveries.insert().values(dedupe_key="old", received_at=datetime.now(UTC) - timedelta(days=2))
        )
    WebhookReceiver(engine, PollSchedule(engine), workspaces, SECRET.decode()).receive(signed_headers(BODY), BODY)
    with engine.connect() as connection:
        keys = connection.execute(select(webhook_deliveries.c.dedupe_key)).scalars().all()
    assert "old" not in keys and len(keys) == 1


def signed_with(secret: str, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"x-truedy-timestamp": stamp, "x-truedy-signature": digest}


def test_each_workspace_has_its_own_webhook_url_and_secret(engine, workspaces):
    schedule = PollSchedule(engine)
    receiver = WebhookReceiver(engine, schedule, workspaces, shared_secret=None)
    first, second = WorkspaceId("", "T0HOOK001"), WorkspaceId("", "T0HOOK002")
    workspaces.save_setup(first, SetupChoices("truedy_k1", None, (), (), webhook_secret="whsec_first"), "U1")
    workspaces.save_setup(second, SetupChoices("truedy_k2", None, (), ()), "U1")
    one, two = workspaces.get(first), workspaces.get(second)
    assert one.webhook_token and two.webhook_token and one.webhook_token != two.webhook_token
    assert one.webhook_secret == "whsec_first" and two.webhook_secret is None

    with engine.begin() as connection:  # their first polls were taken: nothing is due
        connection.execute(poll_schedule.update().values(next_poll_at=datetime.now(UTC) + timedelta(hours=1)))
    assert receiver.receive(signed_with("whsec_first", BODY), BODY, one.webhook_token) == (HTTPStatus.NO_CONTENT, "")
    prompted = [workspace.team_id for workspace in schedule.take_due(timedelta(hours=1), 10)]
    assert prompted == ["T0HOOK001"]  # only the workspace whose URL it came to
    # Signed with another workspace's secret, or the shared URL without a shared secret: refused.
    assert receiver.receive(signed_with("whsec_first", BODY), BODY, two.webhook_token)[0] == HTTPStatus.UNAUTHORIZED
    assert receiver.receive(signed_with("whsec_other", BODY), BODY, one.webhook_token)[0] == HTTPStatus.UNAUTHORIZED
    assert receiver.receive(signed_with("whsec_first", BODY), BODY, "x" * 32)[0] == HTTPStatus.NOT_FOUND
    assert receiver.receive(signed_with("whsec_first", BODY), BODY, "../../etc")[0] == HTTPStatus.NOT_FOUND
    assert receiver.receive(signed_with("whsec_first", BODY), BODY)[0] == HTTPStatus.NOT_FOUND


def test_a_saved_webhook_secret_is_kept_when_setup_leaves_the_field_empty(workspaces):
    workspace = WorkspaceId("", "T0HOOK003")
    workspaces.save_setup(workspace, SetupChoices("truedy_k3", None, (), (), webhook_secret="whsec_kept"), "U1")
    token = workspaces.get(workspace).webhook_token
    workspaces.save_setup(workspace, SetupChoices(None, "C0NEW0001", (), ()), "U1")
    saved = workspaces.get(workspace)
    assert (saved.webhook_secret, saved.webhook_token) == ("whsec_kept", token)
