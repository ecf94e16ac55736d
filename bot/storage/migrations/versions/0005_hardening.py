"""At most one active resume-all job per workspace, enforced by a partial unique index; when a workspace's
admins were told one of its secrets cannot be decrypted; where a resume in flight shows as under way;
indexes on OAuth states, which anonymous visits to the install page create.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

ACTIVE_JOB = "state IN ('running', 'cancelling')"


def upgrade() -> None:
    # A database that already has two active jobs in one workspace (the race this index closes) keeps the
    # oldest; the others end as stopped, their items untouched and named in no summary.
    jobs = sa.table(
        "resume_all_jobs",
        sa.column("id"),
        sa.column("enterprise_id"),
        sa.column("team_id"),
        sa.column("state"),
        sa.column("ending"),
        sa.column("owner"),
    )
    connection = op.get_bind()
    kept: set[tuple[str, str]] = set()
    active = sa.select(jobs.c.id, jobs.c.enterprise_id, jobs.c.team_id).where(sa.text(ACTIVE_JOB)).order_by(jobs.c.id)
    for job_id, enterprise_id, team_id in connection.execute(active).all():
        if (enterprise_id, team_id) in kept:
            connection.execute(
                jobs.update().where(jobs.c.id == job_id).values(state="ended", ending="stopped", owner=None)
            )
        kept.add((enterprise_id, team_id))
    op.create_index(
        "ux_resume_all_jobs_active",
        "resume_all_jobs",
        ["enterprise_id", "team_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_JOB),
        postgresql_where=sa.text(ACTIVE_JOB),
    )

    op.add_column("workspaces", sa.Column("secret_problem_told_at", sa.DateTime(timezone=True)))
    for name, length in (("shown_as", 12), ("shown_channel", 32), ("shown_ts", 32), ("via", 16)):
        op.add_column("resume_locks", sa.Column(name, sa.String(length)))
    op.create_index("ix_resume_locks_expires_at", "resume_locks", ["expires_at"])
    op.create_index("ix_slack_oauth_states_state", "slack_oauth_states", ["state"])
    op.create_index("ix_slack_oauth_states_expire_at", "slack_oauth_states", ["expire_at"])


def downgrade() -> None:
    op.drop_index("ix_slack_oauth_states_expire_at", table_name="slack_oauth_states")
    op.drop_index("ix_slack_oauth_states_state", table_name="slack_oauth_states")
    op.drop_index("ix_resume_locks_expires_at", table_name="resume_locks")
    for name in ("shown_as", "shown_channel", "shown_ts", "via"):
        op.drop_column("resume_locks", name)
    op.drop_column("workspaces", "secret_problem_told_at")
    op.drop_index("ux_resume_all_jobs_active", table_name="resume_all_jobs")
