"""Every resume attempt, kept in the database: who, what, how, and how it ended."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, select

from bot.storage import audit_log, utc


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    user_id: str
    campaign_id: str
    via: str
    outcome: str
    truedy_request_id: str | None
    latency_ms: int | None
    workflow: str | None = None  # via "workflow": the run's execution id
    unattended: bool = False  # a workflow run with no person Slack vouches for
    allowed_by: str | None = None  # …allowed by this admin, where resumes are restricted


class AuditLog:
    def __init__(self, engine: Engine):
        self._engine = engine

    def record(
        self,
        enterprise_id: str,
        team_id: str,
        entry: AuditEntry,
    ) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                audit_log.insert().values(
                    enterprise_id=enterprise_id,
                    team_id=team_id,
                    at=entry.at,
                    user_id=entry.user_id,
                    campaign_id=entry.campaign_id,
                    via=entry.via,
                    outcome=entry.outcome,
                    truedy_request_id=entry.truedy_request_id,
                    latency_ms=entry.latency_ms,
                    workflow=entry.workflow,
                    unattended=entry.unattended,
                    allowed_by=entry.allowed_by,
                )
            )

    def latest(self, team_id: str, campaign_id: str | None = None, limit: int = 10) -> list[AuditEntry]:
        query = select(audit_log).where(audit_log.c.team_id == team_id)
        if campaign_id is not None:
            query = query.where(audit_log.c.campaign_id == campaign_id)
        query = query.order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
        with self._engine.connect() as connection:
            return [
                AuditEntry(
                    at=utc(row["at"]) or datetime.now(UTC),
                    user_id=row["user_id"],
                    campaign_id=row["campaign_id"],
                    via=row["via"],
                    outcome=row["outcome"],
                    truedy_request_id=row["truedy_request_id"],
                    latency_ms=row["latency_ms"],
                    workflow=row["workflow"],
                    unattended=row["unattended"],
                    allowed_by=row["allowed_by"],
                )
                for row in connection.execute(query).mappings()
            ]
