"""No request can take a web process down: bodies are limited before they are read, nothing a request
carries reaches the logs, and many slow clients cost connections, not the threads that answer."""

import contextlib
import socket
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import start_installations_stack, stop_stack
from tests.e2e.test_http_mode import command_body, send
from tests.fakes.loop import wait_until

CANARY = "CANARYbodyNeverLogged0042"
RESPONSE_URL = "https://hooks.slack.com/commands/T0AAA0001/1234/CANARYresponseUrl0042"


@pytest.fixture(scope="module")
def site(loop, tmp_path_factory):
    """Installations over HTTP: the web process serves /slack/events, the install pages and /healthz."""
    stack = start_installations_stack(loop, tmp_path_factory.mktemp("hostile"), LOG_LEVEL="DEBUG")
    stack.install("T0AAA0001")
    yield stack
    stop_stack(stack)


def children_peak_rss_kib(pid: int) -> int:
    """The highest peak RSS among the gunicorn master's processes (the one serving is a child)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    peaks = []
    for child in [pid, *map(int, children)]:
        status = Path(f"/proc/{child}/status").read_text()
        peaks.append(int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))))
    return max(peaks)


def answer_to(port: int, request: bytes, body_chunks=()) -> bytes:
    """Send `request`, then as many of `body_chunks` as the server takes; everything it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as client:
        client.sendall(request)
        try:
            for chunk in body_chunks:
                client.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the end, as it should be
        answer = b""
        try:
            while chunk := client.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
        return answer


def port_of(stack) -> int:
    return int(stack.site.rsplit(":", 1)[1])


def test_a_400_mib_body_is_refused_before_it_is_read(site):
    port = port_of(site)
    declared = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 419430400\r\n\r\n"
    assert answer_to(port, declared, [b"x" * 65536] * 16).startswith(b"HTTP/1.1 413 ")
    # Chunked, so that nothing says its size beforehand: 400 MiB sent as fast as it is taken.
    chunked = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"%x\r\n" % (1024 * 1024) + b"y" * (1024 * 1024) + b"\r\n"
    assert answer_to(port, chunked, (chunk for _ in range(400))).startswith(b"HTTP/1.1 413 ")
    for path in ("/truedy/webhook", "/slack/install"):
        too_large = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 419430400\r\n\r\n".encode()
        assert answer_to(port, too_large).split(b" ")[1] in (b"413", b"404")
    peak = children_peak_rss_kib(site.web.pid)
    print(f"\npeak RSS of the web processes after 400 MiB POSTs: {peak / 1024:.0f} MiB")
    assert peak < 200 * 1024
    assert max(len(line) for line in site.web.stdout().splitlines()) < 4096  # no request in a log line


def test_nothing_a_request_carries_reaches_the_logs(site):
    url = f"{site.site}/slack/events"
    forged = {**site.slack.slash_command(CANARY, team_id="T0AAA0001"), "response_url": RESPONSE_URL}
    status, _, _ = send(url, command_body(forged), secret="not-the-signing-secret")
    assert status == 401
    signed = site.slack.slash_command(CANARY.lower(), team_id="T0AAA0001")
    status, _, _ = send(url, command_body(signed))
    assert status == 200
    wait_until(lambda: site.slack.responses_to(signed), 10, "the answer to the signed command")
    logs = site.web.stdout() + site.web.stderr()
    assert "Invalid request signature" in logs or site.web.logged("request_refused")
    for secret in (CANARY, CANARY.lower(), RESPONSE_URL, signed["response_url"], signed["token"]):
        assert secret not in logs, secret


def test_500_slow_clients_do_not_hold_up_health_install_pages_or_commands(site):
    port = port_of(site)
    clients = []
    for _ in range(500):
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n")
        clients.append(client)
    stop = threading.Event()

    def trickle() -> None:  # a byte every 5 s each, headers or body, for as long as the test runs
        while not stop.wait(5):
            for client in clients:
                with contextlib.suppress(OSError):
                    client.send(b"a")

    trickling = threading.Thread(target=trickle, daemon=True)
    trickling.start()
    try:
        time.sleep(1)  # every connection is open and waiting
        timings = {}
        for name, url in (("healthz", f"{site.site}/healthz"), ("install page", f"{site.site}/slack/install")):
            started = time.monotonic()
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.status == 200
            timings[name] = time.monotonic() - started
        status, _, timings["signed command"] = send(
            f"{site.site}/slack/events", command_body(site.slack.slash_command("help", team_id="T0AAA0001"))
        )
        assert status == 200
        print("\nwith 500 slow clients: " + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
        assert all(seconds < 3 for seconds in timings.values()), timings  # the guarantee is a deadline
    finally:
        stop.set()
        trickling.join(10)
        for client in clients:
            client.close()
