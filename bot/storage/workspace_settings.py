"""Per-workspace settings (Truedy key, alert channel, who may resume), read fresh from the database on
every request so that what one worker saves, every worker uses at once."""

import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, or_, select

from bot.storage import (
    alert_channel_problems,
    alert_digest_rows,
    alert_digests,
    campaign_alerts,
    database_now,
    insert_if_absent,
    of_workspace,
    of_workspaces,
    pause_offers,
    pause_reminders,
    poll_schedule,
    reading,
    reminder_channels,
    resume_all_items,
    resume_all_jobs_table,
    resume_locks,
    scheduled_resumes,
    utc,
    workflow_step_runs,
    workspace_key,
    workspaces,
)
from bot.storage.keybox import KeyBox


@dataclass(frozen=True)
class WorkspaceId:
    enterprise_id: str  # "" outside Enterprise Grid
    team_id: str


@dataclass(frozen=True)
class WorkspaceSettings:
    workspace: WorkspaceId
    api_key: str | None
    key_last4: str | None
    key_source: str | None
    key_checked_at: datetime | None
    alert_channel: str | None
    allowed_users: tuple[str, ...]
    allowed_usergroups: tuple[str, ...]
    updated_by: str | None
    updated_at: datetime | None
    webhook_token: str | None = None  # the path of this workspace's Truedy webhook URL
    webhook_secret: str | None = None
    # A saved secret (the key, the webhook secret) was sealed with a key BOT_ENCRYPTION_KEY no longer lists:
    # it reads as none, and the workspace's admins are told to set it again (`secret_problem_told`).
    secrets_unreadable: bool = False
    secret_problem_told: bool = False
    # The admin who let workflow runs with no person (scheduled triggers) resume although resumes are restricted.
    unattended_allowed_by: str | None = None
    unattended_allowed_at: datetime | None = None
    # Reminders of pauses nobody handles: after this many minutes (None: REMIND_AFTER_MINUTES; 0: none), never in
    # the quiet hours ("HH:MM" to "HH:MM" in time_zone), mentioning escalate_to from the second on.
    remind_after_minutes: int | None = None
    quiet_from: str | None = None
    quiet_to: str | None = None
    time_zone: str | None = None
    escalate_to: str | None = None  # a user group "S…", or a person "U…"/"W…"

    @property
    def restricted(self) -> bool:
        return bool(self.allowed_users or self.allowed_usergroups)


@dataclass(frozen=True)
class ReminderChoices:
    remind_after_minutes: int | None  # None: the bot's default (REMIND_AFTER_MINUTES)
    quiet_from: str | None
    quiet_to: str | None
    time_zone: str | None
    escalate_to: str | None


@dataclass(frozen=True)
class SetupChoices:
    """What an admin submitted in the setup modal; `api_key`, `allowed_usergroups` and `webhook_secret` None
    keep the saved ones."""

    api_key: str | None
    alert_channel: str | None
    allowed_users: tuple[str, ...]
    allowed_usergroups: tuple[str, ...] | None
    webhook_secret: str | None = None
    allow_unattended: bool | None = None  # None: the form had no such field, and the saved choice is kept
    reminders: ReminderChoices | None = None  # None: the form had no such fields, and the saved ones are kept


class Workspaces:
    def __init__(self, engine: Engine, keybox: KeyBox):
        self._engine = engine
        self._keybox = keybox

    def get(self, workspace: WorkspaceId) -> WorkspaceSettings | None:
        return self.get_many([workspace]).get(workspace)

    def get_many(
        self, wanted: Collection[WorkspaceId], connection: Connection | None = None
    ) -> dict[WorkspaceId, WorkspaceSettings]:
        """The settings of each of `wanted` that has some, in one query; keys seeded from the environment know
        no enterprise id."""
        candidates = {*wanted, *(WorkspaceId("", w.team_id) for w in wanted if w.enterprise_id)}
        if not candidates:
            return {}
        with reading(self._engine, connection) as connection:
            rows = connection.execute(select(workspaces).where(of_workspaces(workspaces, candidates))).mappings().all()
        found = {WorkspaceId(row["enterprise_id"], row["team_id"]): row for row in rows}
        return {
            workspace: self._settings(row)
            for workspace in wanted
            if (row := found.get(workspace) or found.get(WorkspaceId("", workspace.team_id))) is not None
        }

    def by_webhook_token(self, token: str) -> WorkspaceSettings | None:
        with self._engine.connect() as connection:
            row = connection.execute(select(workspaces).where(workspaces.c.webhook_token == token)).mappings().first()
        return self._settings(row) if row is not None else None

    def of_team(self, team_id: str) -> WorkspaceSettings | None:
        """A workspace's settings known only by its team id (team ids are unique across organisations)."""
        with self._engine.connect() as connection:
            row = (
                connection.execute(
                    select(workspaces)
                    .where(workspaces.c.team_id == team_id)
                    .order_by(workspaces.c.enterprise_id.desc())
                )
                .mappings()
                .first()
            )
        return self._settings(row) if row is not None else None

    def all(self) -> list[WorkspaceSettings]:
        with self._engine.connect() as connection:
            return [self._settings(row) for row in connection.execute(select(workspaces)).mappings()]

    def seed_keys(self, keys_by_team: dict[str, str], enterprise_id: str = "") -> None:
        """Keys from the environment, for workspaces of the bot token's Grid organisation `enterprise_id` (if
        any): written where the workspace has none, or had one from the environment (so rotating the
        variable takes effect); a key saved through Slack setup is left alone. Several workers may run this
        at once."""
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            for team_id, key in keys_by_team.items():
                workspace = WorkspaceId(enterprise_id, team_id)
                values = {
                    "api_key_encrypted": self._keybox.seal(key),
                    "key_last4": key[-4:],
                    "key_source": "env",
                    "updated_by": "environment",
                    "updated_at": now,
                }
                if insert_if_absent(connection, workspaces, {**workspace_key(workspace), **values}):
                    continue
                row = connection.execute(select(workspaces).where(_is(workspace))).mappings().first()
                if row is not None and row["key_source"] != "slack" and self._open(row["api_key_encrypted"]) != key:
                    connection.execute(workspaces.update().where(_is(workspace)).values(**values))

    def save_setup(self, workspace: WorkspaceId, choices: SetupChoices, user_id: str) -> WorkspaceSettings:
        now = datetime.now(UTC)
        values: dict = {
            "alert_channel": choices.alert_channel,
            "allowed_users": json.dumps(sorted(choices.allowed_users)),
            "updated_by": user_id,
            "updated_at": now,
            "secret_problem_told_at": None,  # nothing unreadable is left: the key is required, the secret cleared
        }
        if choices.allowed_usergroups is not None:
            values["allowed_usergroups"] = json.dumps(sorted(choices.allowed_usergroups))
        existing = self.get(workspace)
        if choices.allow_unattended is False:
            values |= {"unattended_allowed_by": None, "unattended_allowed_at": None}
        elif choices.allow_unattended and (existing is None or existing.unattended_allowed_by is None):
            values |= {"unattended_allowed_by": user_id, "unattended_allowed_at": now}  # who first allowed it
        reminders_changed = choices.reminders is not None and (
            existing is None
            or (
                existing.remind_after_minutes,
                existing.quiet_from,
                existing.quiet_to,
                existing.time_zone,
            )
            != (
                choices.reminders.remind_after_minutes,
                choices.reminders.quiet_from,
                choices.reminders.quiet_to,
                choices.reminders.time_zone,
            )
        )
        if choices.reminders is not None:
            values |= {
                "remind_after_minutes": choices.reminders.remind_after_minutes,
                "quiet_from": choices.reminders.quiet_from,
                "quiet_to": choices.reminders.quiet_to,
                "time_zone": choices.reminders.time_zone,
                "escalate_to": choices.reminders.escalate_to,
            }
        if choices.webhook_secret is not None:
            values["webhook_secret_encrypted"] = self._keybox.seal(choices.webhook_secret)
        elif existing is not None and existing.webhook_token and existing.webhook_secret is None:
            values["webhook_secret_encrypted"] = None  # unreadable: set it again in this form
        if choices.api_key is not None:
            values |= {
                "api_key_encrypted": self._keybox.seal(choices.api_key),
                "key_last4": choices.api_key[-4:],
                "key_source": "slack",
                "key_checked_at": now,
            }
        if existing is None or existing.webhook_token is None:
            values["webhook_token"] = secrets.token_urlsafe(24)  # unguessable: the URL names the workspace
        with self._engine.begin() as connection:
            # A new setup is a new chance for the alert channel Slack refused (the bot may have been invited).
            connection.execute(alert_channel_problems.delete().where(_problem_of(workspace)))
            # Polled at once, then at its own point of each interval (bot.storage.poll_turns).
            insert_if_absent(connection, poll_schedule, {**workspace_key(workspace), "next_poll_at": now})
            if existing is None:
                connection.execute(workspaces.insert().values(**workspace_key(workspace), **values))
            else:
                connection.execute(workspaces.update().where(_is(existing.workspace)).values(**values))
            if reminders_changed:
                # Reminders already waiting follow the new settings at once (each looked at again, and put off to its
                # time by them), not when the time the old ones gave comes.
                connection.execute(
                    pause_reminders.update()
                    .where(of_workspace(pause_reminders, workspace), pause_reminders.c.state == "waiting")
                    .values(next_at=database_now(connection))
                )
        saved = self.get(workspace)
        assert saved is not None
        return saved

    def forget(self, workspace: WorkspaceId, whole_organisation: bool = False) -> None:
        """The app was uninstalled: its Truedy key, alert channel, restrictions, polling, digests, resume-all
        jobs (a running one stops), scheduled resumes and reminders go (a key seeded before the workspace installed
        included); the audit trail stays. `whole_organisation`: every workspace of the Grid organisation
        `workspace.enterprise_id`."""
        tables = (
            workspaces,
            alert_channel_problems,
            poll_schedule,
            campaign_alerts,
            resume_locks,
            alert_digests,
            resume_all_jobs_table,
            scheduled_resumes,
            workflow_step_runs,
            pause_offers,
            pause_reminders,
            reminder_channels,
        )
        children = ((alert_digest_rows.c.digest_id, alert_digests), (resume_all_items.c.job_id, resume_all_jobs_table))
        with self._engine.begin() as connection:
            for table in tables:
                if whole_organisation:
                    forgotten = table.c.enterprise_id == workspace.enterprise_id
                else:
                    # Also the row written before it installed, when keys came from the environment.
                    legacy = WorkspaceId("", workspace.team_id)
                    forgotten = or_(*(of_workspace(table, each) for each in {workspace, legacy}))
                for parent_id, parent in children:
                    if parent is table:
                        owned = select(parent.c.id).where(forgotten)
                        connection.execute(parent_id.table.delete().where(parent_id.in_(owned)))
                connection.execute(table.delete().where(forgotten))

    def secret_problem_told(self, workspace: WorkspaceId) -> bool:
        """Record that the workspace's admins were told its secrets cannot be read; False if told already."""
        with self._engine.begin() as connection:
            told = connection.execute(
                workspaces.update()
                .where(_is(workspace), workspaces.c.secret_problem_told_at.is_(None))
                .values(secret_problem_told_at=datetime.now(UTC))
            )
            return told.rowcount == 1

    def _settings(self, row) -> WorkspaceSettings:
        api_key, webhook_secret = self._open(row["api_key_encrypted"]), self._open(row["webhook_secret_encrypted"])
        unreadable = (row["api_key_encrypted"] is not None and api_key is None) or (
            row["webhook_secret_encrypted"] is not None and webhook_secret is None
        )
        return WorkspaceSettings(
            workspace=WorkspaceId(row["enterprise_id"], row["team_id"]),
            api_key=api_key,
            key_last4=row["key_last4"],
            key_source=row["key_source"],
            key_checked_at=utc(row["key_checked_at"]),
            alert_channel=row["alert_channel"],
            allowed_users=tuple(json.loads(row["allowed_users"] or "[]")),
            allowed_usergroups=tuple(json.loads(row["allowed_usergroups"] or "[]")),
            updated_by=row["updated_by"],
            updated_at=utc(row["updated_at"]),
            webhook_token=row["webhook_token"],
            webhook_secret=webhook_secret,
            secrets_unreadable=unreadable,
            secret_problem_told=row["secret_problem_told_at"] is not None,
            unattended_allowed_by=row["unattended_allowed_by"],
            unattended_allowed_at=utc(row["unattended_allowed_at"]),
            remind_after_minutes=row["remind_after_minutes"],
            quiet_from=row["quiet_from"],
            quiet_to=row["quiet_to"],
            time_zone=row["time_zone"],
            escalate_to=row["escalate_to"],
        )

    def _open(self, sealed: str | None) -> str | None:
        return self._keybox.open_or_none(sealed)


def _is(workspace: WorkspaceId):
    return of_workspace(workspaces, workspace)


def _problem_of(workspace: WorkspaceId):
    return of_workspace(alert_channel_problems, workspace)
