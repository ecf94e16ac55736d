"""Runs the real worker (`python -m bot`) as a child process against the fakes."""

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fakes.loop import wait_until
from tests.fakes.slack import FakeSlack
from tests.fakes.truedy import FakeTruedy

REPO = Path(__file__).resolve().parents[2]
ENCRYPTION_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # a fixed Fernet key for tests


def worker_env(slack: FakeSlack, truedy: FakeTruedy, **settings: str) -> dict[str, str]:
    """A clean environment: nothing from the developer's shell (no proxy, no real token) leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(REPO),
        "PYTHONUNBUFFERED": "1",
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
        "TRUEDY_API_URL": truedy.api_url,
        "BOT_ENCRYPTION_KEY": ENCRYPTION_KEY,
        **settings,
    }


def with_database(env: dict[str, str], workdir: Path) -> dict[str, str]:
    """Without a DATABASE_URL of its own, a process uses a SQLite file in `workdir`, shared by every
    process run in that folder."""
    return {"DATABASE_URL": f"sqlite:///{workdir}/bot.sqlite3", **env}


def run_bot(env: dict[str, str], workdir: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m bot <args>` to completion, e.g. the alert command."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=with_database(env, workdir),
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=30,
    )


_processes = itertools.count(1)


class WorkerProcess:
    def __init__(self, env: dict[str, str], workdir: Path, *args: str, command: list[str] | None = None):
        """`python -m bot <args>`, or `command` (another way to start it, e.g. the Slack CLI's start hook)."""
        name = f"{args[0] if args else 'worker'}-{next(_processes)}"  # several may run in one folder
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        # cwd is a scratch folder so that a developer's .env is never read.
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "bot", *args],
            env=with_database(env, workdir),
            cwd=workdir,
            stdout=self.stdout_path.open("wb"),
            stderr=self.stderr_path.open("wb"),
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_started(self, slack: FakeSlack, timeout: float = 20) -> None:
        wait_until(lambda: self.process.poll() is not None or self.logged("started"), timeout, "the worker to start")
        assert self.process.poll() is None, f"the worker exited at start:\n{self.stderr()}"
        slack.wait_connected()

    def terminate(self, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise

    def wait_exit(self, timeout: float = 20) -> int:
        return self.process.wait(timeout)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.stdout().splitlines():
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                lines.append({"unparsed": line})
        return lines

    def logged(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.log_lines() if line.get("event") == event]

    def peak_rss_kib(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
