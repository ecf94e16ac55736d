"""One resume per campaign and workspace at a time, across every worker sharing the database."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, delete, select
from sqlalchemy.exc import IntegrityError

from bot.storage import resume_locks, utc

# Longer than any resume can take (connect + read timeouts, a status read, Slack posts), so that a
# worker that died mid-resume blocks its campaign for at most this long.
LOCK_TTL = timedelta(seconds=120)


@dataclass(frozen=True)
class AlreadyResuming:
    """Someone's resume of the same campaign in the same workspace is still in flight."""

    user_id: str
    since: datetime


class InFlightResumes:
    def __init__(self, engine: Engine):
        self._engine = engine

    def claim(self, enterprise_id: str, team_id: str, campaign_id: str, user_id: str) -> AlreadyResuming | None:
        """None when the caller now holds the campaign, else who already does."""
        key = and_(
            resume_locks.c.enterprise_id == enterprise_id,
            resume_locks.c.team_id == team_id,
            resume_locks.c.campaign_id == campaign_id,
        )
        now = datetime.now(UTC)
        lock = {"enterprise_id": enterprise_id, "team_id": team_id, "campaign_id": campaign_id, "user_id": user_id}
        # One insert on the common path: it is in the ack path of every resume.
        for _ in range(3):
            try:
                with self._engine.begin() as connection:
                    connection.execute(resume_locks.insert().values(**lock, started_at=now, expires_at=now + LOCK_TTL))
                return None
            except IntegrityError:
                pass
            with self._engine.begin() as connection:
                holder = connection.execute(select(resume_locks).where(key)).mappings().first()
                if holder is not None and (utc(holder["expires_at"]) or now) >= now:
                    return AlreadyResuming(holder["user_id"], utc(holder["started_at"]) or now)
                # Released in between, or left by a worker that died: try again.
                connection.execute(delete(resume_locks).where(key, resume_locks.c.expires_at < now))
        return AlreadyResuming("", now)

    def any_in(self, enterprise_id: str, team_id: str) -> bool:
        """Is anyone resuming a campaign of this workspace right now?"""
        query = select(resume_locks.c.campaign_id).where(
            resume_locks.c.enterprise_id == enterprise_id,
            resume_locks.c.team_id == team_id,
            resume_locks.c.expires_at >= datetime.now(UTC),
        )
        with self._engine.connect() as connection:
            return connection.execute(query.limit(1)).first() is not None

    def release(self, enterprise_id: str, team_id: str, campaign_id: str) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                delete(resume_locks).where(
                    resume_locks.c.enterprise_id == enterprise_id,
                    resume_locks.c.team_id == team_id,
                    resume_locks.c.campaign_id == campaign_id,
                )
            )
