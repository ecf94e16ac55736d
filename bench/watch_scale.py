"""The paused-campaign watcher at scale: many installed workspaces (each with its own bot token, Truedy key and
alert channel, and 3 campaigns paused and already alerted), polled by 1 or 2 real worker processes.

    .venv/bin/python -m bench.watch_scale [--workspaces 10 100 1000 10000] [--processes 1 2]
        [--databases sqlite postgresql] [--postgresql postgresql://postgres@127.0.0.1:5432/test]
        [--interval 60] [--intervals 2] [--warmup SECONDS] [--acks]

Truedy answers a list in 0.6 s, and in 2 s for a tenth of the keys. After one interval of warm-up, for
`--intervals` intervals it pauses a new campaign in a random workspace every tenth of the interval, and prints:
the workers' and PostgreSQL's CPU (seconds a minute, and % of a core), the workers' RSS, polls per workspace
and interval, the gaps between a workspace's polls (÷ the interval), the time from pause to alert (p50, max)
and duplicate alerts (must be 0). With `--acks`, it also pushes 10 `/resume-campaign help` commands at once
with every pause, from workspaces picked at random, and prints their ack latency (their handling then
counts in the workers' CPU). Everything runs on this machine; the fakes run in this
process.
"""

import argparse
import itertools
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import insert, make_url

from bot import storage
from bot.storage.keybox import KeyBox
from tests.fakes.loop import LoopThread, wait_until
from tests.fakes.slack import CLIENT_ID, CLIENT_SECRET, FakeSlack, Identity
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import ENCRYPTION_KEY, WorkerProcess, worker_env

LIST_SECONDS, SLOW_LIST_SECONDS = 0.6, 2.0
ACKS = 10  # commands pushed at once, ten times an interval, to measure acks while the watcher works
TICKS = os.sysconf("SC_CLK_TCK")


def team(n: int) -> str:
    return f"T{n:08d}"


def key(n: int) -> str:
    return f"truedy_BenchWatch{n:016d}"


def seed(database_url: str, workspaces: int, slack: FakeSlack, truedy: FakeTruedy) -> None:
    """Installed and connected workspaces, written straight into the database (as installs and setups
    would), each with 3 paused campaigns already alerted."""
    engine = storage.connect(database_url)
    storage.migrate(engine)
    keybox = KeyBox(ENCRYPTION_KEY)
    keybox.check_against(engine)
    now = datetime.now(UTC)
    bots, settings, alerts = [], [], []
    for n in range(workspaces):
        token = f"xoxb-{team(n)}-{secrets.token_hex(6)}"
        slack.tokens[token] = Identity(team(n))
        paused = [campaign(f"batch_w{n:07d}p{p}") for p in range(3)]
        truedy.add(key(n), *paused)
        if n % 10 == 0:
            truedy.delays_by_key[f"Bearer {key(n)}"] = SLOW_LIST_SECONDS
        bots.append(
            {
                "client_id": CLIENT_ID,
                "app_id": "A0APP0001",
                "enterprise_id": None,
                "team_id": team(n),
                "bot_token": keybox.seal(token),
                "bot_id": "B0BOT0001",
                "bot_user_id": "U0BOT0001",
                "bot_scopes": "commands,chat:write",
                "is_enterprise_install": False,
                "installed_at": now.replace(tzinfo=None),
            }
        )
        settings.append(
            {
                "enterprise_id": "",
                "team_id": team(n),
                "api_key_encrypted": keybox.seal(key(n)),
                "key_last4": key(n)[-4:],
                "key_source": "slack",
                "alert_channel": f"C{n:08d}",
                "allowed_users": "[]",
                "allowed_usergroups": "[]",
                "updated_by": "U0ADMIN01",
                "updated_at": now,
            }
        )
        alerts += [
            {
                "enterprise_id": "",
                "team_id": team(n),
                "campaign_id": item["id"],
                "state": "open",
                "channel": f"C{n:08d}",
                "message_ts": f"1.{n}{p}",
                "changed_at": now,
            }
            for p, item in enumerate(paused)
        ]
    with engine.begin() as connection:
        for table, rows in (
            (storage.slack_bots, bots),
            (storage.workspaces, settings),
            (storage.campaign_alerts, alerts),
        ):
            for start in range(0, len(rows), 2000):
                connection.execute(insert(table), rows[start : start + 2000])
    engine.dispose()
    truedy.delay = LIST_SECONDS


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        if (fields := _stat(pid)) is not None:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICKS


def postgres_cpu_seconds() -> float:
    """The server's CPU so far: its processes' own, and that of the backends that have exited (which the
    postmaster collected as its children's time)."""
    found = subprocess.run(["pgrep", "-u", "postgres"], capture_output=True, text=True).stdout.split()
    pids = {int(pid) for pid in found}
    total = 0
    for pid in pids:
        if (fields := _stat(pid)) is None:
            continue
        total += int(fields[11]) + int(fields[12])
        if int(fields[1]) not in pids:  # the postmaster: add its reaped children's
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / TICKS


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def run(
    kind: str,
    server: str | None,
    workspaces: int,
    processes: int,
    interval: float,
    intervals: float,
    warmup: float,
    probe_acks: bool,
) -> None:
    loop = LoopThread()
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        database_url, drop = database(kind, server, workdir)
        try:
            seed(database_url, workspaces, slack, truedy)
            env = worker_env(
                slack,
                truedy,
                SLACK_CLIENT_ID=CLIENT_ID,
                SLACK_CLIENT_SECRET=CLIENT_SECRET,
                SLACK_SIGNING_SECRET="8f742231b10e8888abcd99yyyzzz85a5",
                DATABASE_URL=database_url,
                PAUSED_POLL_SECONDS=str(int(interval)),
            )
            del env["SLACK_BOT_TOKEN"]
            workers = [WorkerProcess(env, workdir) for _ in range(processes)]
            try:
                for worker in workers:
                    worker.wait_started(slack, timeout=120)
                time.sleep(warmup)  # the first polls, at each workspace's point of the interval
                measure(slack, truedy, workers, workspaces, interval, intervals, kind, processes, probe_acks)
            finally:
                for worker in workers:
                    worker.terminate()
        finally:
            drop()
            slack.stop()
            truedy.stop()
            loop.stop()


def measure(
    slack,
    truedy,
    workers,
    workspaces: int,
    interval: float,
    intervals: float,
    kind: str,
    processes: int,
    probe_acks: bool,
):
    pids = [worker.pid for worker in workers]
    pg_cpu_now = postgres_cpu_seconds if kind == "postgresql" else lambda: 0.0
    started, worker_cpu, pg_cpu = time.monotonic(), cpu_seconds(pids), pg_cpu_now()
    lists_before = len(truedy.received)
    pauses: dict[str, float] = {}
    window = interval * intervals
    acks: list[str] = []
    for step in range(int(intervals * 10)):
        n = random.randrange(workspaces)
        campaign_id = f"batch_new{step:04d}w{n:07d}"
        truedy.add(key(n), campaign(campaign_id))
        pauses[campaign_id] = time.monotonic()
        if probe_acks:  # a burst of commands answered in their ack, from workspaces picked at random
            commands = [slack.slash_command("help", team_id=team(random.randrange(workspaces))) for _ in range(ACKS)]
            acks += slack.push_many([("slash_commands", command) for command in commands])
        time.sleep(max(0.0, started + (step + 1) * interval / 10 - time.monotonic()))
    time.sleep(max(0.0, started + window - time.monotonic()))
    elapsed = time.monotonic() - started
    worker_cpu, pg_cpu = cpu_seconds(pids) - worker_cpu, pg_cpu_now() - pg_cpu
    rss = [rss_mib(pid) for pid in pids]
    wait_until(lambda: all(alert_time(slack, c) for c in pauses), interval * 2, "every new pause alerted")
    delays = sorted(alert_time(slack, c) - at for c, at in pauses.items()) or [0.0]
    posts: dict[str, int] = {}
    for call in slack.calls_to("chat.postMessage"):
        for campaign_id in pauses:
            if campaign_id in (call.params.get("text") or ""):
                posts[campaign_id] = posts.get(campaign_id, 0) + 1
    duplicates = sum(count - 1 for count in posts.values())
    ack_ms = sorted(slack.wait_ack(envelope, timeout=10).latency * 1000 for envelope in acks) or [0.0]
    by_key: dict[str, list[float]] = {}
    for request in truedy.received[lists_before:]:
        if request.method == "GET" and request.path.endswith("/batch-calls") and request.at <= started + window:
            by_key.setdefault(request.authorization or "", []).append(request.at)
    polls = sum(len(times) for times in by_key.values())
    gaps = sorted(b - a for times in by_key.values() for a, b in itertools.pairwise(times))
    print(
        f"{kind:10} {workspaces:>6} workspaces, {processes} worker(s), interval {interval:.0f} s, "
        f"measured {elapsed:.0f} s:\n"
        f"  worker CPU {worker_cpu / elapsed * 60:6.2f} s/min ({worker_cpu / elapsed * 100:5.1f}% of a core, all "
        f"workers)   PostgreSQL CPU {pg_cpu / elapsed * 60:6.2f} s/min   RSS {', '.join(f'{r:.0f}' for r in rss)} MiB\n"
        f"  polls per workspace and interval {polls / workspaces / (elapsed / interval):.2f}   "
        f"gaps ÷ interval: p50 {quantile(gaps, 0.5) / interval:.2f}, p99 {quantile(gaps, 0.99) / interval:.2f}, "
        f"max {(gaps[-1] if gaps else 0) / interval:.2f}, min {(gaps[0] if gaps else 0) / interval:.2f}\n"
        f"  pause to alert: p50 {quantile(delays, 0.5):.1f} s, max {delays[-1]:.1f} s "
        f"(÷ interval {delays[-1] / interval:.2f})   duplicate alerts {duplicates}"
        + (
            f"\n  acks ({len(acks)} commands, {ACKS} at once): p50 {quantile(ack_ms, 0.5):.1f} ms, "
            f"p99 {quantile(ack_ms, 0.99):.1f} ms"
            if acks
            else ""
        ),
        flush=True,
    )


def alert_time(slack: FakeSlack, campaign_id: str) -> float | None:
    for call in slack.calls_to("chat.postMessage"):
        if campaign_id in (call.params.get("text") or "") and call.answer.get("ok"):
            return call.at
    return None


def quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] if len(values) > 1 else values[0]


def database(kind: str, server: str | None, workdir: Path):
    if kind == "sqlite":
        return f"sqlite:///{workdir}/bench.sqlite3", lambda: None
    assert server, "--postgresql is required for PostgreSQL"
    name = f"bench_watch_{secrets.token_hex(4)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(server).set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a killed run still drops its database
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspaces", type=int, nargs="+", default=[10, 100, 1000, 10000])
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--postgresql", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--interval", type=float, default=60.0)
    parser.add_argument("--intervals", type=float, default=2.0, help="measured; under 0.1, no pauses are made")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (default: one interval)")
    parser.add_argument("--acks", action="store_true", help="also push commands and measure their acks")
    arguments = parser.parse_args()
    for kind in arguments.databases:
        for workspaces in arguments.workspaces:
            for processes in arguments.processes:
                warmup = arguments.warmup if arguments.warmup is not None else arguments.interval
                run(
                    kind,
                    arguments.postgresql,
                    workspaces,
                    processes,
                    arguments.interval,
                    arguments.intervals,
                    warmup,
                    arguments.acks,
                )


if __name__ == "__main__":
    main()
