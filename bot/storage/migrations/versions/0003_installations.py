"""Installations: slack_sdk's installation and OAuth state tables, with room for encrypted tokens; each
workspace's own Truedy webhook URL token and secret.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def _installation_columns(user: bool) -> list[sa.Column]:
    columns = [
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(32), nullable=False),
        sa.Column("app_id", sa.String(32), nullable=False),
        sa.Column("enterprise_id", sa.String(32)),
        sa.Column("enterprise_name", sa.String(200)),
        *([sa.Column("enterprise_url", sa.String(200))] if user else []),
        sa.Column("team_id", sa.String(32)),
        sa.Column("team_name", sa.String(200)),
        sa.Column("bot_token", sa.Text),
        sa.Column("bot_id", sa.String(32)),
        sa.Column("bot_user_id", sa.String(32)),
        sa.Column("bot_scopes", sa.String(1000)),
        sa.Column("bot_refresh_token", sa.Text),
        sa.Column("bot_token_expires_at", sa.DateTime),
    ]
    if user:
        columns += [
            sa.Column("user_id", sa.String(32), nullable=False),
            sa.Column("user_token", sa.Text),
            sa.Column("user_scopes", sa.String(1000)),
            sa.Column("user_refresh_token", sa.Text),
            sa.Column("user_token_expires_at", sa.DateTime),
            sa.Column("incoming_webhook_url", sa.Text),
            sa.Column("incoming_webhook_channel", sa.String(200)),
            sa.Column("incoming_webhook_channel_id", sa.String(200)),
            sa.Column("incoming_webhook_configuration_url", sa.String(200)),
        ]
    columns += [
        sa.Column("is_enterprise_install", sa.Boolean, nullable=False),
        *([sa.Column("token_type", sa.String(32))] if user else []),
        sa.Column("installed_at", sa.DateTime, nullable=False),
    ]
    return columns


def upgrade() -> None:
    op.create_table("slack_installations", *_installation_columns(user=True))
    op.create_index(
        "slack_installations_idx",
        "slack_installations",
        ["client_id", "enterprise_id", "team_id", "user_id", "installed_at"],
    )
    op.create_table("slack_bots", *_installation_columns(user=False))
    op.create_index("slack_bots_idx", "slack_bots", ["client_id", "enterprise_id", "team_id", "installed_at"])
    op.create_table(
        "slack_oauth_states",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(200), nullable=False),
        sa.Column("expire_at", sa.DateTime, nullable=False),
    )
    op.add_column("workspaces", sa.Column("webhook_token", sa.String(64)))
    op.add_column("workspaces", sa.Column("webhook_secret_encrypted", sa.Text))
    op.create_index("ix_workspaces_webhook_token", "workspaces", ["webhook_token"], unique=True)
