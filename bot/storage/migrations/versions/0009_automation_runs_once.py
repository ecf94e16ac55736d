"""Automation that runs once, as someone allowed, and is never lost.

- Scheduled resumes become a state machine (bot.storage.schedules): `taken` under a lease (owner, by the
  database's clock), `sending` recorded before the request leaves, handed back to `pending` when it never was
  (`try_at`, `attempts`); one schedule not yet ended per campaign and workspace, as a partial unique index.
  A row left `running` by the previous release may or may not have been sent: it becomes `sending` with its
  lease over, so that it ends as unknown, said in its thread, and is never sent again. Duplicates the old
  check let through are ended as `duplicate` (the running one, else the soonest, is kept); of two left running
  for one campaign, the older ends at once, and the sweep tells its thread it may have resumed.
- Workflow step runs, one row per `function_execution_id` (bot.storage.step_runs).
- Workspaces: who allowed unattended workflow runs, and when. The audit trail and resume-all jobs: whether a
  resume was unattended, and who allowed it.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

ACTIVE_SCHEDULE = "state IN ('pending', 'taken', 'sending')"


def upgrade() -> None:
    with op.batch_alter_table("scheduled_resumes") as table:
        table.add_column(sa.Column("owner", sa.String(32)))
        table.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("sending_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("try_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
    op.execute("UPDATE scheduled_resumes SET try_at = due_at")
    # Two left running for one campaign (one killed mid-resume, one scheduled again meanwhile): the latest taken
    # stays, to be said unknown; the other ends at once (the index below allows one not yet ended), to be told it
    # may have resumed by the first sweep (`untold`).
    op.execute(
        "UPDATE scheduled_resumes SET state = 'ended', outcome = 'untold', ended_at = CURRENT_TIMESTAMP "
        "WHERE state = 'running' AND EXISTS (SELECT 1 FROM scheduled_resumes AS kept WHERE "
        "kept.enterprise_id = scheduled_resumes.enterprise_id AND kept.team_id = scheduled_resumes.team_id AND "
        "kept.campaign_id = scheduled_resumes.campaign_id AND kept.state = 'running' AND "
        "(kept.started_at > scheduled_resumes.started_at OR "
        "(kept.started_at = scheduled_resumes.started_at AND kept.id > scheduled_resumes.id)))"
    )
    # Its lease runs out 10 minutes after it was taken, as the previous release gave up on it: during a rolling
    # deploy, a process of that release still running it is not called dead at once.
    later = (
        "started_at + interval '10 minutes'"
        if op.get_bind().dialect.name == "postgresql"
        else "strftime('%Y-%m-%d %H:%M:%f', started_at, '+10 minutes')"
    )
    op.execute(
        f"UPDATE scheduled_resumes SET state = 'sending', sending_at = started_at, lease_expires_at = {later}, "
        "owner = 'previous-release' WHERE state = 'running'"
    )
    op.execute(
        "UPDATE scheduled_resumes SET state = 'ended', outcome = 'duplicate', ended_at = CURRENT_TIMESTAMP "
        "WHERE state = 'pending' AND EXISTS (SELECT 1 FROM scheduled_resumes AS kept WHERE "
        "kept.enterprise_id = scheduled_resumes.enterprise_id AND kept.team_id = scheduled_resumes.team_id AND "
        "kept.campaign_id = scheduled_resumes.campaign_id AND kept.id <> scheduled_resumes.id AND "
        "(kept.state = 'sending' OR (kept.state = 'pending' AND (kept.due_at < scheduled_resumes.due_at OR "
        "(kept.due_at = scheduled_resumes.due_at AND kept.id < scheduled_resumes.id)))))"
    )
    with op.batch_alter_table("scheduled_resumes") as table:
        table.alter_column("try_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        table.drop_index("ix_scheduled_resumes_state_due_at")
        table.create_index("ix_scheduled_resumes_state_try_at", ["state", "try_at"])
    op.create_index(
        "ux_scheduled_resumes_active",
        "scheduled_resumes",
        ["enterprise_id", "team_id", "campaign_id"],
        unique=True,
        sqlite_where=sa.text(ACTIVE_SCHEDULE),
        postgresql_where=sa.text(ACTIVE_SCHEDULE),
    )

    op.create_table(
        "workflow_step_runs",
        sa.Column("function_execution_id", sa.String(64), primary_key=True),
        sa.Column("enterprise_id", sa.String(32), nullable=False),
        sa.Column("team_id", sa.String(32), nullable=False),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("workflow", sa.String(64)),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("owner", sa.String(32)),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True)),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer, "sqlite")),
        sa.Column("wait_until", sa.DateTime(timezone=True)),
        sa.Column("completion", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_workflow_step_runs_state_lease", "workflow_step_runs", ["state", "lease_expires_at"])
    op.create_index("ix_workflow_step_runs_created_at", "workflow_step_runs", ["created_at"])

    with op.batch_alter_table("workspaces") as table:
        table.add_column(sa.Column("unattended_allowed_by", sa.String(32)))
        table.add_column(sa.Column("unattended_allowed_at", sa.DateTime(timezone=True)))
    for name in ("audit_log", "resume_all_jobs"):
        with op.batch_alter_table(name) as table:
            table.add_column(sa.Column("unattended", sa.Boolean(), nullable=False, server_default=sa.false()))
            table.add_column(sa.Column("allowed_by", sa.String(32)))


def downgrade() -> None:
    for name in ("resume_all_jobs", "audit_log"):
        with op.batch_alter_table(name) as table:
            table.drop_column("allowed_by")
            table.drop_column("unattended")
    with op.batch_alter_table("workspaces") as table:
        table.drop_column("unattended_allowed_at")
        table.drop_column("unattended_allowed_by")
    op.drop_table("workflow_step_runs")
    op.drop_index("ux_scheduled_resumes_active", table_name="scheduled_resumes")
    with op.batch_alter_table("scheduled_resumes") as table:
        table.drop_index("ix_scheduled_resumes_state_try_at")
        table.create_index("ix_scheduled_resumes_state_due_at", ["state", "due_at"])
        for column in ("failures", "attempts", "try_at", "sending_at", "lease_expires_at", "owner"):
            table.drop_column(column)
