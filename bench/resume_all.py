"""Resume all over many campaigns against a fake Truedy that allows a fixed number of requests a minute per
key, as the real one does (429 with `details.reset_at`, no headers).

    .venv/bin/python -m bench.resume_all [--campaigns 250] [--limit 100] [--paces 90,100]

For each pace (RESUME_ALL_PER_MINUTE), the real worker runs `/resume-campaign resume-all` and its button;
prints the time from the click to the summary, the 429s met, and the ideal: the campaigns at the rate limit.
"""

import argparse
import tempfile
import time
from pathlib import Path

from tests.fakes.loop import LoopThread, wait_until
from tests.fakes.slack import FakeSlack
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import WorkerProcess, worker_env

KEY = "truedy_BenchKey000000000000000001"
CHANNEL = "C0BENCH01"


def run(campaigns: int, limit: int, pace: int, truedy_latency: float) -> None:
    loop = LoopThread()
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    truedy.delay, truedy.rate_limit, truedy.rate_window = truedy_latency, limit, 60.0
    truedy.add(KEY, *(campaign(f"batch_bench{n:05d}") for n in range(campaigns)))
    with tempfile.TemporaryDirectory() as workdir:
        env = worker_env(slack, truedy, TRUEDY_API_KEY=KEY, RESUME_ALL_PER_MINUTE=str(pace))
        worker = WorkerProcess(env, Path(workdir))
        try:
            worker.wait_started(slack)
            command = slack.slash_command("resume-all", channel_id=CHANNEL)
            slack.wait_ack(slack.push("slash_commands", command))
            offer = wait_until(lambda: slack.responses_to(command), 60, "the count")[0].params
            click = slack.click_private(offer, "resume_all", CHANNEL)
            started = time.monotonic()
            slack.wait_ack(slack.push("interactive", click))
            wait_until(
                lambda: [c for c in slack.posts_in(CHANNEL) if c.params.get("thread_ts")],
                campaigns * 60 / min(limit, pace) * 2 + 60,
                "the summary",
            )
            took = time.monotonic() - started
            summary = next(c for c in slack.posts_in(CHANNEL) if c.params.get("thread_ts")).params["text"]
            updates = len(slack.calls_to("chat.update"))
        finally:
            worker.terminate()
            slack.stop()
            truedy.stop()
            loop.stop()
    resumes = truedy.resumes()
    ideal = campaigns * 60 / limit
    print(
        f"resume all of {campaigns}, Truedy allowing {limit} a minute per key, RESUME_ALL_PER_MINUTE={pace}: "
        f"{took:.1f} s (ideal at the rate limit {ideal:.0f} s, {took / ideal:.2f}x)"
    )
    print(f"  {summary}")
    print(
        f"  resume requests {len(resumes)}, of which 429: {sum(r.status == 429 for r in resumes)}; "
        f"progress updates {updates}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=250)
    parser.add_argument("--limit", type=int, default=100, help="requests a minute the fake Truedy allows per key")
    parser.add_argument("--paces", default="90,100", help="RESUME_ALL_PER_MINUTE values to run, comma-separated")
    parser.add_argument("--truedy-latency", type=float, default=0.05)
    arguments = parser.parse_args()
    for pace in arguments.paces.split(","):
        run(arguments.campaigns, arguments.limit, int(pace), arguments.truedy_latency)


if __name__ == "__main__":
    main()
