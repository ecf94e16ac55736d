"""A network path to PostgreSQL that a test can cut silently: packets dropped, nothing refused.

The worker reaches PostgreSQL at an address inside a network namespace of the test's own (a veth pair,
a forwarder on each side). Taking the namespace's end of the link down drops every packet, as a failed
network does: no reset, no refusal, just silence.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.fakes.loop import wait_until
from tests.fakes.worker import REPO


def can_make_namespaces() -> bool:
    if os.geteuid() != 0:
        return False
    name = f"trprobe{os.getpid() % 100000}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    return made


@dataclass
class CuttablePath:
    namespace: str
    inner_link: str
    address: str  # host:port the worker connects to

    def cut(self) -> None:
        _ip("netns", "exec", self.namespace, "ip", "link", "set", self.inner_link, "down")

    def restore(self) -> None:
        _ip("netns", "exec", self.namespace, "ip", "link", "set", self.inner_link, "up")


@contextmanager
def cuttable_path_to(target: str) -> Iterator[CuttablePath]:
    """A path to `target` (host:port on this machine's loopback) through a namespace of its own."""
    tag = os.getpid() % 100000
    namespace, outer, inner = f"trdb{tag}", f"trdb{tag}a", f"trdb{tag}b"
    subnet = 16 + tag % 200
    outer_ip, inner_ip = f"10.231.{subnet}.1", f"10.231.{subnet}.2"
    forwarders: list[subprocess.Popen] = []
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", namespace)
        _ip("addr", "add", f"{outer_ip}/30", "dev", outer)
        _ip("link", "set", outer, "up")
        _ip("netns", "exec", namespace, "ip", "addr", "add", f"{inner_ip}/30", "dev", inner)
        _ip("netns", "exec", namespace, "ip", "link", "set", inner, "up")
        _ip("netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        proxy = [sys.executable, "-m", "tests.fakes.tcp_proxy"]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        forwarders.append(_start([*proxy, f"{outer_ip}:15432", target], env))
        forwarders.append(_start(["ip", "netns", "exec", namespace, *proxy, "0.0.0.0:5432", f"{outer_ip}:15432"], env))
        yield CuttablePath(namespace, inner, f"{inner_ip}:5432")
    finally:
        for forwarder in forwarders:
            forwarder.kill()
            forwarder.wait()
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True)
        subprocess.run(["ip", "link", "del", outer], capture_output=True)


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    wait_until(
        lambda: process.stdout.readline().strip() == "listening" or process.poll() is not None, 10, "a forwarder"
    )
    assert process.poll() is None, "the forwarder did not start"
    return process


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)
