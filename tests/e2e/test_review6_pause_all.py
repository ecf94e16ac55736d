"""Review of Pause all N again (cb2b41d) through the real worker, against the fake Slack and fake Truedy, on SQLite
and PostgreSQL (TEST_DATABASE_URL)."""

import json

import pytest

from bot.slack.blocks import resume_all_blocks
from tests.e2e.conftest import start_stack, stop_stack
from tests.e2e.test_pause_all_again import CHANNEL, SETTINGS, pauses_of, pausing_summary, resumed_all
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until


@pytest.fixture(scope="module", params=KINDS)
def stack(request, loop, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"review6-pause-all-{request.param}")
    with fresh_database(request.param, folder) as database_url:
        running = start_stack(loop, folder, DATABASE_URL=database_url, **SETTINGS)
        yield running
        stop_stack(running)


def test_a_pause_job_that_ends_before_its_progress_message_is_posted_still_reports(stack):
    """take_undo inserts the pause job already `running`, and the click posts its progress message only afterwards:
    when that post is slow (here Slack rate-limits the channel for 5 s, which the bot's client waits out), the runner
    pauses every campaign and ends the job while it has no message_ts, so no summary is ever posted and the progress
    message, posted last, says "Pausing again…" with a live Cancel button for ever. The job must not run (or must not
    end unreported) before its progress message is recorded: its summary comes and its progress message shows it
    finished, without Cancel."""
    paused, _, summary_ts = resumed_all(stack, count=2, running=0)
    before = len(pausing_summary(stack))
    stack.slack.fail("chat.postMessage", "ratelimited", channel=CHANNEL, retry_after=5)

    click = stack.slack.click(CHANNEL, summary_ts, user_id="U0BOB0001", action_id="pause_all_again")
    stack.slack.wait_ack(stack.slack.push("interactive", click))

    wait_until(lambda: len(pauses_of(stack, paused)) == 2, 15, "both campaigns paused again")

    def progress_ts() -> str | None:
        for call in stack.slack.posts_in(CHANNEL):
            if (
                call.answer.get("ok")
                and "thread_ts" not in call.params
                and "Pausing again what resume all resumed" in call.params["text"]
            ):
                return call.answer["ts"]
        return None

    ts = wait_until(progress_ts, 20, "Pause all again's progress message")
    try:
        wait_until(lambda: len(pausing_summary(stack)) > before, 15, "Pause all again's summary")
    finally:
        shown = json.dumps(stack.slack.messages[(CHANNEL, ts)])
        print("the progress message as it stays:", stack.slack.messages[(CHANNEL, ts)]["text"])
    assert resume_all_blocks.CANCEL_ACTION_ID not in shown
