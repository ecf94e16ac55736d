"""Review of the metrics and health work, end to end: each test shows a defect (they fail until it is fixed)."""

import contextlib
import select
import socket
import threading
import time

import pytest

from tests.e2e.conftest import free_port, start_stack, stop_stack
from tests.e2e.test_http_mode import command_body, send, start_web, stop_web
from tests.e2e.test_metrics import TOKEN, get, samples
from tests.fakes.loop import wait_until


def acks(base: str) -> float:
    counted = samples(get(f"{base}/metrics")[1])
    return sum(v for (name, _), v in counted.items() if name == "truedy_bot_ack_duration_seconds_count")


@pytest.fixture(scope="module")
def web(loop, tmp_path_factory):
    stack, url = start_web(loop, tmp_path_factory.mktemp("review-metrics"), WEB_CONCURRENCY="1", METRICS_TOKEN=TOKEN)
    wait_until(lambda: stack.worker.logged("web_started"), 20, "the web process")
    yield stack, url, url.removesuffix("/slack/events")
    stop_web(stack)


def test_a_request_slack_never_sent_is_not_timed_as_an_ack(web):
    """bot/web.py `_slack`: any answer from Bolt counts as an ack, a 401 to a forged or unsigned POST included.
    Anyone who can reach /slack/events adds fast "acks" (kind from the body they choose) to
    truedy_bot_ack_duration_seconds, and so hides the slow acks the histogram is for."""
    stack, url, base = web
    before = acks(base)
    payload = stack.slack.slash_command("batch_review0101", channel_id="C0REVIEW1")
    for _ in range(5):
        status, _, _ = send(url, command_body(payload), sign=False)
        assert status == 401
        status, _, _ = send(url, command_body(payload), secret="not-the-signing-secret-0000000000")
        assert status == 401
    assert acks(base) == before


class FreezingProxy:
    """TCP between the worker and FakeSlack's socket that can go silent (a partition, a NAT that forgot the
    connection): nothing is forwarded either way any more, and nothing is closed."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.frozen = threading.Event()
        self.stopped = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        while not self.stopped.is_set():
            if self.frozen.is_set():
                time.sleep(0.05)
                continue
            try:
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    break
                target.sendall(data)
            except OSError:
                break
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.close()

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()


@pytest.fixture
def worker(loop, tmp_path):
    port = free_port()
    stack = start_stack(loop, tmp_path, METRICS_PORT=str(port), METRICS_TOKEN=TOKEN)
    proxy = FreezingProxy(stack.slack.port)
    answer = stack.slack._answer

    def through_the_proxy(method, params, bot):
        answered = answer(method, params, bot)
        if method == "apps.connections.open":
            answered["url"] = answered["url"].replace(f":{stack.slack.port}/", f":{proxy.port}/")
        return answered

    stack.slack._answer = through_the_proxy
    yield stack, f"http://127.0.0.1:{port}", proxy
    proxy.stop()
    stop_stack(stack)


def test_the_workers_healthz_turns_503_within_10_s_of_a_silent_drop(worker):
    """docs/operations.md: /healthz "turns 503 within 10 s of the connection dropping". It follows slack_sdk's
    `is_connected()`, which only turns False once the client finds the connection stale: no pong for more than
    4 x ping_interval (5 s), i.e. after 20 s or more. A connection that goes silent rather than closed (the
    usual way a network fails) keeps /healthz at 200 for over 20 s."""
    stack, base, proxy = worker
    opened = stack.slack.connections_opened
    stack.slack.disconnect_all()  # the worker reconnects, now through the proxy
    wait_until(lambda: stack.slack.connections_opened > opened, 15, "a connection through the proxy")
    wait_until(lambda: get(f"{base}/healthz", None)[0] == 200, 15, "healthy through the proxy")
    time.sleep(1)
    proxy.frozen.set()
    dropped = time.monotonic()
    wait_until(lambda: get(f"{base}/healthz", None)[0] == 503, 30, "unhealthy after the silent drop")
    took = time.monotonic() - dropped
    assert took <= 10, f"/healthz said 200 for {took:.0f} s after the connection went silent"
