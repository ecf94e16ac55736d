"""Second review of migration 0009 (bot/storage/migrations/versions/0009_automation_runs_once.py): what the first
review's fix for two schedules of one campaign left running does to the older one."""

import threading
from datetime import UTC, datetime, timedelta
from unittest.mock import Mock

from slack_sdk import WebClient
from sqlalchemy import text

from bot import storage
from bot.background import BackgroundWork
from bot.runners.scheduler import ScheduledResumeRunner
from bot.storage.schedules import ScheduledResumes
from tests.fakes.loop import wait_until

CHANNEL = "C0MIGRATE"


def past(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def test_review2_the_older_of_two_schedules_left_running_is_told_it_may_have_resumed(database_url, slack, monkeypatch):
    """Defect: of two schedules of one campaign that the previous release left `running` (one killed mid-resume at
    9:00, one scheduled again and running when the deploy came), migration 0009 now ends the older one as
    `unknown` directly in the database. Only `sending` rows whose lease ran out are told ("may have resumed",
    `end_unknown` and the scheduler's sweep), so the older one's thread never hears anything: its message says
    "Resuming `batch_…`…" for good, and nobody is told to check whether it resumed. The migration's own promise:
    a row left running "ends as unknown, said in its thread, and is never sent again"."""
    from alembic import command
    from alembic.config import Config

    monkeypatch.setattr("bot.runners.scheduler.TICK_SECONDS", 0.05)
    engine = storage.connect(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(storage.MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
        messages = {}
        with engine.begin() as connection:
            for row_id, due in ((1, past(1500)), (2, past(1200))):  # both taken over 10 min before the deploy
                messages[row_id] = slack.add_message(CHANNEL, [], "Resuming `batch_twice0002`…")
                connection.execute(
                    text(
                        "INSERT INTO scheduled_resumes (id, enterprise_id, team_id, campaign_id, scheduled_by, due_at, "
                        "channel, message_ts, via, state, created_at, started_at) VALUES (:id, '', 'T0BOT0001', "
                        "'batch_twice0002', 'U0ALICE01', :due, :channel, :ts, 'command', 'running', :due, :due)"
                    ),
                    {"id": row_id, "due": due, "channel": CHANNEL, "ts": messages[row_id]},
                )
        storage.migrate(engine)

        client = WebClient(token=slack.bot_token, base_url=slack.api_url)
        starts = BackgroundWork("schedule", 1)
        runner = ScheduledResumeRunner(ScheduledResumes(engine), Mock(), starts, lambda _: client)
        runner._leases = threading.Thread(target=lambda: None)  # the lease keeper outlives the test otherwise
        runner.start()
        try:

            def told(ts: str) -> bool:
                return any(
                    call.params.get("thread_ts") == ts and "may have resumed" in (call.params.get("text") or "")
                    for call in slack.posts_in(CHANNEL)
                )

            wait_until(lambda: told(messages[2]), 5, "the later one told it may have resumed")
            wait_until(lambda: told(messages[1]), 3, "the older one, ended unknown by the upgrade, told so too")
        finally:
            runner.stop()
            runner.join(2)
    finally:
        engine.dispose()
