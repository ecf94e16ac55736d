"""Which campaigns have an alert, so that each pause is alerted once: across polls, restarts and workers."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Engine, and_, select
from sqlalchemy.exc import IntegrityError

from bot.storage import campaign_alerts, of_workspace, of_workspaces, reading, workspace_key
from bot.storage.reminders import track_in
from bot.storage.workspace_settings import WorkspaceId

# A worker that claimed a pause and died before posting its alert: another may post it after this long.
POSTING_TIMEOUT = timedelta(minutes=2)


@dataclass(frozen=True)
class OpenAlert:
    campaign_id: str
    channel: str
    message_ts: str


class AlertRecords:
    def __init__(self, engine: Engine):
        self._engine = engine

    def claim_new_pause(self, workspace: WorkspaceId, campaign_id: str) -> bool:
        """True when the caller is the one to post the alert for this pause of the campaign."""
        now = datetime.now(UTC)
        try:
            with self._engine.begin() as connection:
                connection.execute(
                    campaign_alerts.insert().values(**_key(workspace, campaign_id), state="posting", changed_at=now)
                )
            return True
        except IntegrityError:
            pass
        with self._engine.begin() as connection:
            taken = connection.execute(
                campaign_alerts.update()
                .where(
                    _is(workspace, campaign_id),
                    (campaign_alerts.c.state == "closed")
                    | ((campaign_alerts.c.state == "posting") & (campaign_alerts.c.changed_at < now - POSTING_TIMEOUT)),
                )
                .values(state="posting", channel=None, message_ts=None, changed_at=now)
            )
        return taken.rowcount == 1

    def posted(
        self,
        workspace: WorkspaceId,
        campaign_id: str,
        channel: str,
        message_ts: str,
        remind_after: timedelta = timedelta(0),
    ) -> None:
        """The alert for this pause is in Slack (also for alerts posted by hand with `python -m bot alert`); with
        `remind_after`, its reminders are written with it (bot.storage.reminders), in the same transaction."""
        values = {"state": "open", "channel": channel, "message_ts": message_ts, "changed_at": datetime.now(UTC)}
        with self._engine.begin() as connection:
            updated = connection.execute(campaign_alerts.update().where(_is(workspace, campaign_id)).values(**values))
            if updated.rowcount == 0:
                connection.execute(campaign_alerts.insert().values(**_key(workspace, campaign_id), **values))
            if remind_after > timedelta(0):
                track_in(connection, workspace, channel, message_ts, remind_after, campaign_id=campaign_id)

    def reopen(self, workspace: WorkspaceId, campaign_id: str, channel: str, message_ts: str) -> bool:
        """The alert at (channel, message_ts) is this campaign's open alert again (Pause again, before the pause
        leaves: a poll meanwhile finds it alerted); False when another alert or its posting holds the record."""
        values = {"state": "open", "channel": channel, "message_ts": message_ts, "changed_at": datetime.now(UTC)}
        with self._engine.begin() as connection:
            reopened = connection.execute(
                campaign_alerts.update()
                .where(_is(workspace, campaign_id), campaign_alerts.c.state == "closed")
                .values(**values)
            )
            if reopened.rowcount == 1:
                return True
        try:
            with self._engine.begin() as connection:
                connection.execute(campaign_alerts.insert().values(**_key(workspace, campaign_id), **values))
            return True
        except IntegrityError:
            return False

    def abandon(self, workspace: WorkspaceId, campaign_id: str) -> None:
        """Posting failed: the next poll tries again."""
        self._set_state(workspace, campaign_id, "posting", "closed")

    def close(self, workspace: WorkspaceId, campaign_id: str) -> bool:
        """The pause is over; True for the one caller that closed it (and so updates the alert)."""
        return self._set_state(workspace, campaign_id, "open", "closed")

    def open_alerts_of(
        self, wanted: Collection[WorkspaceId], connection: Connection | None = None
    ) -> dict[WorkspaceId, list[OpenAlert]]:
        """The open alerts of each of `wanted`, in one query."""
        found: dict[WorkspaceId, list[OpenAlert]] = {workspace: [] for workspace in wanted}
        if not found:
            return found
        query = select(campaign_alerts).where(of_workspaces(campaign_alerts, found), campaign_alerts.c.state == "open")
        with reading(self._engine, connection) as connection:
            for row in connection.execute(query).mappings():
                alert = OpenAlert(row["campaign_id"], row["channel"], row["message_ts"])
                found[WorkspaceId(row["enterprise_id"], row["team_id"])].append(alert)
        return found

    def open_alert(self, workspace: WorkspaceId, campaign_id: str) -> OpenAlert | None:
        query = select(campaign_alerts).where(_is(workspace, campaign_id), campaign_alerts.c.state == "open")
        with self._engine.connect() as connection:
            row = connection.execute(query).mappings().first()
        return None if row is None else OpenAlert(row["campaign_id"], row["channel"], row["message_ts"])

    def _set_state(self, workspace: WorkspaceId, campaign_id: str, expected: str, new: str) -> bool:
        with self._engine.begin() as connection:
            changed = connection.execute(
                campaign_alerts.update()
                .where(_is(workspace, campaign_id), campaign_alerts.c.state == expected)
                .values(state=new, changed_at=datetime.now(UTC))
            )
        return changed.rowcount == 1


def _key(workspace: WorkspaceId, campaign_id: str) -> dict[str, str]:
    return {**workspace_key(workspace), "campaign_id": campaign_id}


def _is(workspace: WorkspaceId, campaign_id: str):
    return and_(of_workspace(campaign_alerts, workspace), campaign_alerts.c.campaign_id == campaign_id)
