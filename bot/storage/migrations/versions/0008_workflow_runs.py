"""Which Workflow Builder run made a resume: its workflow execution id, in the audit trail and on a resume-all job
that a workflow started.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as table:
        table.add_column(sa.Column("workflow", sa.String(64)))
    with op.batch_alter_table("resume_all_jobs") as table:
        table.add_column(sa.Column("workflow", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("resume_all_jobs") as table:
        table.drop_column("workflow")
    with op.batch_alter_table("audit_log") as table:
        table.drop_column("workflow")
