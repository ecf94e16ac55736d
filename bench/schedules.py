"""How late scheduled resumes fire: many schedules due in the same minute, run by several worker processes on
one database, each resumed once.

    .venv/bin/python -m bench.schedules [--schedules 1000] [--processes 2] [--spreads 60 0]
                                        [--postgresql postgresql://…/test]

For each spread (the schedules' due times evenly over that many seconds; 0: all at the same instant), prints
how long after its due time each schedule was taken by a process (the database's clock) and its resume reached
Truedy (p50, p99, max), how many were resumed more than once (must be 0), and the workers' CPU. Truedy answers
each resume in 0.2 s. Everything runs on this machine.
"""

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from bench.load import cpu_seconds, percentile
from bot import storage
from bot.storage.schedules import ScheduledResumes
from bot.storage.workspace_settings import WorkspaceId
from tests.fakes.databases import fresh_database
from tests.fakes.loop import LoopThread, wait_until
from tests.fakes.slack import BOT_TEAM, FakeSlack
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import WorkerProcess, worker_env

KEY = "truedy_BenchKey000000000000000001"
CHANNEL = "C0BENCH01"
# Time to write every schedule before the first is due.
LEAD = timedelta(seconds=20)


def run(loop: LoopThread, count: int, processes: int, spread: float, kind: str, server: str | None) -> dict:
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    truedy.delay = 0.2
    truedy.add(KEY, *(campaign(f"batch_sched{n:05d}") for n in range(count)))
    with tempfile.TemporaryDirectory() as folder, fresh_database(kind, Path(folder), server) as url:
        env = worker_env(slack, truedy, TRUEDY_API_KEY=KEY, DATABASE_URL=url)
        workers = []
        try:
            for number in range(processes):
                workdir = Path(folder) / f"worker{number}"
                workdir.mkdir()
                workers.append(WorkerProcess(env, workdir))
                workers[-1].wait_started(slack)
            engine = storage.connect(url)
            schedules = ScheduledResumes(engine)
            first = schedules.now() + LEAD
            for n in range(count):
                due = first + timedelta(seconds=spread * n / count)
                schedules.add(WorkspaceId("", BOT_TEAM), f"batch_sched{n:05d}", "U0BENCH01", due, CHANNEL, "command")
            cpu_before = sum(cpu_seconds(worker.pid) for worker in workers)
            wait_until(lambda: len(truedy.resumes()) >= count, LEAD.total_seconds() + spread + 300, "every resume")
            cpu = sum(cpu_seconds(worker.pid) for worker in workers) - cpu_before
            with engine.connect() as connection:
                rows = connection.execute(
                    select(
                        storage.scheduled_resumes.c.campaign_id,
                        storage.scheduled_resumes.c.due_at,
                        storage.scheduled_resumes.c.started_at,
                    )
                ).all()
            engine.dispose()
        finally:
            for worker in workers:
                worker.terminate()
            slack.stop()
            truedy.stop()
    wall = time.time() - time.monotonic()  # Truedy's clock is this process's monotonic one
    sent: dict[str, list[float]] = {}
    for received in truedy.resumes():
        sent.setdefault(received.path.split("/")[-2], []).append(received.at + wall)
    due_at = {campaign_id: storage.utc(due).timestamp() for campaign_id, due, _ in rows}
    return {
        "taken": [(storage.utc(started) - storage.utc(due)).total_seconds() for _, due, started in rows],
        "sent": [min(times) - due_at[campaign_id] for campaign_id, times in sent.items()],
        "twice": sum(len(times) > 1 for times in sent.values()),
        "cpu": cpu,
    }


def summary(seconds: list[float]) -> str:
    return f"p50 {statistics.median(seconds):6.2f} s  p99 {percentile(seconds, 0.99):6.2f} s  max {max(seconds):6.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--spreads", type=float, nargs="+", default=[60.0, 0.0])
    parser.add_argument("--postgresql", help="a server where a fresh database is made for each run (else SQLite)")
    arguments = parser.parse_args()
    kind = "postgresql" if arguments.postgresql else "sqlite"
    loop = LoopThread()
    print(
        f"{arguments.schedules} scheduled resumes, {arguments.processes} worker processes, {kind}, "
        "Truedy 0.2 s per resume"
    )
    for spread in arguments.spreads:
        result = run(loop, arguments.schedules, arguments.processes, spread, kind, arguments.postgresql)
        due = f"due evenly over {spread:g} s" if spread else "all due at the same instant"
        print(f"\n== {due}")
        print(f"taken after due  : {summary(result['taken'])}")
        print(f"sent after due   : {summary(result['sent'])}   resumed twice: {result['twice']}")
        print(
            f"workers' CPU     : {result['cpu']:.1f} s in all, {result['cpu'] * 1000 / arguments.schedules:.1f} ms each"
        )
    loop.stop()


if __name__ == "__main__":
    main()
