"""An index on when each workspace's next poll is due, so that finding the polls due is one indexed query.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_index("ix_poll_schedule_next_poll_at", "poll_schedule", ["next_poll_at"])


def downgrade() -> None:
    op.drop_index("ix_poll_schedule_next_poll_at", table_name="poll_schedule")
