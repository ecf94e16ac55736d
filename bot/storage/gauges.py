"""What the metrics' gauges say of the whole deployment, read from the database at each scrape."""

from dataclasses import dataclass

from sqlalchemy import Engine, and_, func, or_, select

from bot.storage import database_now, resume_all_jobs_table, scheduled_resumes, workspaces
from bot.storage.resume_all_jobs import ACTIVE


@dataclass(frozen=True)
class Gauges:
    workspaces_connected: int  # with a Truedy key
    workspaces_not_connected: int
    schedules_due: int  # due (or left by a dead process before sending) and not yet taken
    resume_all_jobs_running: int


def read_gauges(engine: Engine) -> Gauges:
    with engine.connect() as connection:
        now = database_now(connection)
        keyed = workspaces.c.api_key_encrypted.is_not(None)
        connected, not_connected = connection.execute(
            select(func.count().filter(keyed), func.count().filter(~keyed)).select_from(workspaces)
        ).one()
        schedule = scheduled_resumes.c
        due = connection.execute(
            select(func.count()).where(
                or_(
                    and_(schedule.state == "pending", schedule.try_at <= now),
                    and_(schedule.state == "taken", schedule.lease_expires_at < now),
                )
            )
        ).scalar_one()
        running = connection.execute(select(func.count()).where(resume_all_jobs_table.c.state.in_(ACTIVE))).scalar_one()
    return Gauges(connected, not_connected, due, running)
