"""Pause all again: a finished resume-all offers to pause again what it resumed, as a paced job of its own.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    with op.batch_alter_table("resume_all_jobs") as batch:
        batch.add_column(sa.Column("action", sa.String(8), nullable=False, server_default="resume"))
        batch.add_column(sa.Column("undoes", sa.BigInteger().with_variant(sa.Integer(), "sqlite")))
        batch.add_column(sa.Column("summary_ts", sa.String(32)))
        batch.add_column(sa.Column("undo_until", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("undo_taken_by", sa.String(32)))
    op.create_index("ix_resume_all_jobs_undo_until", "resume_all_jobs", ["undo_until"])
    op.create_index("ux_resume_all_jobs_undoes", "resume_all_jobs", ["undoes"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_resume_all_jobs_undoes", "resume_all_jobs")
    op.drop_index("ix_resume_all_jobs_undo_until", "resume_all_jobs")
    with op.batch_alter_table("resume_all_jobs") as batch:
        for column in ("undo_taken_by", "undo_until", "summary_ts", "undoes", "action"):
            batch.drop_column(column)
