"""A worker killed mid-resume (SIGKILL, out of memory) leaves nothing saying "Resuming…": once its claims
have expired, the next sweep (at the next start, or within seconds on a worker still running) shows the
final state where the resume showed, with the Resume button back for a campaign still paused."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot import storage
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.truedy import Scripted, campaign
from tests.fakes.worker import WorkerProcess

RESUME = "/api/public/v1/batch-calls/{}/resume"


def expire_every_claim(database_url: str) -> None:
    """As if the 60 s a dead worker's claims live had gone by."""
    engine = storage.connect(database_url)
    with engine.begin() as connection:
        connection.execute(update(storage.resume_locks).values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    engine.dispose()


@pytest.mark.parametrize("kind", KINDS)
def test_a_worker_killed_mid_resume_leaves_nothing_saying_resuming(kind, loop, tmp_path):
    with fresh_database(kind, tmp_path) as database_url:
        stack = start_stack(loop, tmp_path, DATABASE_URL=database_url)
        try:
            stack.truedy.add(KEY_BOT_TEAM, campaign("batch_kill0001"), campaign("batch_kill0002"))
            stack.truedy.script(
                Scripted(hang=True, path=RESUME.format("batch_kill0001")),
                Scripted(hang=True, path=RESUME.format("batch_kill0002")),
            )
            stack.command("batch_kill0001", channel_id="C0KILL001", user_id="U0ALICE01")
            alert_ts = stack.post_alert("batch_kill0002", "C0KILL002")
            click = stack.slack.click("C0KILL002", alert_ts, user_id="U0BOB0001")
            stack.slack.wait_ack(stack.slack.push("interactive", click))
            wait_until(lambda: len(stack.truedy.resumes()) == 2, 10, "both resumes sent")
            announcement = stack.slack.posts_in("C0KILL001")[0]
            assert "is resuming" in announcement.params["text"]
            assert "Resuming…" in str(stack.slack.messages[("C0KILL002", alert_ts)]["blocks"])

            stack.worker.process.kill()  # SIGKILL: nothing it was doing ends
            stack.worker.process.wait(10)
            expire_every_claim(database_url)
            stack.worker = WorkerProcess(stack.env, tmp_path)
            stack.worker.wait_started(stack.slack)

            ended = wait_until(
                lambda: (
                    "stopped before Truedy answered"
                    in stack.slack.messages[("C0KILL001", announcement.answer["ts"])]["text"]
                    and stack.slack.messages[("C0KILL001", announcement.answer["ts"])]
                ),
                10,
                "the announcement's final state",
            )
            assert ended["text"].startswith(":warning: <@U0ALICE01> asked to resume `batch_kill0001`")
            assert "it is still paused. Run the command again" in ended["text"]
            alert = wait_until(
                lambda: (
                    "still paused" in str(stack.slack.messages[("C0KILL002", alert_ts)]["blocks"])
                    and stack.slack.messages[("C0KILL002", alert_ts)]
                ),
                10,
                "the alert's final state",
            )
            assert "Click Resume to try again" in str(alert["blocks"])
            buttons = [e["action_id"] for b in alert["blocks"] if b["type"] == "actions" for e in b["elements"]]
            assert "resume_campaign" in buttons  # the Resume button is back
            history, _ = stack.command("history", channel_id="C0KILL001")
            assert stack.private_reply(history)["text"].count("interrupted") == 2

            # A new click resumes it: the claim the dead worker left is gone.
            click = stack.slack.click("C0KILL002", alert_ts, user_id="U0BOB0001")
            stack.slack.wait_ack(stack.slack.push("interactive", click))
            wait_until(lambda: stack.truedy.status_of(KEY_BOT_TEAM, "batch_kill0002") != "paused", 10, "the resume")
        finally:
            stop_stack(stack)
