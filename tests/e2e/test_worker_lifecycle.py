"""Start-up, reconnects and shutdown of the real worker process."""

import socket

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.truedy import campaign
from tests.fakes.worker import WorkerProcess, worker_env


@pytest.fixture
def fresh_stack(loop, tmp_path):
    running = start_stack(loop, tmp_path)
    yield running
    stop_stack(running)


def test_sigterm_finishes_accepted_resumes_and_their_messages_then_exits_0(fresh_stack):
    stack = fresh_stack
    stack.truedy.delay = 2
    ids = [f"batch_term{n:04d}" for n in range(3)]
    for campaign_id in ids:
        stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    for campaign_id in ids:
        stack.command(campaign_id, channel_id="C0TERM001")
    wait_until(lambda: len(stack.truedy.resumes()) == 3, 5, "the resumes to reach Truedy")

    assert stack.worker.terminate() == 0

    for campaign_id in ids:
        _, reply, update = stack.result_in_thread("C0TERM001", campaign_id)
        assert "is resumed" in reply.params["text"]
        assert "resumed" in update.params["text"]
    assert stack.worker.logged("stopped")[0]["unfinished"] == 0


def test_survives_socket_mode_reconnects(fresh_stack):
    stack = fresh_stack
    stack.slack.disconnect_all("refresh_requested")
    stack.slack.wait_connected(count=2)
    stack.slack.drop_all()
    stack.slack.wait_connected(count=3)

    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_reconnect1"))
    stack.command("batch_reconnect1", channel_id="C0RECON01")
    _, reply, _ = stack.result_in_thread("C0RECON01", "batch_reconnect1")
    assert "is resumed" in reply.params["text"]


def test_truedy_unreachable_is_reported_as_not_sent(loop, tmp_path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    stack = start_stack(loop, tmp_path, TRUEDY_API_URL=f"http://127.0.0.1:{port}/api/public/v1")
    try:
        stack.command("batch_nowhere01", channel_id="C0NOWHERE")
        _, reply, update = stack.result_in_thread("C0NOWHERE", "batch_nowhere01")
        assert "could not connect to Truedy" in update.params["text"]
        assert "Nothing was sent, so nothing was resumed" in reply.params["text"]
    finally:
        stop_stack(stack)


def test_missing_settings_exit_non_zero_with_one_line_each_and_no_secret(slack, truedy, tmp_path):
    env = worker_env(slack, truedy, TRUEDY_API_KEYS='{"T0AAA0001": "truedy_secret', SLACK_BOT_TOKEN="xoxp-secret")
    del env["SLACK_APP_TOKEN"]
    worker = WorkerProcess(env, tmp_path)
    assert worker.wait_exit() == 2
    assert worker.stderr().splitlines() == [
        "configuration error: SLACK_BOT_TOKEN: must be a bot token starting with xoxb- "
        "(Slack app > OAuth & Permissions)",
        'configuration error: TRUEDY_API_KEYS: must be a JSON object like {"T0123ABCD": "truedy_..."}; '
        "it is not valid JSON",
        "configuration error: SLACK_APP_TOKEN: is required but not set: an app-level token, xapp-…, with the "
        "connections:write scope (Slack app > Basic Information > App-Level Tokens)",
    ]
    assert "secret" not in worker.stdout()


def test_a_taken_port_stops_the_web_process_with_one_line_naming_port(slack, truedy, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = worker_env(slack, truedy, SLACK_SIGNING_SECRET="signing-secret-1", PORT=str(port))
        web = WorkerProcess(env, tmp_path, "web")
        assert web.wait_exit() == 2
    assert web.stderr().strip() == (
        f"cannot start: PORT: {port} is taken by another process: stop it, or set PORT to a free port"
    )


def test_the_worker_says_started_only_once_socket_mode_is_connected_and_meanwhile_what_fails(slack, truedy, tmp_path):
    # slack_sdk tries again every ping interval (3 s, bot.slack.ack_first): refused for longer than one 5 s line.
    slack.socket_refusals = 4
    worker = WorkerProcess(worker_env(slack, truedy, TRUEDY_API_KEY="truedy_k1"), tmp_path)
    try:
        (retrying, *_) = wait_until(lambda: worker.logged("socket_mode_retrying"), 20, "the retrying line")
        assert retrying["problem"] == "Received an unexpected response for handshake"
        assert not worker.logged("started")
        worker.wait_started(slack, timeout=30)
        events = [line.get("event") for line in worker.log_lines()]
        assert events.index("socket_mode_retrying") < events.index("started")
    finally:
        worker.terminate()


def test_a_rejected_bot_token_stops_the_start(slack, truedy, tmp_path):
    worker = WorkerProcess(
        worker_env(slack, truedy, SLACK_BOT_TOKEN="xoxb-revoked", TRUEDY_API_KEY="truedy_k1"), tmp_path
    )
    assert worker.wait_exit() == 2
    assert worker.stderr().splitlines() == ["cannot start: SLACK_BOT_TOKEN: Slack refused the token (invalid_auth)"]
    assert "Traceback" not in worker.stdout() and not worker.logged("slack_unreachable")
    assert len(slack.calls_to("auth.test")) == 1  # a refusal is not asked again


def test_a_rejected_app_token_stops_the_start(slack, truedy, tmp_path):
    worker = WorkerProcess(
        worker_env(slack, truedy, SLACK_APP_TOKEN="xapp-revoked", TRUEDY_API_KEY="truedy_k1"), tmp_path
    )
    assert worker.wait_exit() == 2
    assert worker.stderr().splitlines() == [
        "cannot start: SLACK_APP_TOKEN: Slack refused to open a Socket Mode connection (invalid_auth)"
    ]
    assert "Traceback" not in worker.stdout() and len(slack.calls_to("apps.connections.open")) == 1


def test_two_keys_for_the_bot_workspace_stop_the_start(slack, truedy, tmp_path):
    worker = WorkerProcess(
        worker_env(slack, truedy, TRUEDY_API_KEY="truedy_one", TRUEDY_API_KEYS=f'{{"{slack.team_id}": "truedy_two"}}'),
        tmp_path,
    )
    assert worker.wait_exit() == 2
    assert "TRUEDY_API_KEY and TRUEDY_API_KEYS give different keys for workspace T0BOT0001" in worker.stderr()
    assert "truedy_one" not in worker.stderr() and "truedy_two" not in worker.stderr()
