"""Review 3, start-up: a Slack that takes the connection and never answers (a proxy or a half-up network that
holds the request), as seen from the outside."""

import socket
import time

from tests.fakes.loop import wait_until
from tests.fakes.slack import FakeSlack
from tests.fakes.worker import WorkerProcess, worker_env


def test_a_slack_that_never_answers_is_still_said_every_5_s(loop, truedy, tmp_path):
    """README: "Until it is connected, every 5 s, one line says what fails: ... a connection refused or timing
    out". A try that times out lasts slack_sdk's timeout (10 s, bot.slack.client.SLACK_TIMEOUT_SECONDS), and no
    line comes while it lasts: the first `slack_unreachable` line comes after 10 s, the next 10 s later."""
    slack = FakeSlack(loop)  # its address only, never started: the silent socket below stands in for it
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # connections complete in the backlog; nothing is ever read or answered
        env = worker_env(slack, truedy, SLACK_API_URL=f"http://127.0.0.1:{silent.getsockname()[1]}/api/")
        started = time.monotonic()
        worker = WorkerProcess(env, tmp_path)
        try:
            wait_until(lambda: worker.logged("slack_unreachable") or worker.process.poll() is not None, 20)
            first = time.monotonic() - started
            wait_until(lambda: len(worker.logged("slack_unreachable")) >= 2, 20)
            lines = worker.logged("slack_unreachable")
        finally:
            assert worker.terminate() in (0, -15)
    assert lines[0]["problem"].endswith("(SLACK_API_URL): timed out"), lines[0]
    assert first <= 7, f"the first line came {first:.1f} s after the start"
    assert lines[1]["waited_seconds"] - lines[0]["waited_seconds"] <= 6, lines
