"""Review of migration 0009 (bot/storage/migrations/versions/0009_automation_runs_once.py) on databases whose data
the previous release could leave behind."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from bot import storage
from bot.storage import scheduled_resumes


def past(seconds: float) -> datetime:
    return datetime.now(UTC) - timedelta(seconds=seconds)


def test_review_the_upgrade_survives_two_schedules_of_one_campaign_left_running(database_url):
    """Defect: the previous release only refused a second *pending* schedule per campaign, so a campaign could have
    one `running` (its process killed mid-resume: it stays `running` until the old sweep, 10 minutes later) and a
    second one scheduled meanwhile, taken and `running` too. Migration 0009 turns every `running` row into
    `sending` and de-duplicates only `pending` rows, then creates the partial unique index on (enterprise, team,
    campaign) for pending/taken/sending: with two `sending` rows of one campaign the index cannot be built, the
    upgrade fails, and no process of the new release starts ("cannot use the database"). Users: a deploy that
    takes the whole bot down."""
    from alembic import command
    from alembic.config import Config

    engine = storage.connect(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(storage.MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0008")
        rows = [(1, past(900)), (2, past(120))]  # killed at 9:00; rescheduled "in 1m", running when the deploy came
        with engine.begin() as connection:
            for row_id, due in rows:
                connection.execute(
                    text(
                        "INSERT INTO scheduled_resumes (id, enterprise_id, team_id, campaign_id, scheduled_by, due_at, "
                        "channel, via, state, created_at, started_at) VALUES (:id, '', 'T0AAA0001', 'batch_twice0001', "
                        "'U0ALICE01', :due, 'C0', 'command', 'running', :due, :due)"
                    ),
                    {"id": row_id, "due": due},
                )
        storage.migrate(engine)
        with engine.connect() as connection:
            states = connection.execute(select(scheduled_resumes.c.state).order_by(scheduled_resumes.c.id)).scalars()
            assert sorted(states) in (["ended", "sending"], ["sending", "ended"])
    finally:
        engine.dispose()
