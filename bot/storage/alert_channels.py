"""Alert channels Slack refused to post in, per workspace: no alert goes there until setup changes."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, select

from bot.storage import (
    alert_channel_problems,
    insert_if_absent,
    of_workspace,
    of_workspaces,
    reading,
    utc,
    workspace_key,
)
from bot.storage.workspace_settings import WorkspaceId

# Slack's answers to chat.postMessage that trying again later will not change: the channel has to change
# (or the bot be invited) first.
CHANNEL_REFUSALS = frozenset(
    {"not_in_channel", "channel_not_found", "is_archived", "restricted_action", "cannot_post_in_channel"}
)


@dataclass(frozen=True)
class ChannelProblem:
    channel: str
    error: str
    since: datetime


class AlertChannelProblems:
    def __init__(self, engine: Engine):
        self._engine = engine

    def record(self, workspace: WorkspaceId, channel: str, error: str) -> bool:
        """Slack refused `channel`; True when this is news (so whoever set it up is told once), False when it
        was known already and refused again (tried after CHANNEL_RETRY)."""
        values = {**workspace_key(workspace), "channel": channel, "error": error[:64], "since": datetime.now(UTC)}
        with self._engine.begin() as connection:
            if insert_if_absent(connection, alert_channel_problems, values):
                return True
            known = connection.execute(select(alert_channel_problems.c.channel).where(_is(workspace))).scalar()
            connection.execute(alert_channel_problems.update().where(_is(workspace)).values(**values))
        return known != channel

    def latest(self, workspace: WorkspaceId) -> ChannelProblem | None:
        """The alert channel Slack last refused in this workspace, if it has not been cleared since."""
        return self.latest_of([workspace]).get(workspace)

    def latest_of(
        self, wanted: Collection[WorkspaceId], connection: Connection | None = None
    ) -> dict[WorkspaceId, ChannelProblem]:
        """The same for each of `wanted` that has one, in one query."""
        if not wanted:
            return {}
        with reading(self._engine, connection) as connection:
            query = select(alert_channel_problems).where(of_workspaces(alert_channel_problems, wanted))
            rows = connection.execute(query).mappings().all()
        return {
            WorkspaceId(row["enterprise_id"], row["team_id"]): ChannelProblem(
                row["channel"], row["error"], utc(row["since"]) or datetime.now(UTC)
            )
            for row in rows
        }

    def clear(self, workspace: WorkspaceId) -> None:
        with self._engine.begin() as connection:
            connection.execute(alert_channel_problems.delete().where(_is(workspace)))


def _is(workspace: WorkspaceId):
    return of_workspace(alert_channel_problems, workspace)
