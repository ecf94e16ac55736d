"""A burst of slash commands over Socket Mode to the real worker, with a slow fake Truedy.

    .venv/bin/python -m bench.burst [--commands 100] [--truedy-latency 2.5]

Prints ack latency (p50/p99/max), acks that missed Slack's 3 s, the time until every resume reached
Truedy and every result was posted, peak concurrent Truedy requests and the worker's peak RSS.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tests.fakes.loop import LoopThread, wait_until
from tests.fakes.slack import FakeSlack
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import WorkerProcess, worker_env

KEY = "truedy_BenchKey000000000000000001"
CHANNEL = "C0BENCH01"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run(commands: int, truedy_latency: float, database_url: str | None) -> None:
    loop = LoopThread()
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    truedy.delay = truedy_latency
    ids = [f"batch_bench{n:05d}" for n in range(commands)]
    truedy.add(KEY, *(campaign(campaign_id) for campaign_id in ids))
    with tempfile.TemporaryDirectory() as workdir:
        database = {"DATABASE_URL": database_url} if database_url else {}
        worker = WorkerProcess(worker_env(slack, truedy, TRUEDY_API_KEY=KEY, **database), Path(workdir))
        try:
            worker.wait_started(slack)
            # One command first so that one-time work (Bolt's lazy auth.test) is not in the burst.
            slack.wait_ack(slack.push("slash_commands", slack.slash_command("help", channel_id=CHANNEL)))
            updates_before = len(slack.calls_to("chat.update"))

            started = time.monotonic()
            envelopes = slack.push_many(
                [("slash_commands", slack.slash_command(campaign_id, channel_id=CHANNEL)) for campaign_id in ids]
            )
            acks = [slack.wait_ack(envelope, timeout=30) for envelope in envelopes]
            wait_until(lambda: len(truedy.resumes()) >= commands, 120, "every resume to reach Truedy")
            reached_truedy = time.monotonic() - started
            wait_until(
                lambda: len(slack.calls_to("chat.update")) - updates_before >= commands,
                120,
                "every result to be posted",
            )
            all_posted = time.monotonic() - started
            peak_rss_mib = worker.peak_rss_kib() / 1024
        finally:
            worker.terminate()
            slack.stop()
            truedy.stop()
            loop.stop()

    latencies_ms = [ack.latency * 1000 for ack in acks]
    print(
        f"burst of {commands} /resume-campaign commands, fake Truedy taking {truedy_latency} s per resume, "
        f"database {'PostgreSQL' if database_url else 'SQLite'}"
    )
    print(
        f"ack latency ms: p50 {statistics.median(latencies_ms):.1f}  p99 {percentile(latencies_ms, 0.99):.1f}  "
        f"max {max(latencies_ms):.1f}"
    )
    print(f"acks later than 3 s: {sum(1 for ms in latencies_ms if ms >= 3000)} of {commands}")
    print(f"every resume reached Truedy after {reached_truedy:.2f} s; every result posted after {all_posted:.2f} s")
    print(f"peak concurrent Truedy requests: {truedy.peak_in_flight}")
    print(f"worker peak RSS: {peak_rss_mib:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=100)
    parser.add_argument("--truedy-latency", type=float, default=2.5)
    parser.add_argument("--database-url", help="an empty database for the worker (default: a new SQLite file)")
    arguments = parser.parse_args()
    run(arguments.commands, arguments.truedy_latency, arguments.database_url)


if __name__ == "__main__":
    main()
