"""Review of the metrics and health work: each test shows a defect (they fail until it is fixed)."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot import metrics, storage
from bot.storage.schedules import ScheduledResumes
from bot.truedy import NoAnswer, TruedyClient
from bot.worker_http import WorkerHttp
from tests.fakes.loop import wait_until
from tests.unit.test_scheduler import Scheduler
from tests.unit.test_schedules import leases_run_out

CAMPAIGN = "batch_review0001"
OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.fixture(autouse=True)
def counting(monkeypatch):
    monkeypatch.setattr(metrics, "_enabled", True)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


class _BodyNeverComes(httpx.SyncByteStream):
    def __iter__(self):
        raise httpx.ReadTimeout("the body never came")
        yield b""  # pragma: no cover


def test_a_read_timeout_after_the_headers_is_timed_as_no_answer():
    """docs/operations.md and bot.metrics: status_class `none` is "no answer, or no connection". Truedy sent its
    headers (200) then never the body: the bot raises NoAnswer, yet the request is timed as a 2xx answer."""

    def count(status_class: str) -> float:
        return value("truedy_bot_truedy_request_duration_seconds_count", endpoint="resume", status_class=status_class)

    before = {name: count(name) for name in ("2xx", "none")}
    client = TruedyClient(
        "https://truedy.test/api",
        1,
        1,
        transport=httpx.MockTransport(lambda request: httpx.Response(200, stream=_BodyNeverComes())),
    )
    with pytest.raises(NoAnswer):
        client.resume("truedy_key1", CAMPAIGN)
    assert (count("2xx"), count("none")) == (before["2xx"], before["none"] + 1)


RESUME_IN_A_WORKER = f"""
import httpx
from bot import metrics
from bot.truedy import TruedyClient
metrics.enable()  # as bot.worker does with METRICS_TOKEN and METRICS_PORT
answer = {{"data": {{"id": "{CAMPAIGN}", "status": "active"}}}}
ok = httpx.MockTransport(lambda r: httpx.Response(200, json=answer))
client = TruedyClient("https://truedy.test/api", 1, 1, transport=ok)
print(type(client.resume("truedy_key1", "{CAMPAIGN}")).__name__)
"""


def test_a_multiprocess_folder_named_in_the_workers_environment_does_not_break_its_resumes(tmp_path):
    """The worker "counts in memory" (bot.metrics), yet PROMETHEUS_MULTIPROC_DIR set in its environment (a Heroku
    config var, a base image) switches prometheus_client to files there: a folder that is not there makes every
    count raise, and a resume Truedy answered with success raises FileNotFoundError out of TruedyClient.resume."""
    env = {**os.environ, metrics.FOLDER_VARIABLE: str(tmp_path / "not-there")}
    done = subprocess.run(
        [sys.executable, "-c", RESUME_IN_A_WORKER], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "Resumed", done.stderr[-600:]


COUNT_AND_SCRAPE_IN_A_WORKER = """
import sys
from bot import metrics, storage
engine = storage.connect(sys.argv[1])
storage.migrate(engine)
metrics.enable()
metrics.resume_attempted("command", "resumed", unknown=False)
body, _ = metrics.exposition(engine, None, lambda: True)  # as bot.worker_http scrapes
sys.stdout.write(body.decode())
"""


def test_a_workers_scrape_never_counts_what_an_earlier_run_counted(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR inherited (an existing folder), each worker run writes its counts there and
    every later run's scrape sums them in: after a restart the worker says 2 resumes where it made 1."""
    folder = tmp_path / "inherited"
    folder.mkdir()
    env = {**os.environ, metrics.FOLDER_VARIABLE: str(folder)}
    database = f"sqlite:///{tmp_path}/bot.sqlite3"
    scraped = []
    for _ in range(2):  # the worker, then the worker restarted
        done = subprocess.run(
            [sys.executable, "-c", COUNT_AND_SCRAPE_IN_A_WORKER, database],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr[-600:]
        scraped.append(samples(done.stdout))
    key = ("truedy_bot_resumes_total", (("outcome", "resumed"), ("reason", ""), ("via", "command")))
    assert scraped[1][key] == 1


def test_the_workers_http_server_drops_a_connection_that_never_sends_its_request(tmp_path):
    """bot.worker_http: wsgiref on a thread per connection, no timeout. A client that opens connections to
    METRICS_PORT and sends half a request line holds a thread each, for good (the web process drops such a
    client after REQUEST_SECONDS = 10)."""
    engine = storage.connect(f"sqlite:///{tmp_path}/bot.sqlite3")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    http = WorkerHttp(port, None)
    http.start(engine, lambda: True)
    try:
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET /heal")
        slow.settimeout(15)
        started = time.monotonic()
        try:
            closed = slow.recv(100) == b""
        except TimeoutError:
            closed = False
        assert closed, f"the connection was still held after {time.monotonic() - started:.0f} s"
        slow.close()
    finally:
        http.stop()
        engine.dispose()


def _documented_rule(name: str) -> str:
    match = re.search(rf"- alert: {name}\b.*?\n\s+expr: ([^\n]+)\n", OPERATIONS.read_text(), re.S)
    assert match, name
    return match.group(1)


def test_the_documented_socket_mode_alert_is_quiet_on_a_healthy_web_process(tmp_path):
    """docs/operations.md pages on `... or absent(truedy_bot_socket_mode_connected)`. The web process never has
    that family (bot.web scrapes without `socket_mode_connected`): in HTTP mode, or on Heroku where the docs say
    to scrape the web dyno only, the alert pages forever on a healthy bot."""
    engine = storage.connect(f"sqlite:///{tmp_path}/bot.sqlite3")
    storage.migrate(engine)
    body, _ = metrics.exposition(engine, None)  # what bot.web's /metrics answers
    engine.dispose()
    rule = _documented_rule("TruedyBotSocketModeDown")
    fires_on_absence = "absent(truedy_bot_socket_mode_connected)" in rule
    present = b"truedy_bot_socket_mode_connected" in body
    assert present or not fires_on_absence, f"pages on every healthy web-only scrape: {rule}"


FAIL_THREE_TIMES = """
import sys
from bot import metrics, storage
engine = storage.connect(sys.argv[1])
storage.migrate(engine)
metrics.enable()
first, _ = metrics.exposition(engine, None)
for via in ("command", "button", "schedule"):
    metrics.resume_attempted(via, "key_rejected", unknown=False)
second, _ = metrics.exposition(engine, None)
sys.stdout.write(first.decode() + "\\n#SPLIT\\n" + second.decode())
"""


def test_the_documented_failing_resumes_alert_sees_the_first_failures_after_a_start(tmp_path):
    """TruedyResumesFailing: sum(increase(resumes_total{outcome=~"not_resumed|unknown",...}[15m])) >= 3. Only the
    `resumed` series exist from the start at zero; a failure series appears at its first failure, and increase()
    counts nothing for a series' first sample. 3 resumes refused with key_rejected right after a start (each
    scrape 15 s apart) add 0 to the rule's sum: it never pages."""
    database = f"sqlite:///{tmp_path}/bot.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", FAIL_THREE_TIMES, database], capture_output=True, text=True, timeout=60, check=True
    )
    first, second = (samples(part) for part in done.stdout.split("\n#SPLIT\n"))

    def failing(name: str, labels: tuple[tuple[str, str], ...]) -> bool:
        named = dict(labels)
        return (
            name == "truedy_bot_resumes_total"
            and named["outcome"] in ("not_resumed", "unknown")
            and named["reason"] not in ("not_allowed", "already_in_flight", "not_resumable", "cannot_check")
        )

    # increase() between two scrapes, as Prometheus has it: only a series with an earlier sample has grown.
    increase = sum(v - first[key] for key, v in second.items() if failing(*key) and key in first)
    assert increase >= 3


def test_a_scheduled_resume_whose_process_died_while_sending_is_counted(engine, workspaces, slack):
    """A click whose process died is counted `interrupted` by the sweep (bot.runners.abandoned), a resume-all
    item by `_abandon_left_sending`; a schedule that died while `sending` is ended `unknown` and told in Slack by
    the scheduler's sweep (end_unknown, _tell_unknown), but never recorded: that resume is counted nowhere."""
    made = Scheduler(engine, workspaces, slack)
    schedule_id = made.due("batch_review0002")
    dead = ScheduledResumes(engine)
    (taken,) = dead.take("scheduler-dead", 10)
    assert taken.id == schedule_id and dead.start_sending(schedule_id, "scheduler-dead")
    leases_run_out(engine)  # the process that was sending it died

    def counted() -> float:
        return sum(
            value("truedy_bot_resumes_total", via="schedule", outcome=outcome, reason=reason)
            for outcome, reason in (("unknown", "interrupted"), ("unknown", "unknown"), ("unknown", "no_answer"))
        )

    before = counted()
    made.runner.start()
    try:
        wait_until(lambda: made.row(schedule_id)["outcome"] == "unknown", 10, "the sweep to end it")
        time.sleep(1)
        assert counted() == before + 1
    finally:
        made.runner.stop()
        made.answers.drain(5)
