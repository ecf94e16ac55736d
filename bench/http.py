"""HTTP mode under load: bursts of signed `/resume-campaign` requests, all at once, across 10 workspaces that
installed the app (through its install pages, each with its own bot token and Truedy key), to the web
process (`python -m bot web`), each compared in the same run with a bare Bolt app that only acks behind the
same server (bench/floor_http.py). Slack's auth.test takes 0.3 s, as Slack's does. Both are warmed up first
with 50 requests (so that the floor pays its imports and auth.test before the burst, as the bot does).

    .venv/bin/python -m bench.http [--bursts 100 500] [--processes 2] [--rounds 3] [--postgresql postgresql://…/test]
        [--metrics]   # instead of the floor: the bot with metrics off and on (METRICS_TOKEN), in turn

Prints, per burst size, over `--rounds` bursts of each (the bot's and the floor's in turn, so that both see
the same machine; one burst's p99 moves by a third between runs on a 2-core machine): ack (HTTP response)
latency p50/p99/max for the bot and the floor over every ack, each round's p99 ratio, answers later than
3 s, end to end per resume (request sent to result posted), auth.test calls, and the web processes' peak
RSS. Truedy answers each resume in 0.2 s. Everything runs on this machine.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from bench.load import METRICS_TOKEN, key_of, percentile
from tests.fakes.browser import come_back, open_install_page
from tests.fakes.databases import fresh_database
from tests.fakes.loop import LoopThread, wait_until
from tests.fakes.slack import BOT_TEAM, CLIENT_ID, CLIENT_SECRET, FakeSlack
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import REPO, WorkerProcess, worker_env

SECRET = "bench-signing-secret-0001"
WORKSPACES = [BOT_TEAM, *(f"T0HTTP{n:03d}" for n in range(1, 10))]
INSTALLER = "U0INSTALL"
AUTH_TEST_SECONDS = 0.3
CHANNEL = "C0HTTPB01"
RESULT = re.compile(r"`(batch_http[a-z]\d+)` is resumed")
# Requests each side serves before the measured burst, so that neither pays its first imports or auth.test in it.
WARMUP = 50


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def signed(payload: dict) -> tuple[bytes, dict[str, str]]:
    body = urllib.parse.urlencode(payload).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
    }
    return body, headers


def burst(url: str, requests: list[tuple[bytes, dict]]) -> list[float]:
    """Send every request at once, from a process of its own (bench/signed_burst.py); each one's latency in ms."""
    sent = json.dumps([(body.decode(), headers) for body, headers in requests])
    done = subprocess.run(
        [sys.executable, "-m", "bench.signed_burst", url],
        input=sent,
        capture_output=True,
        text=True,
        cwd=REPO,
        check=True,
    )
    return json.loads(done.stdout)


def commands(slack: FakeSlack, size: int, prefix: str) -> list[tuple[str, tuple[bytes, dict]]]:
    out = []
    for n in range(size):
        campaign_id = f"batch_http{prefix}{n:05d}"
        team = WORKSPACES[n % len(WORKSPACES)]
        out.append((campaign_id, signed(slack.slash_command(campaign_id, channel_id=CHANNEL, team_id=team))))
    return out


def floor_run(loop: LoopThread, size: int, processes: int) -> list[float]:
    slack = FakeSlack(loop).start()
    slack.auth_test_seconds = AUTH_TEST_SECONDS
    port = free_port()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.api_url,
    }
    command = [sys.executable, "-m", "gunicorn", "bench.floor_http:api", "-k", "uvicorn_worker.UvicornWorker"]
    command += ["-w", str(processes), "-b", f"127.0.0.1:{port}", "--log-level", "warning"]
    floor = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _listening(port), 20, "the floor")
        url = f"http://127.0.0.1:{port}/slack/events"
        # Warm: every process has imported what it needs and asked auth.test about the token before the burst.
        burst(url, [r for _, r in commands(slack, WARMUP, "v")])
        return burst(url, [r for _, r in commands(slack, size, "f")])
    finally:
        floor.terminate()
        floor.wait(30)
        slack.stop()


def install_and_connect(slack: FakeSlack, base: str, team: str, key: str) -> None:
    """As a person would: the install page, Slack's approval, then setup with the workspace's key."""
    start = open_install_page(base)
    page = come_back(base, start.cookie, code=slack.approve_install(team, INSTALLER), state=start.state)
    assert page.status == 200, page.body
    opened = len(slack.opened_views())
    post_signed(f"{base}/slack/events", *signed(slack.slash_command("setup", user_id=INSTALLER, team_id=team)))
    view = wait_until(lambda: slack.opened_views()[opened:], 10, "the setup modal")[0]["view"]
    values = {"api_key": {"value": {"type": "plain_text_input", "value": key}}}
    submission = {"payload": json.dumps(slack.view_submission(view, values, user_id=INSTALLER, team_id=team))}
    post_signed(f"{base}/slack/events", *signed(submission))


def post_signed(url: str, body: bytes, headers: dict[str, str]) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200, response.status


def bot_run(
    loop: LoopThread, size: int, processes: int, database_url: str, workdir: Path, metrics: bool = False
) -> dict:
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    truedy.delay = 0.2
    keys = {team: key_of(team) for team in WORKSPACES}
    port = free_port()
    env = worker_env(
        slack,
        truedy,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        SLACK_SIGNING_SECRET=SECRET,
        PORT=str(port),
        WEB_CONCURRENCY=str(processes),
        DATABASE_URL=database_url,
        **({"METRICS_TOKEN": METRICS_TOKEN} if metrics else {}),
    )
    del env["SLACK_APP_TOKEN"], env["SLACK_BOT_TOKEN"]
    web = WorkerProcess(env, workdir, "web")

    def posted() -> int:
        return len({m.group(1) for c in slack.posts_in(CHANNEL) if (m := RESULT.search(c.params.get("text", "")))})

    try:
        wait_until(lambda: len(web.logged("web_started")) >= processes, 30, "the web processes")
        for team, key in keys.items():
            truedy.add(key)
            install_and_connect(slack, f"http://127.0.0.1:{port}", team, key)
        slack.auth_test_seconds = AUTH_TEST_SECONDS
        warmup, requests = commands(slack, WARMUP, "v"), commands(slack, size, "b")
        for campaign_id, _ in [*warmup, *requests]:
            team = WORKSPACES[int(campaign_id[-5:]) % len(WORKSPACES)]
            truedy.add(keys[team], campaign(campaign_id))
        # Warm, as the floor is: every process has served requests, and their work is done, before the burst.
        burst(f"http://127.0.0.1:{port}/slack/events", [r for _, r in warmup])
        wait_until(lambda: posted() >= WARMUP, 60, "the warm-up's results")
        auth_tests_before = len(slack.calls_to("auth.test"))
        started = time.monotonic()
        acks = burst(f"http://127.0.0.1:{port}/slack/events", [r for _, r in requests])
        wait_until(lambda: posted() >= WARMUP + size, 120, "every result")
        return {
            "acks": acks,
            "end_to_end": time.monotonic() - started,
            "rss_mib": _rss_mib(web.pid),
            "auth_tests": len(slack.calls_to("auth.test")) - auth_tests_before,
        }
    finally:
        web.terminate()
        slack.stop()
        truedy.stop()


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _rss_mib(master_pid: int) -> float:
    """Peak RSS summed over gunicorn's processes (the master and its workers)."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    total = 0
    for pid in [master_pid, *map(int, children)]:
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    return total / 1024


def summary(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5):7.1f}  p99 {percentile(values, 0.99):7.1f}  max {max(values):7.1f}"


def metrics_rounds(loop: LoopThread, size: int, arguments: argparse.Namespace, kind: str) -> None:
    """Bursts of the bot without metrics and with METRICS_TOKEN, in turn, `arguments.rounds` times."""
    without: list[list[float]] = []
    with_metrics: list[list[float]] = []
    for _ in range(arguments.rounds):
        for metrics, runs in ((False, without), (True, with_metrics)):
            with tempfile.TemporaryDirectory() as dir, fresh_database(kind, Path(dir), arguments.postgresql) as url:
                runs.append(bot_run(loop, size, arguments.processes, url, Path(dir), metrics)["acks"])
    off, on = [a for one in without for a in one], [a for one in with_metrics for a in one]
    per_round = ", ".join(
        f"{percentile(b, 0.99) / percentile(a, 0.99):.2f}x" for a, b in zip(without, with_metrics, strict=True)
    )
    print(f"\n== burst {size}, {arguments.rounds} rounds, metrics off and on in turn")
    print(f"ack ms, metrics off: {summary(off)}")
    print(f"ack ms, metrics on : {summary(on)}   on/off p99 {percentile(on, 0.99) / percentile(off, 0.99):.2f}x")
    print(f"p99 on/off         : each round {per_round}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--metrics", action="store_true", help="compare the bot with metrics on against off")
    parser.add_argument("--postgresql", help="a server where a fresh database is made for each run (else SQLite)")
    arguments = parser.parse_args()
    loop = LoopThread()
    print(
        f"signed /resume-campaign over HTTP across 10 installed workspaces, {arguments.processes} web processes, "
        f"auth.test {AUTH_TEST_SECONDS} s, {'PostgreSQL' if arguments.postgresql else 'SQLite'}"
    )
    for size in arguments.bursts:
        bots, floors = [], []
        kind = "postgresql" if arguments.postgresql else "sqlite"
        if arguments.metrics:
            metrics_rounds(loop, size, arguments, kind)
            continue
        for _ in range(arguments.rounds):
            with tempfile.TemporaryDirectory() as dir, fresh_database(kind, Path(dir), arguments.postgresql) as url:
                bots.append(bot_run(loop, size, arguments.processes, url, Path(dir)))
            floors.append(floor_run(loop, size, arguments.processes))
        acks, floor = [a for bot in bots for a in bot["acks"]], [a for one in floors for a in one]
        ratios = [percentile(bot["acks"], 0.99) / percentile(one, 0.99) for bot, one in zip(bots, floors, strict=True)]
        per_round = ", ".join(f"{ratio:.2f}x" for ratio in ratios)
        late = sum(ack > 3000 for ack in acks)
        print(f"\n== burst {size}, Truedy 0.2 s per resume, {arguments.rounds} rounds")
        print(f"ack ms, bot   : {summary(acks)}   answers later than 3 s: {late} of {len(acks)}")
        ratio = percentile(acks, 0.99) / percentile(floor, 0.99)
        print(f"ack ms, floor : {summary(floor)}   bot/floor p99 {ratio:.2f}x")
        print(f"p99 bot/floor : each round {per_round}")
        end_to_end = max(bot["end_to_end"] for bot in bots)
        rss = max(bot["rss_mib"] for bot in bots)
        print(f"every result posted after at most {end_to_end:.1f} s; web processes' peak RSS {rss:.1f} MiB")
        print(f"auth.test calls during the bursts: {sum(bot['auth_tests'] for bot in bots)}")
    loop.stop()


if __name__ == "__main__":
    main()
