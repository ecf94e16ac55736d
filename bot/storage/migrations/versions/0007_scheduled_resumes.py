"""Scheduled resumes: "resume this at 9:00 tomorrow", run once across processes at that time.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "scheduled_resumes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=False),
        sa.Column("scheduled_by", sa.String(32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("outcome", sa.String(32)),
        sa.Column("cancelled_by", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_scheduled_resumes_state_due_at", "scheduled_resumes", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_resumes_state_due_at", table_name="scheduled_resumes")
    op.drop_table("scheduled_resumes")
