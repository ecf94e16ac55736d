"""Bursts of slash commands and Resume clicks across 10 workspaces (of one Enterprise Grid organisation, served
by its org-wide bot token), for the worker as shipped, each compared in the same run with a bare Bolt app
that only acks (the floor, bench/floor_app.py).

    .venv/bin/python -m bench.load [--bursts 100 500] [--latencies 0.2 2.5] [--rounds 3] [--metrics]

`--metrics`: instead of the floor, the bot with metrics off and on (METRICS_TOKEN, METRICS_PORT), in turn.

For each burst size and Truedy latency, over `--rounds` bursts each (the floor's and the bot's in turn, so
that both see the same machine): ack latency p50/p99/max (bot and floor) over every ack of every round, with
the bot/floor ratio of each round beside it (one burst's p99 is its 5th slowest ack: it moves by a third
between runs on a 2-core machine), acks later than 3 s,
end-to-end time per resume (request pushed to result posted), peak concurrent Truedy requests per key,
worker peak RSS and CPU time per resume. Everything runs on this machine: fakes, floor, worker.
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.fakes.loop import LoopThread, wait_until
from tests.fakes.slack import BOT_TEAM, FakeSlack
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import REPO, WorkerProcess, worker_env

WORKSPACES = [BOT_TEAM, *(f"T0LOAD{n:03d}" for n in range(1, 10))]
CHANNEL = "C0LOAD001"
RESULT = re.compile(r"`(batch_load\d+)` is resumed")


METRICS_TOKEN = "bench-metrics-token-000001"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def key_of(team: str) -> str:
    return f"truedy_Load{team}Key00000000"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def requests_for(slack: FakeSlack, size: int, prefix: str) -> list[tuple[str, dict, str]]:
    """(envelope type, payload, campaign id): commands and clicks alternating, workspaces in turn."""
    made = []
    for n in range(size):
        team, campaign_id = WORKSPACES[n % len(WORKSPACES)], f"batch_{prefix}{n:05d}"
        if n % 2 == 0:
            made.append(
                ("slash_commands", slack.slash_command(campaign_id, channel_id=CHANNEL, team_id=team), campaign_id)
            )
            continue
        button = {
            "type": "button",
            "action_id": "resume_campaign",
            "value": campaign_id,
            "text": {"type": "plain_text", "text": "Resume"},
        }
        ts = slack.add_message(CHANNEL, [{"type": "actions", "elements": [button]}], f"{campaign_id} paused")
        made.append(("interactive", slack.click(CHANNEL, ts, user_id="U0BOB0001", team_id=team), campaign_id))
    return made


def ack_latencies(slack: FakeSlack, envelopes: list[str]) -> list[float]:
    return [slack.wait_ack(envelope, timeout=60).latency * 1000 for envelope in envelopes]


def floor_run(loop: LoopThread, size: int, workdir: Path) -> list[float]:
    slack = FakeSlack(loop).start()
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(REPO),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_APP_TOKEN": slack.app_token,
        "SLACK_API_URL": slack.api_url,
    }
    floor = subprocess.Popen(
        [sys.executable, "-m", "bench.floor_app"],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        slack.wait_connected()
        slack.wait_ack(slack.push("slash_commands", slack.slash_command("warm-up")))
        made = requests_for(slack, size, "floor")
        return ack_latencies(slack, slack.push_many([(kind, payload) for kind, payload, _ in made]))
    finally:
        floor.terminate()
        floor.wait(30)
        slack.stop()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bot_run(loop: LoopThread, size: int, latency: float, workdir: Path, metrics: bool = False) -> dict:
    slack, truedy = FakeSlack(loop, enterprise_id="E0LOAD001").start(), FakeTruedy(loop).start()
    truedy.delay = latency
    for n in range(size):
        team = WORKSPACES[n % len(WORKSPACES)]
        truedy.add(key_of(team), campaign(f"batch_load{n:05d}"))
    keys = {team: key_of(team) for team in WORKSPACES}
    counting = {"METRICS_TOKEN": METRICS_TOKEN, "METRICS_PORT": str(free_port())} if metrics else {}
    worker = WorkerProcess(worker_env(slack, truedy, TRUEDY_API_KEYS=json.dumps(keys), **counting), workdir)
    try:
        worker.wait_started(slack)
        slack.wait_ack(slack.push("slash_commands", slack.slash_command("help", channel_id=CHANNEL)))
        made = requests_for(slack, size, "load")
        cpu_before = cpu_seconds(worker.pid)
        envelopes = slack.push_many([(kind, payload) for kind, payload, _ in made])
        pushed = {
            campaign_id: slack.acks[envelope].sent_at
            for (_, _, campaign_id), envelope in zip(made, envelopes, strict=True)
        }
        latencies = ack_latencies(slack, envelopes)

        def results() -> dict[str, float]:
            posted = {}
            for call in slack.calls_to("chat.postMessage"):
                found = RESULT.search(call.params.get("text") or "") if call.params.get("thread_ts") else None
                if found:
                    posted[found.group(1)] = call.at
            return posted

        done = wait_until(lambda: len(results()) >= size and results(), 180, "every result")
        cpu = cpu_seconds(worker.pid) - cpu_before
        end_to_end = [done[campaign_id] - pushed[campaign_id] for campaign_id in pushed]
        return {
            "acks": latencies,
            "end_to_end": end_to_end,
            "peak_per_key": max(truedy.peak_in_flight_by_key.values()),
            "peak_total": truedy.peak_in_flight,
            "rss_mib": worker.peak_rss_kib() / 1024,
            "cpu_ms_per_resume": cpu * 1000 / size,
            "resumed": len(truedy.resumes()),
        }
    finally:
        worker.terminate()
        slack.stop()
        truedy.stop()


def summary(values: list[float]) -> str:
    return f"p50 {statistics.median(values):7.1f}  p99 {percentile(values, 0.99):7.1f}  max {max(values):7.1f}"


def rounds_of(loop: LoopThread, size: int, latency: float, count: int) -> tuple[dict, list[float], str]:
    """`count` bursts of the floor and of the bot in turn: the bot's figures over all of them, the floor's
    acks, and each round's p99 ratio."""
    floor: list[float] = []
    rounds: list[dict] = []
    for _ in range(count):
        with tempfile.TemporaryDirectory() as workdir:
            floor_round = floor_run(loop, size, Path(workdir))
            rounds.append(bot_run(loop, size, latency, Path(workdir)) | {"floor": floor_round})
        floor += floor_round
    bot = {
        "acks": [ack for one in rounds for ack in one["acks"]],
        "end_to_end": [seconds for one in rounds for seconds in one["end_to_end"]],
        "peak_per_key": max(one["peak_per_key"] for one in rounds),
        "peak_total": max(one["peak_total"] for one in rounds),
        "rss_mib": max(one["rss_mib"] for one in rounds),
        "cpu_ms_per_resume": statistics.mean(one["cpu_ms_per_resume"] for one in rounds),
        "resumed": sum(one["resumed"] for one in rounds),
    }
    per_round = ", ".join(f"{percentile(one['acks'], 0.99) / percentile(one['floor'], 0.99):.2f}x" for one in rounds)
    return bot, floor, per_round


def metrics_rounds(loop: LoopThread, size: int, latency: float, count: int) -> None:
    """`count` bursts of the bot without metrics and with them (METRICS_TOKEN and METRICS_PORT), in turn."""
    without: list[list[float]] = []
    with_metrics: list[list[float]] = []
    for _ in range(count):
        with tempfile.TemporaryDirectory() as workdir:
            without.append(bot_run(loop, size, latency, Path(workdir))["acks"])
        with tempfile.TemporaryDirectory() as workdir:
            with_metrics.append(bot_run(loop, size, latency, Path(workdir), metrics=True)["acks"])
    off, on = [a for one in without for a in one], [a for one in with_metrics for a in one]
    per_round = ", ".join(
        f"{percentile(b, 0.99) / percentile(a, 0.99):.2f}x" for a, b in zip(without, with_metrics, strict=True)
    )
    print(f"\n== burst {size}, Truedy {latency} s per resume, {count} rounds, metrics off and on in turn")
    print(f"ack ms, metrics off: {summary(off)}")
    print(f"ack ms, metrics on : {summary(on)}   on/off p99 {percentile(on, 0.99) / percentile(off, 0.99):.2f}x")
    print(f"p99 on/off         : each round {per_round}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bursts", type=int, nargs="+", default=[100, 500])
    parser.add_argument("--latencies", type=float, nargs="+", default=[0.2, 2.5])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--metrics", action="store_true", help="compare the bot with metrics on against off")
    arguments = parser.parse_args()
    loop = LoopThread()
    print(f"mixed bursts (half /resume-campaign, half Resume clicks) across {len(WORKSPACES)} workspaces")
    for size in arguments.bursts:
        for latency in arguments.latencies:
            if arguments.metrics:
                metrics_rounds(loop, size, latency, arguments.rounds)
                continue
            bot, floor, per_round = rounds_of(loop, size, latency, arguments.rounds)
            missed = sum(1 for ms in bot["acks"] if ms >= 3000)
            ratio_p50 = statistics.median(bot["acks"]) / statistics.median(floor)
            ratio_p99 = percentile(bot["acks"], 0.99) / percentile(floor, 0.99)
            print(f"\n== burst {size}, Truedy {latency} s per resume, {arguments.rounds} rounds")
            print(f"ack ms, bot   : {summary(bot['acks'])}   acks later than 3 s: {missed} of {len(bot['acks'])}")
            print(f"ack ms, floor : {summary(floor)}   bot/floor p50 {ratio_p50:.2f}x, p99 {ratio_p99:.2f}x")
            print(f"p99 bot/floor : each round {per_round}")
            print(f"end to end s  : {summary(bot['end_to_end'])}   ({bot['resumed']} resumes reached Truedy)")
            print(f"Truedy        : peak {bot['peak_per_key']} concurrent per key, {bot['peak_total']} in all")
            print(
                f"worker        : peak RSS {bot['rss_mib']:.1f} MiB, CPU {bot['cpu_ms_per_resume']:.2f} ms per resume"
            )
            sys.stdout.flush()
    loop.stop()


if __name__ == "__main__":
    main()
