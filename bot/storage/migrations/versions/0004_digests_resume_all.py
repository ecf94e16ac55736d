"""Digests of many new pauses, and resume-all jobs with one item per campaign.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def _id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "alert_digests",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_alert_digests_message", "alert_digests", ["channel", "message_ts"])
    op.create_table(
        "alert_digest_rows",
        sa.Column("digest_id", _id(), primary_key=True),
        sa.Column("campaign_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("line", sa.Text),
    )
    op.create_table(
        "resume_all_jobs",
        sa.Column("id", _id(), primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("digest_id", _id()),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("ending", sa.String(12)),
        sa.Column("cancelled_by", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("owner", sa.String(32)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("not_before", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_resume_all_jobs_state", "resume_all_jobs", ["state"])
    op.create_table(
        "resume_all_items",
        sa.Column("job_id", _id(), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("outcome", sa.String(32)),
        sa.Column("detail", sa.Text),
    )
