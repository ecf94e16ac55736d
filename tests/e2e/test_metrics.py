"""/metrics as a scraper sees it: on the web process, summed over its gunicorn processes; on the worker's
METRICS_PORT, with /healthz beside it. Every family an operations team alerts on, behind a bearer token."""

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import KEY_BOT_TEAM, free_port, start_stack, stop_stack
from tests.e2e.test_http_mode import command_body, send, start_web, stop_web
from tests.e2e.test_schedules import make_due, scheduled_message
from tests.fakes.loop import wait_until
from tests.fakes.truedy import campaign

TOKEN = "metrics-token-0123456789abcdef"
FAMILIES = {
    "truedy_bot_resumes": "counter",
    "truedy_bot_truedy_request_duration_seconds": "histogram",
    "truedy_bot_truedy_rate_limited": "counter",
    "truedy_bot_truedy_rate_limit_wait_seconds": "histogram",
    "truedy_bot_ack_duration_seconds": "histogram",
    "truedy_bot_polls": "counter",
    "truedy_bot_pauses_found": "counter",
    "truedy_bot_alerts_posted": "counter",
    "truedy_bot_workspaces": "gauge",
    "truedy_bot_schedules_due": "gauge",
    "truedy_bot_resume_all_jobs_running": "gauge",
}


def get(url: str, token: str | None = TOKEN) -> tuple[int, str, dict[str, str]]:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def families(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def scrape_until(base: str, seen: Callable[[str], bool], what: str, timeout: float = 10) -> str:
    def scraped() -> str | None:
        body = get(f"{base}/metrics")[1]
        return body if seen(body) else None

    return wait_until(scraped, timeout, what)


def resumes(text: str, via: str, outcome: str = "resumed", reason: str = "") -> float:
    key = ("truedy_bot_resumes_total", (("outcome", outcome), ("reason", reason), ("via", via)))
    return samples(text).get(key, 0.0)


@pytest.fixture(scope="module")
def web(loop, tmp_path_factory):
    stack, url = start_web(
        loop,
        tmp_path_factory.mktemp("metrics"),
        WEB_CONCURRENCY="2",
        METRICS_TOKEN=TOKEN,
        PAUSED_POLL_SECONDS="1",
        ALERT_CHANNEL="C0METRICA",
    )
    wait_until(lambda: len(stack.worker.logged("web_started")) == 2, 20, "both web processes")
    yield stack, url, url.removesuffix("/slack/events")
    stop_web(stack)


def test_metrics_need_the_token(web):
    _, _, base = web
    for token in (None, "guessed", TOKEN + "x", ""):
        status, body, headers = get(f"{base}/metrics", token)
        assert status == 401 and headers["www-authenticate"] == "Bearer", (token, status)
        assert "truedy_bot" not in body


def test_every_family_is_there_from_the_first_scrape(web):
    _, _, base = web
    status, body, headers = get(f"{base}/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    assert FAMILIES.items() <= families(body).items()
    assert "T0" not in body and "batch_" not in body  # no workspace or campaign id is ever a label


def test_a_command_a_click_a_schedule_and_a_step_are_each_counted_once_over_both_processes(web):
    stack, url, base = web
    web_processes = subprocess.run(["pgrep", "-P", str(stack.worker.pid)], capture_output=True, text=True).stdout
    assert len(web_processes.split()) == 2
    ids = [f"batch_metric{n:03d}" for n in range(4)]
    for campaign_id in ids:
        stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))

    send(url, command_body(stack.slack.slash_command(ids[0], channel_id="C0METRIC1")))
    ts = stack.post_alert(ids[1], "C0METRIC2")
    send(url, urllib.parse.urlencode({"payload": json.dumps(stack.slack.click("C0METRIC2", ts))}).encode())
    send(url, command_body(stack.slack.slash_command(f"{ids[2]} in 2h", channel_id="C0METRIC3")))
    scheduled_message(stack, "C0METRIC3", ids[2])
    make_due(stack, ids[2], timedelta(seconds=1))
    run, event = stack.slack.step_event("resume_campaign", {"campaign": ids[3]}, run_by="U0ALICE01")
    send(url, json.dumps(event).encode(), content_type="application/json")
    stack.slack.step_ending(run)
    wait_until(lambda: all(stack.truedy.status_of(KEY_BOT_TEAM, i) == "running" for i in ids), 15, "every resume")

    expected = {"command": 1, "button": 1, "schedule": 1, "workflow": 1}
    # Each scrape is answered by either process: every one sees what both counted, and counted once.
    for _ in range(8):
        body = scrape_until(base, lambda b: all(resumes(b, v) == n for v, n in expected.items()), "each counted once")
        counted = samples(body)
        assert (
            counted[
                ("truedy_bot_truedy_request_duration_seconds_count", (("endpoint", "resume"), ("status_class", "2xx")))
            ]
            == 4
        )
        acks = {
            labels: value
            for (name, labels), value in counted.items()
            if name == "truedy_bot_ack_duration_seconds_count"
        }
        assert (
            acks[(("kind", "command"),)] >= 2 and acks[(("kind", "action"),)] >= 1 and acks[(("kind", "event"),)] >= 1
        )


def test_polls_pauses_and_alerts_are_counted(web):
    stack, _, base = web
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_metricpause", status="paused"))
    alerted = ("truedy_bot_alerts_posted_total", ())
    body = scrape_until(base, lambda b: samples(b).get(alerted, 0) >= 1, "the pause alerted", 15)
    counted = samples(body)
    assert counted[("truedy_bot_polls_total", (("outcome", "ok"),))] >= 1
    assert counted[("truedy_bot_pauses_found_total", ())] >= 1
    assert counted[("truedy_bot_workspaces", (("truedy", "connected"),))] == 1


@pytest.fixture
def worker(loop, tmp_path):
    port = free_port()
    stack = start_stack(loop, tmp_path, METRICS_PORT=str(port), METRICS_TOKEN=TOKEN)
    yield stack, f"http://127.0.0.1:{port}"
    stop_stack(stack)


def test_the_workers_healthz_follows_its_socket_mode_connection(worker):
    stack, base = worker
    wait_until(lambda: get(f"{base}/healthz", None)[0] == 200, 10, "healthy")
    assert get(f"{base}/healthz", None)[1] == '{"ok": true}'
    connected = ("truedy_bot_socket_mode_connected", ())
    assert samples(get(f"{base}/metrics")[1])[connected] == 1

    stack.slack.socket_refusals = 10_000  # Slack takes no new connection for now
    stack.slack.drop_all()
    wait_until(lambda: get(f"{base}/healthz", None)[0] == 503, 10, "unhealthy within 10 s of the drop")
    assert get(f"{base}/healthz", None)[1] == '{"ok": false}'
    assert samples(get(f"{base}/metrics")[1])[connected] == 0

    stack.slack.socket_refusals = 0
    wait_until(lambda: get(f"{base}/healthz", None)[0] == 200, 30, "healthy again once reconnected")


def test_the_workers_metrics_need_the_token_and_count_its_resumes(worker):
    stack, base = worker
    assert get(f"{base}/metrics", None)[0] == 401
    assert get(f"{base}/metrics", "guessed")[0] == 401
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_metricw01"))
    stack.command("batch_metricw01", channel_id="C0METRICW")
    stack.result_in_thread("C0METRICW", "batch_metricw01")
    body = get(f"{base}/metrics")[1]
    assert resumes(body, "command") == 1
    assert {**FAMILIES, "truedy_bot_socket_mode_connected": "gauge"}.items() <= families(body).items()
