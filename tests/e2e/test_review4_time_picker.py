"""Review 4 of Pick a time: defects found by trying to break it through the real worker. Each test fails today;
see its docstring for what should happen instead."""

import contextlib
import sqlite3
import time

import pytest

from bot.slack.blocks import time_picker_blocks
from tests.e2e.conftest import start_stack, stop_stack
from tests.e2e.test_time_picker import new_campaign, open_from_alert, schedules_of
from tests.fakes.slack import BOT_TEAM


@pytest.fixture(scope="module")
def stack(loop, tmp_path_factory):
    running = start_stack(loop, tmp_path_factory.mktemp("review4-picker"))  # SQLite, in its folder
    yield running
    stop_stack(running)


def test_a_submission_while_the_database_is_slow_is_answered_within_slacks_3_s_and_not_kept_behind_its_back(stack):
    """The picker's submission is answered in the listener, before the ack: the check of who may resume has a
    2 s budget, but the database's reads and the schedule's write have none (SQLite's busy timeout and the
    pool's wait are 10 s each; PostgreSQL's lock timeout alone is 3 s). With the database busy for 4 s (another
    process holding SQLite's write lock), the ack comes only once it is free, long after Slack's 3 s: Slack has
    shown the person an error by then, yet the schedule is kept and announced in the channel.
    Should: answered on its field within 3 s (the database being slow, nothing kept), or kept and acked in
    time; never acked late with the schedule kept."""
    campaign_id, channel = new_campaign(stack), "C0R4PICK1"
    _, view = open_from_alert(stack, campaign_id, channel)
    path = stack.database_url.removeprefix("sqlite:///")
    picked = {"type": "datetimepicker", "selected_date_time": int(time.time()) + 3600}
    values = {time_picker_blocks.WHEN_BLOCK_ID: {time_picker_blocks.WHEN_ACTION_ID: picked}}
    submission = stack.slack.view_submission(view, values, user_id="U0BOB0001", team_id=BOT_TEAM)

    busy = sqlite3.connect(path, isolation_level=None, timeout=10)
    busy.execute("BEGIN IMMEDIATE")  # another process writing: the file's one write lock is taken
    try:
        envelope = stack.slack.push("view_submission", submission)
        with contextlib.suppress(AssertionError):  # no ack within 4 s: Slack gave up on it after 3
            stack.slack.wait_ack(envelope, timeout=4)
    finally:
        busy.execute("ROLLBACK")
        busy.close()
    ack = stack.slack.wait_ack(envelope, timeout=20)

    kept = schedules_of(stack, campaign_id)
    assert ack.latency <= 3.0 or kept == 0, (
        f"acked after {ack.latency:.1f} s (Slack waits 3 s) with the schedule kept ({kept}): {ack.payload}"
    )
