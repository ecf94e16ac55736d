"""Start-up of both processes (`python -m bot` and `python -m bot web`) when Slack is not there yet, or refuses:
they wait for the network, saying every 5 s what fails, then serve; a refusal stops them at once, in one line."""

import urllib.request

import pytest

from tests.e2e import test_http_mode as http
from tests.e2e.conftest import KEY_BOT_TEAM, SIGNING_SECRET, Stack, free_port
from tests.fakes.loop import wait_until
from tests.fakes.slack import FakeSlack
from tests.fakes.truedy import campaign
from tests.fakes.worker import WorkerProcess, worker_env


def said_twice_what_fails(process: WorkerProcess, call: str, problem: str) -> None:
    """Two lines of `problem`, about 5 s apart, and nothing else said about it."""
    lines = wait_until(lambda: process.logged("slack_unreachable")[1:] and process.logged("slack_unreachable"), 20)
    assert all(line["call"] == call and line["problem"] == problem for line in lines), lines
    assert 4 <= lines[1]["waited_seconds"] - lines[0]["waited_seconds"] <= 6
    assert not [line for line in process.log_lines() if line.get("logger", "").startswith("slack_sdk")]


@pytest.fixture
def late_slack(loop):
    """A Slack whose address the bot knows, listening only once the test starts it."""
    slack = FakeSlack(loop, port=free_port())
    yield slack
    if hasattr(slack, "_runner"):
        slack.stop()


def test_the_worker_waits_for_slack_saying_every_5_s_what_fails_then_serves(late_slack, truedy, tmp_path):
    slack = late_slack
    env = worker_env(slack, truedy, TRUEDY_API_KEY=KEY_BOT_TEAM)
    worker = WorkerProcess(env, tmp_path)
    try:
        said_twice_what_fails(
            worker, "auth.test", f"cannot reach Slack at 127.0.0.1:{slack.port} (SLACK_API_URL): connection refused"
        )
        slack.start()
        worker.wait_started(slack, timeout=15)
        stack = Stack(slack, truedy, worker, env, tmp_path)
        truedy.add(KEY_BOT_TEAM, campaign("batch_late00001"))
        stack.command("batch_late00001", channel_id="C0LATE001")
        _, reply, _ = stack.result_in_thread("C0LATE001", "batch_late00001")
        assert "is resumed" in reply.params["text"]
    finally:
        assert worker.terminate() == 0
    assert worker.stderr() == ""


def test_the_worker_waits_likewise_for_socket_mode_to_open(slack, truedy, tmp_path):
    slack.fail("apps.connections.open", "connection_dropped", times=3)  # slack_sdk tries twice, then the bot
    worker = WorkerProcess(worker_env(slack, truedy, TRUEDY_API_KEY=KEY_BOT_TEAM), tmp_path)
    try:
        worker.wait_started(slack)
        (waiting,) = worker.logged("slack_unreachable")
        assert waiting["call"] == "apps.connections.open"
        assert waiting["problem"].endswith("(SLACK_API_URL): the connection was dropped")
    finally:
        assert worker.terminate() == 0


def test_the_web_process_waits_for_slack_before_its_processes_start_then_serves(late_slack, truedy, tmp_path):
    slack, port = late_slack, free_port()
    env = worker_env(
        slack,
        truedy,
        TRUEDY_API_KEY=KEY_BOT_TEAM,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        PORT=str(port),
        WEB_CONCURRENCY="2",
    )
    del env["SLACK_APP_TOKEN"]
    web = WorkerProcess(env, tmp_path, "web")
    try:
        said_twice_what_fails(
            web, "auth.test", f"cannot reach Slack at 127.0.0.1:{slack.port} (SLACK_API_URL): connection refused"
        )
        assert not web.logged("web_started")  # gunicorn has not started yet
        slack.start()
        wait_until(lambda: len(web.logged("web_started")) == 2, 20, "both processes to start")
        assert len(slack.calls_to("auth.test")) == 1  # asked once, before the processes started
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as health:
            assert health.status == 200
        truedy.add(KEY_BOT_TEAM, campaign("batch_late00002"))
        payload = slack.slash_command("batch_late00002", channel_id="C0LATE002")
        status, _, _ = http.send(f"http://127.0.0.1:{port}/slack/events", http.command_body(payload))
        assert status == 200
        stack = Stack(slack, truedy, web, env, tmp_path)
        _, reply, _ = stack.result_in_thread("C0LATE002", "batch_late00002")
        assert "is resumed" in reply.params["text"]
    finally:
        assert web.terminate() == 0
    assert "Traceback" not in web.stderr() + web.stdout()


def test_a_refused_bot_token_stops_the_web_process_before_it_forks_in_one_line_exit_2(slack, truedy, tmp_path):
    env = worker_env(
        slack, truedy, SLACK_BOT_TOKEN="xoxb-revoked", SLACK_SIGNING_SECRET=SIGNING_SECRET, PORT=str(free_port())
    )
    web = WorkerProcess(env, tmp_path, "web")
    assert web.wait_exit() == 2
    assert web.stderr().splitlines() == ["cannot start: SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)"]
    assert "Traceback" not in web.stdout() and not web.logged("slack_unreachable")
