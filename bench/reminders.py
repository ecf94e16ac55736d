"""Reminders at scale: many paused campaigns, each already alerted, whose first reminder falls due within one
window, taken and posted by real worker processes that also run the paused-campaign watcher; compared in the same
run, round by round, with the same workers and campaigns and reminders off.

    .venv/bin/python -m bench.reminders [--workspaces 1000] [--per-workspace 10] [--processes 1 2]
        [--databases sqlite postgresql] [--postgresql postgresql://postgres@127.0.0.1:5432/test]
        [--window 60] [--rounds 3] [--conditions off on waiting] [--grace 30] [--warmup 60] [--interval 60]
        [--remind-after 10]

Each round starts on a fresh database: installed workspaces (each with its own bot token, Truedy key and alert
channel, as in bench.watch_scale) with `--per-workspace` campaigns paused and alerted (an open alert, its message
in the fake Slack); Truedy answers in 0.6 s, 2 s for a tenth of the keys (lists and single campaigns alike); the
watcher polls every `--interval` seconds (PAUSED_POLL_SECONDS, the bot's default 60). After `--warmup` seconds
(the first polls), for `--window` seconds, reminders are:
- off: REMIND_AFTER_MINUTES=0, no reminder rows (the watcher as it was);
- on: REMIND_AFTER_MINUTES=`--remind-after`, REMIND_MAX=5, a waiting reminder per alert whose first is due, by
  the database's clock, evenly over the window (a workspace's reminders spread apart, so per-channel pacing
  delays none; the second is due `--remind-after` minutes later, after the run);
- waiting (only if named in `--conditions`): on, with the same rows, all due an hour later: what the reminder
  runner costs while nothing is due.
The conditions take turns, `--rounds` times each (off, on, off, on… by default).

Prints, per round: the workers' CPU over the window (seconds a minute, % of a core, all workers), PostgreSQL's
(the whole server's, so anything else running on it counts), the workers' RSS and the watcher's polls per
workspace and interval; with reminders on, how many were posted by the window's end and by `--grace` seconds
later, how late each was after its due time (from the due time to the fake Slack's receipt of its
chat.postMessage: p50, p99, max), how many within 5 s, how many alert threads got more than one (must be 0), how
many were still missing, the reminder rows' states, and the workers' warnings and errors (with the first of each).
Then, per database and worker count: the mean CPU of each condition and its ratio to off, the workers' CPU per
reminder posted, and the lateness over every round. Everything runs on this machine; the fakes run in this
process.
"""

import argparse
import os
import secrets
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select

from bench.load import percentile
from bench.watch_scale import LIST_SECONDS, SLOW_LIST_SECONDS, cpu_seconds, key, postgres_cpu_seconds, rss_mib, team
from bot import storage
from bot.storage.keybox import KeyBox
from tests.fakes.databases import fresh_database
from tests.fakes.loop import LoopThread
from tests.fakes.slack import CLIENT_ID, CLIENT_SECRET, FakeSlack, Identity
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import ENCRYPTION_KEY, WorkerProcess, worker_env

REMIND_MAX = 5
# From the database's clock read after the warm-up to the window's start: time to write every reminder row.
LEAD = timedelta(seconds=5)
# "waiting": the reminders are due this long after the window's start (none during the measurement).
WAITING = timedelta(hours=1)
ON_TIME = 5.0  # the requirement: each reminder posted within this many seconds of its time (p99)
# What the workers log that a reminder round should not show.
TROUBLE = {"reminder_failed", "reminders_failed", "reminder_refused", "reminder_unknown", "reminder_put_off"}


@dataclass(frozen=True)
class Alert:
    team_id: str
    channel: str
    campaign_id: str
    message_ts: str


@dataclass
class Round:
    condition: str  # "off", "on" or "waiting"
    cpu: float  # the workers', seconds over the window
    pg_cpu: float
    window: float  # seconds actually measured
    rss: list[float]
    polls: float  # per workspace and interval, over the window
    cpu_to_grace: float = 0.0  # the workers', seconds from the window's start to the end of the grace period…
    to_grace: float = 0.0  # …that long
    lateness: list[float] = field(default_factory=list)  # seconds after due, of each reminder posted
    in_window: int = 0  # reminders posted by the window's end
    due: int = 0
    twice: int = 0  # alert threads with more than one reminder
    missing: int = 0  # due, not posted by the window's end + grace
    states: dict[str, int] = field(default_factory=dict)
    trouble: dict[str, int] = field(default_factory=dict)  # worker log events and levels worth a look…
    examples: dict[str, str] = field(default_factory=dict)  # …and the first of each: its message and exception


def seed(database_url: str, workspaces: int, per_workspace: int, slack: FakeSlack, truedy: FakeTruedy) -> list[Alert]:
    """Installed and connected workspaces, written straight into the database (as installs and setups would),
    each with `per_workspace` paused campaigns already alerted; the alerts, campaign by campaign across the
    workspaces (so that consecutive ones are in different channels)."""
    engine = storage.connect(database_url)
    storage.migrate(engine)
    keybox = KeyBox(ENCRYPTION_KEY)
    keybox.check_against(engine)
    with engine.connect() as connection:
        now = storage.database_now(connection)
    bots, settings, rows, alerts = [], [], [], []
    for n in range(workspaces):
        token = f"xoxb-{team(n)}-{secrets.token_hex(6)}"
        slack.tokens[token] = Identity(team(n))
        channel = f"C{n:08d}"
        paused = [campaign(f"batch_r{n:07d}p{p:03d}") for p in range(per_workspace)]
        truedy.add(key(n), *paused)
        if n % 10 == 0:
            truedy.delays_by_key[key(n)] = SLOW_LIST_SECONDS  # by the key as sent, without "Bearer "
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
                "alert_channel": channel,
                "allowed_users": "[]",
                "allowed_usergroups": "[]",
                "updated_by": "U0ADMIN01",
                "updated_at": now,
            }
        )
        for item in paused:
            ts = slack.add_message(channel, [], f"Campaign {item['name']} ({item['id']}) is paused")
            alerts.append(Alert(team(n), channel, item["id"], ts))
            rows.append(
                {
                    "enterprise_id": "",
                    "team_id": team(n),
                    "campaign_id": item["id"],
                    "state": "open",
                    "channel": channel,
                    "message_ts": ts,
                    "changed_at": now,
                }
            )
    with engine.begin() as connection:
        for table, values in (
            (storage.slack_bots, bots),
            (storage.workspaces, settings),
            (storage.campaign_alerts, rows),
        ):
            for start in range(0, len(values), 2000):
                connection.execute(insert(table), values[start : start + 2000])
    engine.dispose()
    truedy.delay = LIST_SECONDS
    return sorted(alerts, key=lambda alert: (alert.campaign_id[-3:], alert.team_id))


def add_reminders(engine, alerts: list[Alert], start: datetime, window: float, remind_after: timedelta) -> dict:
    """A waiting reminder per alert, its first due evenly over the window from `start` (the database's clock):
    (channel, message_ts) -> when it is due."""
    due = {(a.channel, a.message_ts): start + timedelta(seconds=window * i / len(alerts)) for i, a in enumerate(alerts)}
    rows = [
        {
            "enterprise_id": "",
            "team_id": alert.team_id,
            "kind": "alert",
            "campaign_id": alert.campaign_id,
            "digest_id": None,
            "channel": alert.channel,
            "message_ts": alert.message_ts,
            "paused_at": due[(alert.channel, alert.message_ts)] - remind_after,
            "next_at": due[(alert.channel, alert.message_ts)],
            "sent": 0,
            "state": "waiting",
            "snoozed_for_good": False,
            "created_at": start - LEAD,
        }
        for alert in alerts
    ]
    with storage.writing_first(engine).begin() as connection:
        for first in range(0, len(rows), 2000):
            connection.execute(insert(storage.pause_reminders), rows[first : first + 2000])
    return due


def one_round(
    loop: LoopThread,
    kind: str,
    server: str | None,
    arguments: argparse.Namespace,
    processes: int,
    condition: str,
) -> Round:
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    remind_after = timedelta(minutes=arguments.remind_after)
    try:
        with tempfile.TemporaryDirectory() as folder, fresh_database(kind, Path(folder), server) as url:
            workdir = Path(folder)
            alerts = seed(url, arguments.workspaces, arguments.per_workspace, slack, truedy)
            env = worker_env(
                slack,
                truedy,
                SLACK_CLIENT_ID=CLIENT_ID,
                SLACK_CLIENT_SECRET=CLIENT_SECRET,
                SLACK_SIGNING_SECRET="8f742231b10e8888abcd99yyyzzz85a5",
                DATABASE_URL=url,
                PAUSED_POLL_SECONDS=str(int(arguments.interval)),
                REMIND_AFTER_MINUTES=str(0 if condition == "off" else arguments.remind_after),
                REMIND_MAX=str(REMIND_MAX),
            )
            del env["SLACK_BOT_TOKEN"]
            workers = [WorkerProcess(env, workdir) for _ in range(processes)]
            engine = storage.connect(url)
            try:
                for worker in workers:
                    worker.wait_started(slack, timeout=120)
                time.sleep(arguments.warmup)  # the first polls, at each workspace's point of the interval
                with engine.connect() as connection:
                    start = storage.database_now(connection) + LEAD
                due = {}
                if condition != "off":  # "waiting": due an hour after the window, none before
                    first = start + (WAITING if condition == "waiting" else timedelta(0))
                    due = add_reminders(engine, alerts, first, arguments.window, remind_after)
                if (behind := time.time() - start.timestamp()) > 0:
                    print(f"  (the reminders were written {behind:.1f} s after the window's start)", flush=True)
                return measure(slack, truedy, workers, engine, arguments, start, due, condition)
            finally:
                engine.dispose()
                for worker in workers:
                    worker.terminate()
    finally:
        slack.stop()
        truedy.stop()


def measure(slack, truedy, workers, engine, arguments, start: datetime, due: dict, condition: str) -> Round:
    pids = [worker.pid for worker in workers]
    pg_cpu_now = postgres_cpu_seconds if engine.dialect.name == "postgresql" else lambda: 0.0
    wall = time.time() - time.monotonic()  # the fakes' clock (time.monotonic()) to the wall clock, once
    time.sleep(max(0.0, start.timestamp() - time.time()))
    began, cpu_at_start, pg_cpu = time.monotonic(), cpu_seconds(pids), pg_cpu_now()
    time.sleep(max(0.0, start.timestamp() + arguments.window - time.time()))
    elapsed = time.monotonic() - began
    worker_cpu, pg_cpu = cpu_seconds(pids) - cpu_at_start, pg_cpu_now() - pg_cpu
    rss = [rss_mib(pid) for pid in pids]
    window_end = began + elapsed
    lists = sum(began <= request.at <= window_end for request in truedy.lists())
    polls = lists / arguments.workspaces / (elapsed / arguments.interval)
    result = Round(condition, worker_cpu, pg_cpu, elapsed, rss, polls)
    if condition == "on":
        time.sleep(max(0.0, start.timestamp() + arguments.window + arguments.grace - time.time()))
        result.cpu_to_grace, result.to_grace = cpu_seconds(pids) - cpu_at_start, time.monotonic() - began
    posts: dict[tuple[str, str], list[float]] = {}
    for call in slack.calls_to("chat.postMessage"):
        thread = (str(call.params.get("channel")), str(call.params.get("thread_ts")))
        if call.answer.get("ok") and thread in due:
            posts.setdefault(thread, []).append(call.at)
    result.due = len(due)
    result.lateness = [min(times) + wall - due[thread].timestamp() for thread, times in posts.items()]
    result.in_window = sum(min(times) <= window_end for times in posts.values())
    result.twice = sum(len(times) > 1 for times in posts.values())
    result.missing = len(due) - len(posts)
    with engine.connect() as connection:
        table = storage.pause_reminders
        states = connection.execute(
            select(table.c.state, table.c.sent, func.count()).group_by(table.c.state, table.c.sent)
        ).all()
    result.states = {f"{state} (sent {sent})": count for state, sent, count in states}
    trouble: Counter[str] = Counter()
    for worker in workers:
        for line in worker.log_lines():
            if line.get("event") in TROUBLE:
                name = str(line["event"])
            elif line.get("level") in ("warning", "error", "critical") or "unparsed" in line:
                name = f"{line.get('level', 'unparsed')}: {line.get('event', '')}"
            else:
                continue
            trouble[name] += 1
            exception = str(line.get("exception") or "").strip().splitlines()
            example = f"{line.get('message', line.get('unparsed'))}{f' ({exception[-1]})' if exception else ''}"
            result.examples.setdefault(name, example[:300])
    result.trouble = dict(trouble)
    if slack.refused:
        result.trouble["refused by the fake Slack"] = len(slack.refused)
        slack.refused.clear()
    return result


def lateness_line(lateness: list[float]) -> str:
    if not lateness:
        return "none posted"
    return (
        f"p50 {statistics.median(lateness):6.2f} s  p99 {percentile(lateness, 0.99):6.2f} s  "
        f"max {max(lateness):6.2f} s  min {min(lateness):5.2f} s"
    )


def report(kind: str, processes: int, number: int, result: Round, grace: float) -> None:
    per_minute = result.cpu / result.window * 60
    print(
        f"{kind:10} {processes} worker(s), round {number}, reminders {result.condition:7}: "
        f"worker CPU {per_minute:6.2f} s/min ({result.cpu / result.window * 100:5.1f}% of a core, all workers)   "
        + (f"PostgreSQL CPU {result.pg_cpu / result.window * 60:6.2f} s/min   " if kind == "postgresql" else "")
        + f"RSS {', '.join(f'{r:.0f}' for r in result.rss)} MiB   polls per workspace and interval {result.polls:.2f}",
        flush=True,
    )
    rows = ", ".join(f"{state} {count}" for state, count in sorted(result.states.items()))
    if result.condition == "waiting":
        print(
            f"    {result.due} waiting, due {WAITING.total_seconds() / 60:.0f} min after the window's start: posted "
            f"{len(result.lateness)} (must be 0); rows: {rows}",
            flush=True,
        )
    if result.condition == "on":
        on_time = sum(late <= ON_TIME for late in result.lateness)
        print(
            f"    {result.due} due over {result.window:.0f} s: posted {result.in_window} by the window's end "
            f"({result.in_window / result.window:.1f} a second), "
            f"{len(result.lateness)} by {grace:.0f} s later ({result.missing} missing); "
            f"within {ON_TIME:.0f} s of due {on_time} ({on_time / result.due:.1%} of those due); "
            f"threads reminded twice {result.twice}\n"
            f"    late after due: {lateness_line(result.lateness)}\n"
            f"    rows: {rows}",
            flush=True,
        )
    if result.trouble:
        print(f"    workers logged: {', '.join(f'{e} x{n}' for e, n in sorted(result.trouble.items()))}", flush=True)
        for name, example in sorted(result.examples.items()):
            print(f"      first {name}: {example}", flush=True)


def summarize(kind: str, processes: int, rounds: list[Round]) -> None:
    per_minute = {
        condition: [r.cpu / r.window * 60 for r in rounds if r.condition == condition]
        for condition in ("off", "on", "waiting")
    }
    off = per_minute["off"]
    lines = [f"== {kind}, {processes} worker(s): workers' CPU with reminders off {statistics.mean(off):.2f} s/min"]
    for condition in ("on", "waiting"):
        if not (figures := per_minute[condition]):
            continue
        pairs = ", ".join(f"{b / a:.2f}x" for a, b in zip(off, figures, strict=False) if a)
        ratio = statistics.mean(figures) / statistics.mean(off) if statistics.mean(off) else float("nan")
        lines.append(
            f"   {condition:7} {statistics.mean(figures):6.2f} s/min: {ratio:.2f}x of off (round by round {pairs})"
        )
    on = [r for r in rounds if r.condition == "on"]
    if on:
        lateness = [late for r in on for late in r.lateness]
        due, posted, missing = sum(r.due for r in on), len(lateness), sum(r.missing for r in on)
        on_time = sum(late <= ON_TIME for late in lateness)
        # What each reminder cost the workers: their CPU to the end of the grace period, less what they spend
        # with reminders off in as long.
        extra = sum(r.cpu_to_grace - statistics.mean(off) / 60 * r.to_grace for r in on)
        lines += [
            f"   reminders: {due} due, {posted} posted, {missing} missing, {on_time} within {ON_TIME:.0f} s "
            f"({on_time / due if due else 0:.1%}), threads reminded twice {sum(r.twice for r in on)}; "
            f"workers' CPU per reminder posted {extra / posted * 1000 if posted else 0:.1f} ms",
            f"   late after due, every round: {lateness_line(lateness)}",
        ]
    print("\n".join(lines) + "\n", flush=True)


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # a killed run still drops its database
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--per-workspace", type=int, default=10, help="paused campaigns, each alerted")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--postgresql", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--window", type=float, default=60.0, help="seconds the first reminders fall due over")
    parser.add_argument("--rounds", type=int, default=3, help="of each condition, in turn")
    parser.add_argument(
        "--conditions",
        nargs="+",
        choices=["off", "on", "waiting"],
        default=["off", "on"],
        help="waiting: reminders on, a row per alert, due only after the window (the runner's cost while none is due)",
    )
    parser.add_argument("--grace", type=float, default=30.0, help="seconds after the window for the late ones")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (default: one interval)")
    parser.add_argument("--interval", type=float, default=60.0, help="PAUSED_POLL_SECONDS")
    parser.add_argument("--remind-after", type=float, default=10.0, help="REMIND_AFTER_MINUTES, when on")
    arguments = parser.parse_args()
    if arguments.warmup is None:
        arguments.warmup = arguments.interval
    loop = LoopThread()
    print(
        f"{arguments.workspaces} workspaces x {arguments.per_workspace} paused campaigns, alerted; Truedy "
        f"{LIST_SECONDS} s ({SLOW_LIST_SECONDS} s for a tenth of the keys); PAUSED_POLL_SECONDS "
        f"{arguments.interval:g}; reminders on: REMIND_AFTER_MINUTES {arguments.remind_after:g}, REMIND_MAX "
        f"{REMIND_MAX}, the first of each due over {arguments.window:g} s; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n",
        flush=True,
    )
    for kind in arguments.databases:
        for processes in arguments.processes:
            rounds = []
            for number in range(1, arguments.rounds + 1):
                for condition in arguments.conditions:
                    result = one_round(loop, kind, arguments.postgresql, arguments, processes, condition)
                    report(kind, processes, number, result, arguments.grace)
                    rounds.append(result)
            summarize(kind, processes, rounds)
    loop.stop()


if __name__ == "__main__":
    main()
