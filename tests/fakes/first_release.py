"""A database as the first release (schema version 2, before Alembic) created it, with data in every
table: what an upgrade in place must carry over. Its tables are copied from that release, frozen here."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import BigInteger, Column, DateTime, Engine, Integer, MetaData, String, Table, Text

_old = MetaData()
_moment = DateTime(timezone=True)
_schema_version = Table("schema_version", _old, Column("version", Integer, nullable=False))
_meta = Table("meta", _old, Column("name", String(64), primary_key=True), Column("value", Text, nullable=False))
_workspaces = Table(
    "workspaces",
    _old,
    Column("enterprise_id", String(32), primary_key=True),
    Column("team_id", String(32), primary_key=True),
    Column("api_key_encrypted", Text),
    Column("key_last4", String(4)),
    Column("key_source", String(8)),
    Column("key_checked_at", _moment),
    Column("alert_channel", String(32)),
    Column("allowed_users", Text, nullable=False, default="[]"),
    Column("allowed_usergroups", Text, nullable=False, default="[]"),
    Column("updated_by", String(32)),
    Column("updated_at", _moment),
)
_resume_locks = Table(
    "resume_locks",
    _old,
    Column("enterprise_id", String(32), primary_key=True),
    Column("team_id", String(32), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("user_id", String(32), nullable=False),
    Column("started_at", _moment, nullable=False),
    Column("expires_at", _moment, nullable=False),
)
_audit_log = Table(
    "audit_log",
    _old,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", _moment, nullable=False, index=True),
    Column("enterprise_id", String(32), nullable=False),
    Column("team_id", String(32), nullable=False),
    Column("user_id", String(32), nullable=False),
    Column("campaign_id", String(64), nullable=False),
    Column("via", String(16), nullable=False),
    Column("outcome", String(32), nullable=False),
    Column("truedy_request_id", String(100)),
    Column("latency_ms", Integer),
)
_campaign_alerts = Table(
    "campaign_alerts",
    _old,
    Column("enterprise_id", String(32), primary_key=True),
    Column("team_id", String(32), primary_key=True),
    Column("campaign_id", String(64), primary_key=True),
    Column("state", String(8), nullable=False),
    Column("channel", String(32)),
    Column("message_ts", String(32)),
    Column("changed_at", _moment, nullable=False),
)
_poll_schedule = Table(
    "poll_schedule",
    _old,
    Column("enterprise_id", String(32), primary_key=True),
    Column("team_id", String(32), primary_key=True),
    Column("next_poll_at", _moment, nullable=False),
    Column("polled_at", _moment),
    Column("not_before", _moment),
)
_webhook_deliveries = Table(
    "webhook_deliveries",
    _old,
    Column("dedupe_key", String(255), primary_key=True),
    Column("received_at", _moment, nullable=False),
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def create_first_release_database(engine: Engine, sealed_key: str, sealed_check: str) -> None:
    """The first release's tables and rows: a connected workspace (its key sealed by the caller), an
    audit entry, an open alert, a poll turn, a webhook delivery and a resume in flight."""
    _old.create_all(engine)
    with engine.begin() as connection:
        connection.execute(_schema_version.insert().values(version=2))
        connection.execute(_meta.insert().values(name="encryption_check", value=sealed_check))
        connection.execute(
            _workspaces.insert().values(
                enterprise_id="",
                team_id="T0OLD0001",
                api_key_encrypted=sealed_key,
                key_last4="0001",
                key_source="slack",
                alert_channel="C0OLD0001",
                allowed_users='["U0OLD0001"]',
                allowed_usergroups="[]",
                updated_by="U0ADMIN01",
                updated_at=NOW,
            )
        )
        connection.execute(
            _audit_log.insert().values(
                at=NOW,
                enterprise_id="",
                team_id="T0OLD0001",
                user_id="U0OLD0001",
                campaign_id="batch_old0001",
                via="command",
                outcome="resumed",
                truedy_request_id="req_old",
                latency_ms=120,
            )
        )
        connection.execute(
            _campaign_alerts.insert().values(
                enterprise_id="",
                team_id="T0OLD0001",
                campaign_id="batch_old0002",
                state="open",
                channel="C0OLD0001",
                message_ts="1700000000.000001",
                changed_at=NOW,
            )
        )
        connection.execute(
            _poll_schedule.insert().values(enterprise_id="", team_id="T0OLD0001", next_poll_at=NOW + timedelta(days=1))
        )
        connection.execute(_webhook_deliveries.insert().values(dedupe_key="batch.completed:evt_1", received_at=NOW))
        connection.execute(
            _resume_locks.insert().values(
                enterprise_id="",
                team_id="T0OLD0001",
                campaign_id="batch_old0003",
                user_id="U0OLD0001",
                started_at=NOW,
                expires_at=NOW + timedelta(days=1),
            )
        )
