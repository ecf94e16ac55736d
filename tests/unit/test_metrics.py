"""What bot.metrics counts, under which labels, and that the web process's processes are summed."""

import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics, storage
from bot.slack.ack_first import NEVER_ACKED_SECONDS, AckFirst, request_kind
from bot.truedy import KeyRejected, NoAnswer, RateLimited, TruedyClient, TruedyUnreachable

CAMPAIGN = "batch_metrics0001"


@pytest.fixture(autouse=True)
def counting(monkeypatch):
    monkeypatch.setattr(metrics, "_enabled", True)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_resumes_are_counted_by_how_they_were_asked_and_how_they_ended():
    before = {
        "resumed": value("truedy_bot_resumes_total", via="button", outcome="resumed", reason=""),
        "refused": value("truedy_bot_resumes_total", via="schedule", outcome="not_resumed", reason="key_rejected"),
        "unknown": value("truedy_bot_resumes_total", via="workflow", outcome="unknown", reason="no_answer"),
    }
    metrics.resume_attempted("button", "resumed", unknown=False)
    metrics.resume_attempted("schedule", "key_rejected", unknown=False)
    metrics.resume_attempted("workflow", "no_answer", unknown=True)
    assert value("truedy_bot_resumes_total", via="button", outcome="resumed", reason="") == before["resumed"] + 1
    assert (
        value("truedy_bot_resumes_total", via="schedule", outcome="not_resumed", reason="key_rejected")
        == before["refused"] + 1
    )
    assert (
        value("truedy_bot_resumes_total", via="workflow", outcome="unknown", reason="no_answer")
        == before["unknown"] + 1
    )


def test_nothing_is_counted_while_metrics_are_off(monkeypatch):
    monkeypatch.setattr(metrics, "_enabled", False)
    before = value("truedy_bot_resumes_total", via="command", outcome="resumed", reason="")
    metrics.resume_attempted("command", "resumed", unknown=False)
    assert value("truedy_bot_resumes_total", via="command", outcome="resumed", reason="") == before


def truedy(handler) -> TruedyClient:
    return TruedyClient("https://truedy.test/api", 1, 1, transport=httpx.MockTransport(handler))


def test_truedys_requests_are_timed_by_endpoint_and_status_class_and_its_429s_counted():
    def count(status_class: str) -> float:
        return value("truedy_bot_truedy_request_duration_seconds_count", endpoint="resume", status_class=status_class)

    before = {name: count(name) for name in ("2xx", "4xx", "none")}
    limited = value("truedy_bot_truedy_rate_limited_total", endpoint="resume")
    waits = value("truedy_bot_truedy_rate_limit_wait_seconds_sum")

    ok = truedy(lambda request: httpx.Response(200, json={"data": {"id": CAMPAIGN, "status": "active"}}))
    ok.resume("truedy_key1", CAMPAIGN)
    with pytest.raises(KeyRejected):
        truedy(lambda request: httpx.Response(401, json={"error": {"code": "unauthorized"}})).resume("k1", CAMPAIGN)
    with pytest.raises(RateLimited):
        truedy(lambda request: httpx.Response(429, headers={"Retry-After": "30"}, json={})).resume("k1", CAMPAIGN)

    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(TruedyUnreachable):
        truedy(refuse).resume("k1", CAMPAIGN)

    def hang(request):
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(NoAnswer):
        truedy(hang).resume("k1", CAMPAIGN)

    assert count("2xx") == before["2xx"] + 1
    assert count("4xx") == before["4xx"] + 2
    assert count("none") == before["none"] + 2
    assert value("truedy_bot_truedy_rate_limited_total", endpoint="resume") == limited + 1
    assert value("truedy_bot_truedy_rate_limit_wait_seconds_sum") == pytest.approx(waits + 30, abs=1)


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"command": "/resume-campaign", "text": "x"}, "command"),
        ({"type": "block_actions"}, "action"),
        ({"type": "view_submission"}, "view"),
        ({"type": "view_closed"}, "view"),
        ({"type": "block_suggestion"}, "options"),
        ({"type": "shortcut"}, "shortcut"),
        ({"type": "message_action"}, "shortcut"),
        ({"type": "event_callback", "event": {"type": "function_executed"}}, "event"),
        ({"type": "something new"}, "event"),
        ("not a payload", "event"),
    ],
)
def test_an_acks_kind_comes_from_slacks_payload_type(payload, kind):
    assert request_kind(payload) == kind


def test_an_ack_later_than_slacks_3_seconds_still_has_its_duration():
    ack_first = AckFirst()
    ack_first.arrived("E1")
    ack_first._waiting["E1"] -= 4  # arrived 4 s ago: no longer waited for, still timed
    ack_first._arrivals["E1"] -= 4
    assert ack_first.waiting() == 0
    assert time.monotonic() - ack_first.acked("E1") == pytest.approx(4, abs=0.5)


def test_arrivals_never_acked_are_forgotten_after_a_minute():
    ack_first = AckFirst()
    ack_first.arrived("E1")
    ack_first._arrivals["E1"] -= NEVER_ACKED_SECONDS + 1
    ack_first.arrived("E2")
    assert ack_first.acked("E1") is None and ack_first.acked("E2") is not None


@pytest.mark.parametrize(
    ("authorization", "allowed"),
    [
        ("Bearer s3cret-token-0123456789", True),
        ("bearer s3cret-token-0123456789", True),
        ("Bearer s3cret-token-012345678", False),
        ("Bearer s3cret-token-0123456789x", False),
        ("Basic s3cret-token-0123456789", False),
        ("s3cret-token-0123456789", False),
        ("", False),
        (None, False),
    ],
)
def test_a_scrape_needs_the_exact_bearer_token(authorization, allowed):
    assert metrics.scrape_allowed(authorization, "s3cret-token-0123456789") is allowed


COUNT_IN_A_PROCESS = """
import sys
from bot import metrics
metrics.count_into(sys.argv[2])  # as the web process's processes do, forked after shared_folder()
metrics.enable()
for _ in range(int(sys.argv[1])):
    metrics.resume_attempted("command", "resumed", unknown=False)
"""

SCRAPE = """
import sys
from bot import metrics, storage
metrics.count_into(sys.argv[2])
engine = storage.connect(sys.argv[1])
storage.migrate(engine)
metrics.enable()
body, _ = metrics.exposition(engine, None)
sys.stdout.write(body.decode())
"""


def test_the_web_processes_counts_are_summed_by_any_of_them(tmp_path):
    """As gunicorn's processes do: each counts into the shared folder; a scrape by a third reads them all."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    for times in (2, 3):
        subprocess.run([sys.executable, "-c", COUNT_IN_A_PROCESS, str(times), str(folder)], check=True, timeout=60)
    database = f"sqlite:///{tmp_path}/bot.sqlite3"
    scraped = subprocess.run(
        [sys.executable, "-c", SCRAPE, database, str(folder)], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    assert samples[("truedy_bot_resumes_total", (("outcome", "resumed"), ("reason", ""), ("via", "command")))] == 5
    assert samples[("truedy_bot_workspaces", (("truedy", "connected"),))] == 0
    assert samples[("truedy_bot_schedules_due", ())] == 0


def test_the_shared_folder_must_be_named_before_prometheus_client_is_imported():
    assert "prometheus_client" in sys.modules  # this test process imported it above
    with pytest.raises(RuntimeError, match="imported before"):
        metrics.shared_folder()


def test_a_database_that_does_not_answer_leaves_its_gauges_out_of_the_scrape(tmp_path):
    engine = storage.connect(f"sqlite:///{tmp_path}/bot.sqlite3")  # never migrated: no tables
    body, _ = metrics.exposition(engine, None)
    assert b"truedy_bot_resumes_total" in body and b"truedy_bot_schedules_due" not in body
