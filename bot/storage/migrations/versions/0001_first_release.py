"""The schema as the first releases left it (their hand-written versions 1 and 2).

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "workspaces",
        sa.Column("enterprise_id", sa.String(32), primary_key=True),
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("api_key_encrypted", sa.Text),
        sa.Column("key_last4", sa.String(4)),
        sa.Column("key_source", sa.String(8)),
        sa.Column("key_checked_at", moment),
        sa.Column("alert_channel", sa.String(32)),
        sa.Column("allowed_users", sa.Text, nullable=False),
        sa.Column("allowed_usergroups", sa.Text, nullable=False),
        sa.Column("updated_by", sa.String(32)),
        sa.Column("updated_at", moment),
    )
    op.create_table(
        "resume_locks",
        sa.Column("enterprise_id", sa.String(32), primary_key=True),
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("started_at", moment, nullable=False),
        sa.Column("expires_at", moment, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", moment, nullable=False),
        sa.Column("enterprise_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("truedy_request_id", sa.String(100)),
        sa.Column("latency_ms", sa.Integer),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_table(
        "campaign_alerts",
        sa.Column("enterprise_id", sa.String(32), primary_key=True),
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("channel", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("changed_at", moment, nullable=False),
    )
    op.create_table(
        "poll_schedule",
        sa.Column("enterprise_id", sa.String(32), primary_key=True),
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("next_poll_at", moment, nullable=False),
        sa.Column("polled_at", moment),
        sa.Column("not_before", moment),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("dedupe_key", sa.String(255), primary_key=True),
        sa.Column("received_at", moment, nullable=False),
    )
