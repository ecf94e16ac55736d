"""Reminders of pauses nobody handles (bot.storage.reminders), and their settings in setup.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    with op.batch_alter_table("workspaces") as batch:
        batch.add_column(sa.Column("remind_after_minutes", sa.Integer()))
        batch.add_column(sa.Column("quiet_from", sa.String(5)))
        batch.add_column(sa.Column("quiet_to", sa.String(5)))
        batch.add_column(sa.Column("time_zone", sa.String(64)))
        batch.add_column(sa.Column("escalate_to", sa.String(32)))
    op.create_table(
        "pause_reminders",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("enterprise_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("campaign_id", sa.String(64)),
        sa.Column("digest_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite")),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("message_ts", sa.String(32), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_sent_at", sa.DateTime(timezone=True)),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("ending", sa.String(12)),
        sa.Column("owner", sa.String(32)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("snoozed_until", sa.DateTime(timezone=True)),
        sa.Column("snoozed_for_good", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("snoozed_by", sa.String(32)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_pause_reminders_state_next_at", "pause_reminders", ["state", "next_at"])
    op.create_index("ix_pause_reminders_state_lease", "pause_reminders", ["state", "lease_expires_at"])
    op.create_index(
        "ux_pause_reminders_message",
        "pause_reminders",
        ["enterprise_id", "team_id", "channel", "message_ts"],
        unique=True,
    )
    op.create_table(
        "reminder_channels",
        sa.Column("enterprise_id", sa.String(32), primary_key=True),
        sa.Column("team_id", sa.String(32), primary_key=True),
        sa.Column("channel", sa.String(32), primary_key=True),
        sa.Column("next_post_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reminder_channels")
    op.drop_table("pause_reminders")
    with op.batch_alter_table("workspaces") as batch:
        for column in ("escalate_to", "time_zone", "quiet_to", "quiet_from", "remind_after_minutes"):
            batch.drop_column(column)
