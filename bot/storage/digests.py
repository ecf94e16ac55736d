"""Digests: one message for the many campaigns one poll found newly paused, each row following its campaign.

A row changes in the database first (raising the digest's version); the message is then rendered from the
database, and rendered again by whoever sees that the version moved while they posted: the last render
shows every change, whatever order Slack applied the updates in.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, and_, select

from bot import truedy
from bot.storage import alert_digest_rows, alert_digests, of_workspace, utc, workspace_key
from bot.storage.reminders import track_in
from bot.storage.workspace_settings import WorkspaceId

STILL_PAUSED = ("paused", "failed")


@dataclass(frozen=True)
class DigestRow:
    campaign_id: str
    name: str | None
    kind: str  # see `alert_digest_rows.kind`
    line: str | None


@dataclass(frozen=True)
class Digest:
    id: int
    workspace: WorkspaceId
    channel: str
    message_ts: str | None
    version: int
    created_at: datetime
    rows: list[DigestRow]

    @property
    def still_paused(self) -> list[DigestRow]:
        return [row for row in self.rows if row.kind in STILL_PAUSED]


class AlertDigests:
    def __init__(self, engine: Engine):
        self._engine = engine

    def create(self, workspace: WorkspaceId, channel: str, campaigns: list[truedy.Campaign]) -> int:
        with self._engine.begin() as connection:
            digest_id = connection.execute(
                alert_digests.insert().values(
                    **workspace_key(workspace), channel=channel, version=0, created_at=datetime.now(UTC)
                )
            ).inserted_primary_key[0]
            connection.execute(
                alert_digest_rows.insert(),
                [
                    {"digest_id": digest_id, "campaign_id": c.id, "position": i, "name": c.name, "kind": "paused"}
                    for i, c in enumerate(campaigns)
                ],
            )
        return int(digest_id)

    def posted(
        self,
        digest_id: int,
        channel: str,
        message_ts: str,
        workspace: WorkspaceId | None = None,
        remind_after: timedelta = timedelta(0),
    ) -> None:
        """The digest is in Slack; with `remind_after`, its reminders are written with it, in the same transaction."""
        with self._engine.begin() as connection:
            connection.execute(
                alert_digests.update()
                .where(alert_digests.c.id == digest_id)
                .values(channel=channel, message_ts=message_ts)
            )
            if workspace is not None and remind_after > timedelta(0):
                track_in(connection, workspace, channel, message_ts, remind_after, digest_id=digest_id)

    def discard(self, digest_id: int) -> None:
        """Slack refused it: its pauses are alerted by a later poll."""
        with self._engine.begin() as connection:
            connection.execute(alert_digest_rows.delete().where(alert_digest_rows.c.digest_id == digest_id))
            connection.execute(alert_digests.delete().where(alert_digests.c.id == digest_id))

    def find(self, workspace: WorkspaceId, channel: str, message_ts: str) -> int | None:
        """The digest posted as this message, if it is one."""
        query = select(alert_digests.c.id).where(
            of_workspace(alert_digests, workspace),
            alert_digests.c.channel == channel,
            alert_digests.c.message_ts == message_ts,
        )
        with self._engine.connect() as connection:
            found = connection.execute(query).scalar()
        return None if found is None else int(found)

    def get(self, digest_id: int) -> Digest | None:
        with self._engine.connect() as connection:
            head = connection.execute(select(alert_digests).where(alert_digests.c.id == digest_id)).mappings().first()
            if head is None:
                return None
            rows = connection.execute(
                select(alert_digest_rows)
                .where(alert_digest_rows.c.digest_id == digest_id)
                .order_by(alert_digest_rows.c.position)
            ).mappings()
            return Digest(
                id=digest_id,
                workspace=WorkspaceId(head["enterprise_id"], head["team_id"]),
                channel=head["channel"],
                message_ts=head["message_ts"],
                version=head["version"],
                created_at=utc(head["created_at"]) or datetime.now(UTC),
                rows=[DigestRow(r["campaign_id"], r["name"], r["kind"], r["line"]) for r in rows],
            )

    def version(self, digest_id: int) -> int | None:
        with self._engine.connect() as connection:
            return connection.execute(select(alert_digests.c.version).where(alert_digests.c.id == digest_id)).scalar()

    def set_row(self, digest_id: int, campaign_id: str, kind: str, line: str) -> None:
        with self._engine.begin() as connection:
            changed = connection.execute(
                alert_digest_rows.update()
                .where(and_(alert_digest_rows.c.digest_id == digest_id, alert_digest_rows.c.campaign_id == campaign_id))
                .values(kind=kind, line=line)
            )
            if changed.rowcount:
                connection.execute(
                    alert_digests.update()
                    .where(alert_digests.c.id == digest_id)
                    .values(version=alert_digests.c.version + 1)
                )
