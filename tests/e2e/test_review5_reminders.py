"""Review 5 of reminders of pauses nobody handles, through the real worker (REMINDING's 3-second Remind after):
what a stop (SIGTERM, as every deploy and every daily dyno restart sends) does to a reminder under way, and what a
moment's database failure right after an alert is posted does to that pause's reminders."""

import pytest
from sqlalchemy import func, select, text

from bot import storage
from bot.storage import campaign_alerts, pause_reminders
from tests.e2e.conftest import start_stack, stop_stack
from tests.e2e.test_reminders import REMINDING, alert_of, paused, reminders_of, row_of
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.truedy import Scripted


@pytest.fixture(params=KINDS)
def own_stack(request, loop, tmp_path):
    with fresh_database(request.param, tmp_path) as database_url:
        running = start_stack(loop, tmp_path, DATABASE_URL=database_url, **REMINDING)
        yield running
        stop_stack(running)


def test_a_stop_finishes_or_hands_back_the_reminder_under_way(own_stack):
    """Defect: ReminderRunner.stop says "those under way finish", but Runtime.finish joins only the runner's loop
    thread, never its pool, and the worker then ends with os._exit: a reminder whose Truedy read (or post) is under
    way at SIGTERM is cut off, left `taken` (or `sending`) by a process that is gone, and waits out its 2-minute
    lease before any process looks at it (one cut off after it was counted is never posted at all). Correct: the
    stop waits (bounded) for the reminders under way, or hands those not yet counted back to `waiting` at once."""
    stack = own_stack
    campaign_id = paused(stack)
    ts = alert_of(stack, campaign_id).answer["ts"]
    path = f"/api/public/v1/batch-calls/{campaign_id}"
    stack.truedy.script(Scripted(path=path, delay=6, contract=True))  # the reminder's check takes 6 s
    wait_until(lambda: [r for r in stack.truedy.received if r.path == path], 15, "the reminder's Truedy read")
    assert row_of(stack, ts)["state"] == "taken"
    assert stack.worker.terminate() == 0
    row = row_of(stack, ts)
    finished = bool(reminders_of(stack, ts))
    handed_back = row["state"] == "waiting" and row["owner"] is None
    assert finished or handed_back, (
        f"after the stop, the reminder under way was neither posted nor handed back: state={row['state']!r}, "
        f"owner={row['owner']!r} (a process that is gone), lease until {row['lease_expires_at']}"
    )


_REFUSE = {
    "sqlite": [
        "CREATE TRIGGER review5_refuse BEFORE INSERT ON pause_reminders "
        "BEGIN SELECT RAISE(ABORT, 'review5: the database failed for a moment'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION review5_refuse() RETURNS trigger AS $$ BEGIN "
        "RAISE EXCEPTION 'review5: the database failed for a moment'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER review5_refuse BEFORE INSERT ON pause_reminders FOR EACH ROW EXECUTE FUNCTION review5_refuse()",
    ],
}


def test_an_alert_whose_reminders_row_failed_to_be_written_is_still_reminded(own_stack):
    """Defect (fixed): the watcher posted the alert, recorded it open, and only then wrote its reminders' row, in
    separate transactions: a moment's database failure (or a SIGKILL) between the two left an open alert with no
    row, never reminded. Correct: the row is written with the alert's record, in one transaction."""
    stack = own_stack
    engine = storage.connect(stack.database_url)
    try:
        with engine.begin() as connection:
            for statement in _REFUSE[connection.dialect.name]:
                connection.execute(text(statement))
        campaign_id = paused(stack)
        ts = alert_of(stack, campaign_id).answer["ts"]
        failed = wait_until(lambda: stack.worker.logged("poll_failed"), 15, "the poll whose reminders row was refused")
        assert "review5: the database failed for a moment" in str(failed[0]), failed[0]
        drop = "DROP TRIGGER review5_refuse"
        with engine.begin() as connection:
            connection.execute(text(drop + (" ON pause_reminders" if connection.dialect.name == "postgresql" else "")))
            alert_state = connection.execute(
                select(campaign_alerts.c.state).where(campaign_alerts.c.campaign_id == campaign_id)
            ).scalar_one()
            rows = connection.execute(
                select(func.count()).select_from(pause_reminders).where(pause_reminders.c.message_ts == ts)
            ).scalar_one()
        # The alert's record and its reminders are written together: the failure left neither, so the pause is
        # still the watcher's to alert (as after any failure to record a posted alert), never open and unreminded.
        assert (alert_state, rows) == ("posting", 0)
    finally:
        engine.dispose()
