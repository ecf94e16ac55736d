"""HTTP mode: the web process (`python -m bot web`, gunicorn) takes Slack's requests on /slack/events, signed
with the signing secret, and answers them as the Socket Mode worker does; no worker runs."""

import hashlib
import hmac
import json
import signal
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, SIGNING_SECRET, Stack, free_port, start_web_process
from tests.fakes.loop import wait_until
from tests.fakes.slack import FakeSlack
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import worker_env


def start_web(loop, workdir, **settings: str) -> tuple[Stack, str]:
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    port = free_port()
    env = worker_env(
        slack, truedy, TRUEDY_API_KEY=KEY_BOT_TEAM, SLACK_SIGNING_SECRET=SIGNING_SECRET, PORT=str(port), **settings
    )
    del env["SLACK_APP_TOKEN"]  # HTTP mode needs no app-level token
    web = start_web_process(env, workdir)
    return Stack(slack, truedy, web, env, workdir), f"http://127.0.0.1:{port}/slack/events"


def stop_web(stack: Stack) -> None:
    stack.worker.terminate()
    stack.slack.stop()
    stack.truedy.stop()


@pytest.fixture(scope="module")
def web(loop, tmp_path_factory):
    stack, url = start_web(loop, tmp_path_factory.mktemp("http"), TRUEDY_READ_TIMEOUT="1")
    yield stack, url
    stop_web(stack)


def send(
    url: str,
    body: bytes,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    sign: bool = True,
    content_type: str = "application/x-www-form-urlencoded",
):
    """POST as Slack does; (status, answer body, seconds until the answer)."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    headers = {"Content-Type": content_type}
    if sign:
        digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
        headers |= {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}
    started = time.monotonic()
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), time.monotonic() - started
    except urllib.error.HTTPError as error:
        return error.code, error.read(), time.monotonic() - started


def command_body(payload: dict) -> bytes:
    return urllib.parse.urlencode(payload).encode()


def test_a_signed_command_is_acked_and_resumed_in_the_thread(web):
    stack, url = web
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_http0001"))
    payload = stack.slack.slash_command("batch_http0001", channel_id="C0HTTP001")
    status, answer, seconds = send(url, command_body(payload))
    assert (status, answer) == (200, b"")
    assert seconds < 3
    _, reply, final = stack.result_in_thread("C0HTTP001", "batch_http0001")
    assert "`batch_http0001` is resumed" in reply.params["text"]
    assert final.params["text"].startswith(":arrow_forward: <@U0ALICE01> resumed `batch_http0001`")


def test_what_needs_no_database_is_answered_in_the_response(web):
    stack, url = web
    status, answer, _ = send(url, command_body(stack.slack.slash_command("../etc")))
    assert status == 200 and "is not a campaign id" in json.loads(answer)["text"]


def test_a_click_on_an_alert_resumes_it_over_http(web):
    stack, url = web
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_http0002"))
    ts = stack.post_alert("batch_http0002", "C0HTTP002")
    click = stack.slack.click("C0HTTP002", ts)
    status, _, _ = send(url, urllib.parse.urlencode({"payload": json.dumps(click)}).encode())
    assert status == 200
    wait_until(
        lambda: [c for c in stack.slack.posts_in("C0HTTP002") if c.params.get("thread_ts") == ts], 10, "the result"
    )
    assert stack.truedy.status_of(KEY_BOT_TEAM, "batch_http0002") == "running"


@pytest.mark.parametrize("how", ["unsigned", "wrong secret", "stale", "from the future"])
def test_requests_not_signed_by_slack_are_refused_and_do_nothing(web, how):
    stack, url = web
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_http0003"))
    body = command_body(stack.slack.slash_command("batch_http0003", channel_id="C0HTTP003"))
    status, _, _ = {
        "unsigned": lambda: send(url, body, sign=False),
        "wrong secret": lambda: send(url, body, secret="guessed"),
        "stale": lambda: send(url, body, timestamp=int(time.time()) - 301),
        "from the future": lambda: send(url, body, timestamp=int(time.time()) + 301),
    }[how]()
    assert status == 401
    assert stack.slack.posts_in("C0HTTP003") == []
    assert not [r for r in stack.truedy.resumes() if "batch_http0003" in r.path]


def test_slacks_url_verification_is_answered(web):
    _, url = web
    body = json.dumps({"type": "url_verification", "token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV"}).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": f"v0={digest}",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert json.loads(response.read()) == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}


def test_two_web_processes_alone_alert_each_pause_once(loop, tmp_path):
    """An HTTP-only deployment gets paused-campaign alerts: every web process watches, each pause once."""
    stack, _ = start_web(loop, tmp_path, WEB_CONCURRENCY="2", ALERT_CHANNEL="C0HTTPWAT", PAUSED_POLL_SECONDS="1")
    try:
        stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_httpw{n:03d}") for n in range(5)))
        wait_until(lambda: len(stack.slack.posts_in("C0HTTPWAT")) >= 5, 15, "five alerts")
        polls = len(stack.truedy.lists())
        wait_until(lambda: len(stack.truedy.lists()) >= polls + 3, 15, "three more polls")
        assert len(stack.slack.posts_in("C0HTTPWAT")) == 5
    finally:
        stop_web(stack)


def test_sigterm_mid_burst_over_http_reports_every_acked_request(loop, tmp_path):
    stack, url = start_web(loop, tmp_path)
    try:
        stack.truedy.delay = 0.5
        ids = [f"batch_httpt{n:03d}" for n in range(20)]
        stack.truedy.add(KEY_BOT_TEAM, *(campaign(campaign_id) for campaign_id in ids))
        for campaign_id in ids:
            status, _, _ = send(url, command_body(stack.slack.slash_command(campaign_id, channel_id="C0HTTPTRM")))
            assert status == 200
        stopping = time.monotonic()
        assert stack.worker.terminate() == 0
        assert time.monotonic() - stopping < 25
        texts = [c.params["text"] for c in stack.slack.posts_in("C0HTTPTRM") if c.params.get("thread_ts")]
        for campaign_id in ids:
            assert sum(f"`{campaign_id}` is resumed" in text for text in texts) == 1
        assert stack.worker.logged("web_stopped")[0]["unfinished"] == 0
    finally:
        stop_web(stack)


def test_ctrl_c_stops_the_web_process_at_once(loop, tmp_path):
    """Without SIGTERM (Ctrl-C: gunicorn stops its processes quickly), nothing waits for a shutdown that
    never started."""
    stack, _ = start_web(loop, tmp_path)
    try:
        stack.worker.process.send_signal(signal.SIGINT)
        assert stack.worker.process.wait(10) == 0
        assert stack.worker.logged("web_stopped")[0]["unfinished"] == 0
    finally:
        stop_web(stack)
