"""`python -m bot web`: signed Truedy webhooks prompt the watcher at once; anything else changes nothing."""

import hashlib
import hmac
import http.client
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.truedy import campaign
from tests.fakes.worker import WorkerProcess, worker_env

SECRET = "whsec_e2e_secret_0001"
CHANNEL = "C0HOOK001"


@pytest.fixture(scope="module")
def hooked(loop, tmp_path_factory):
    """A worker that would poll only once an hour, and the web process beside it on the same database."""
    workdir = tmp_path_factory.mktemp("webhook")
    stack = start_stack(
        loop,
        workdir,
        ALERT_CHANNEL=CHANNEL,
        PAUSED_POLL_SECONDS="3600",
        DATABASE_URL=f"sqlite:///{workdir}/bot.sqlite3",
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (workdir / "web").mkdir()
    web_env = {name: value for name, value in stack.env.items() if name != "SLACK_APP_TOKEN"}  # not needed
    web = WorkerProcess({**web_env, "TRUEDY_WEBHOOK_SECRET": SECRET, "PORT": str(port)}, workdir / "web", "web")
    wait_until(lambda: web.logged("web_started") or web.process.poll() is not None, 20, "the web process")
    assert web.process.poll() is None, web.stderr()
    yield stack, web, f"http://127.0.0.1:{port}"
    assert web.terminate() == 0
    stop_stack(stack)


def deliver(url: str, payload: dict, secret: str = SECRET, timestamp: int | None = None, sign: bool = True):
    body = json.dumps(payload).encode()
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    headers = {"Content-Type": "application/json"}
    if sign:
        digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers |= {"X-Truedy-Timestamp": stamp, "X-Truedy-Signature": digest}
    request = urllib.request.Request(f"{url}/truedy/webhook", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def event(batch: str, status: str, at: str) -> dict:
    return {"event": "batch.status.changed", "timestamp": at, "data": {"batch_id": batch, "status": status}}


def test_a_signed_status_change_makes_the_worker_look_again_at_once(hooked):
    stack, _, url = hooked
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_hooked01"))
    started = time.monotonic()
    assert deliver(url, event("uv-1", "PAUSED", "2026-11-28T12:00:00Z")) == 204
    wait_until(lambda: stack.slack.posts_in(CHANNEL), 10, "the alert")
    assert time.monotonic() - started < 5
    assert "batch_hooked01" in stack.slack.posts_in(CHANNEL)[0].params["text"]


@pytest.mark.parametrize(
    "how, status",
    [("unsigned", 401), ("wrong secret", 401), ("stale", 401), ("from the future", 401)],
)
def test_deliveries_not_from_truedy_are_refused(hooked, how, status):
    stack, web, url = hooked
    lists_before = len(stack.truedy.lists())
    payload = event("uv-bad", "PAUSED", how)
    answer = {
        "unsigned": lambda: deliver(url, payload, sign=False),
        "wrong secret": lambda: deliver(url, payload, secret="whsec_guess"),
        "stale": lambda: deliver(url, payload, timestamp=int(time.time()) - 301),
        "from the future": lambda: deliver(url, payload, timestamp=int(time.time()) + 600),
    }[how]()
    assert answer == status
    assert len(stack.truedy.lists()) == lists_before
    assert web.logged("webhook_refused")


def test_a_repeated_delivery_is_answered_and_ignored(hooked):
    _, web, url = hooked
    payload = event("uv-dup", "RUNNING", "2026-11-28T12:05:00Z")
    assert [deliver(url, payload) for _ in range(3)] == [204, 204, 204]
    assert (
        len(
            wait_until(
                lambda: len(web.logged("webhook_duplicate")) >= 2 and web.logged("webhook_duplicate"), 5, "the repeats"
            )
        )
        == 2
    )
    assert web.logged("webhook_received")


def test_a_signed_body_that_is_not_json_is_a_bad_request(hooked):
    _, _, url = hooked
    stamp = str(int(time.time()))
    body = b"<html>not json</html>"
    digest = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"{url}/truedy/webhook",
        data=body,
        method="POST",
        headers={"X-Truedy-Timestamp": stamp, "X-Truedy-Signature": digest},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400


def test_health(hooked):
    _, _, url = hooked
    with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:
        assert (response.status, json.loads(response.read())) == (200, {"ok": True})
    with urllib.request.urlopen(urllib.request.Request(f"{url}/healthz", method="HEAD"), timeout=5) as response:
        assert (response.status, response.read()) == (200, b"")


def test_the_root_page_says_what_this_is_and_where_its_health_is(hooked):
    _, _, url = hooked
    with urllib.request.urlopen(f"{url}/", timeout=5) as response:
        page = response.read().decode()
    assert response.status == 200 and "<h1>Truedy Campaigns</h1>" in page
    assert 'href="/healthz"' in page and "/slack/install" not in page


def test_every_line_of_the_web_process_is_json_its_servers_too(hooked):
    """uvicorn warns about a request it cannot read; gunicorn and uvicorn lines go through the bot's logging."""
    _, web, url = hooked
    with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1]))) as client:
        client.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        client.settimeout(5)
        client.recv(1024)
    lines = wait_until(
        lambda: [line for line in web.log_lines() if line.get("logger") == "uvicorn.error"], 10, "uvicorn's warning"
    )
    assert lines[0]["level"] == "warning" and lines[0]["message"].startswith("Invalid HTTP request")
    assert not [line for line in web.log_lines() if "unparsed" in line]
    assert web.stderr().strip() == ""


def test_a_small_chunked_delivery_is_taken(hooked):
    """Without a Content-Length (Transfer-Encoding: chunked), a body under the limit is read, not refused."""
    _, _, url = hooked
    body = json.dumps({"event": "batch.completed", "data": {"batch_id": "batch_chunked01", "status": "completed"}})
    stamp = str(int(time.time()))
    signature = hmac.new(SECRET.encode(), f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=5)
    connection.request(
        "POST",
        "/truedy/webhook",
        body=iter([body[:20].encode(), body[20:].encode()]),
        headers={"Content-Type": "application/json", "X-Truedy-Timestamp": stamp, "X-Truedy-Signature": signature},
        encode_chunked=True,
    )
    assert connection.getresponse().status == 204
    connection.close()


def test_without_secrets_the_web_process_serves_its_health_and_says_what_is_off(slack, truedy, tmp_path):
    """One-token Socket Mode: Heroku starts a web dyno anyway; it must not crash-loop."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    web = WorkerProcess({**worker_env(slack, truedy), "PORT": str(port)}, tmp_path, "web")
    try:
        (off,) = wait_until(lambda: web.logged("webhooks_off"), 20, "the web process")
        assert "TRUEDY_WEBHOOK_SECRET is not set" in off["message"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
        status = deliver(f"http://127.0.0.1:{port}", {"event": "batch.completed"}, secret="whsec_any")
        assert status == 404
    finally:
        assert web.terminate() == 0


def test_a_client_that_stops_sending_is_dropped(hooked):
    _, _, url = hooked
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"POST /truedy/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        client.settimeout(30)
        told = b""
        while chunk := client.recv(1024):  # until the connection is closed
            told += chunk
        assert told.startswith(b"HTTP/1.1 408 ")  # told after its 10 s, and dropped
    with socket.create_connection(("127.0.0.1", port)) as client:
        client.sendall(b"POST /truedy/webhook HTTP/1.1\r\nHost: x\r\n")  # headers never finished
        client.settimeout(30)
        assert client.recv(1024) == b""


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Truedy-Timestamp": "²", "X-Truedy-Signature": "0" * 64},
        {"X-Truedy-Timestamp": str(int(time.time())), "X-Truedy-Signature": "é" * 64},
        {"X-Truedy-Timestamp": "", "X-Truedy-Signature": ""},
    ],
)
def test_every_malformed_request_gets_a_401(hooked, headers):
    _, _, url = hooked
    connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]), timeout=5)
    connection.request("POST", "/truedy/webhook", body=b'{"event": "batch.completed"}', headers=headers)
    assert connection.getresponse().status == 401
    connection.close()
