"""Where each workspace's bot token lives when workspaces install the app: slack_sdk's SQLAlchemy stores
on this project's tables, with every token encrypted with BOT_ENCRYPTION_KEY.

slack_sdk's stock installation store keeps tokens in plain text; giving its token columns a type that
encrypts on write and decrypts on read keeps all of its queries (save, find, delete) as they are."""

import logging
import threading
import time
from datetime import UTC, datetime

from slack_bolt.error import BoltError
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Dialect, Engine, MetaData, Table, Text, TypeDecorator, select
from sqlalchemy.exc import SQLAlchemyError

from bot.storage import (
    SECRET_INSTALLATION_COLUMNS,
    error_reason,
    retried_if_sqlite_was_busy,
    slack_bots,
    slack_installations,
    slack_oauth_states,
    utc,
    writing_first,
)
from bot.storage.keybox import KeyBox

log = logging.getLogger("bot.installations")


class Sealed(TypeDecorator):
    """Text encrypted with the KeyBox: never written in plain text, read back in plain text."""

    impl = Text
    cache_ok = True

    def __init__(self, keybox: KeyBox):
        super().__init__()
        self.keybox = keybox

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return self.keybox.seal(value) if value is not None else None

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        # A token sealed with a key no longer listed reads as none: that workspace installs again, the others
        # are served as usual.
        return self.keybox.open_or_none(value)


def _with_sealed_secrets(table: Table, metadata: MetaData, keybox: KeyBox) -> Table:
    copy = table.to_metadata(metadata)
    for name in SECRET_INSTALLATION_COLUMNS:
        if name in copy.c:
            copy.c[name].type = Sealed(keybox)
    return copy


# How long a process reuses an installation it found for a request. Under a burst, reading it from the
# database on the way to every ack more than doubled the acks' p99 (bench/http.py). An install or uninstall
# is seen at once by the process that handles it, and by the others within this long: Slack sends nothing
# more for an uninstalled app (its Truedy key and settings are gone at once), and a reinstall usually keeps
# the bot token (when it does not, answers meanwhile go to the requester privately).
RECENT_SECONDS = 10.0


class _Writes(SQLAlchemyInstallationStore):
    """slack_sdk's writes (save, save_bot, delete_all: a read, then a write, in one transaction) on an engine whose
    transactions take SQLite's write lock first. Begun as a read, such a transaction fails at once when another
    process (a worker's runners write every second) wrote in between ("database is locked", busy timeout or
    not), and three tries in a row could all fail so: an install page said the database did not answer."""

    def __init__(self, client_id: str, engine: Engine, installations: Table, bots: Table):
        super().__init__(client_id, writing_first(engine))
        self.installations, self.bots = installations, bots

    def save_bot(self, bot: Bot) -> None:  # also as the second half of `save`
        retried_if_sqlite_was_busy(lambda: super(_Writes, self).save_bot(bot))


class InstallationStore(SQLAlchemyInstallationStore):
    def __init__(self, client_id: str, engine: Engine, keybox: KeyBox):
        super().__init__(client_id, engine)
        self.metadata = MetaData()
        self.installations = _with_sealed_secrets(slack_installations, self.metadata, keybox)
        self.bots = _with_sealed_secrets(slack_bots, self.metadata, keybox)
        self._writes = _Writes(client_id, engine, self.installations, self.bots)
        self._recent: dict[tuple, tuple[float, Bot]] = {}
        self._recent_lock = threading.Lock()
        self._lookups: dict[tuple, threading.Lock] = {}
        self._forgotten = 0  # how many times the recent ones were forgotten: a read from before is not kept

    def find_bot_for_request(self, enterprise_id: str | None, team_id: str | None, org_wide: bool) -> Bot | None:
        """`find_bot`, remembered for RECENT_SECONDS once found (never when not: an install counts at once).
        One read per workspace at a time: a burst's first requests would otherwise each read the same row,
        and wait for the pool's connections while they do."""
        key = (enterprise_id, team_id, org_wide)
        if (bot := self._recent_bot(key)) is not None:
            return bot
        with self._recent_lock:
            lookup = self._lookups.setdefault(key, threading.Lock())
        with lookup:
            if (bot := self._recent_bot(key)) is not None:
                return bot
            with self._recent_lock:
                forgotten = self._forgotten
            bot = self.find_bot(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=org_wide)
            with self._recent_lock:
                if bot is not None and forgotten == self._forgotten:
                    self._recent[key] = (time.monotonic() + RECENT_SECONDS, bot)
            return bot

    def _recent_bot(self, key: tuple) -> Bot | None:
        with self._recent_lock:
            recent = self._recent.get(key)
        return recent[1] if recent is not None and recent[0] > time.monotonic() else None

    def save(self, installation: Installation) -> None:
        try:
            retried_if_sqlite_was_busy(lambda: self._writes.save(installation))
        except SQLAlchemyError as error:
            reason = error_reason(error)
            fields = {"event": "installation_not_saved", "reason": reason}
            log.warning("installation not saved", extra={"fields": fields})
            # Bolt's OAuth flow turns a BoltError into its "storage_error" page; anything else would be a 500.
            raise BoltError(f"cannot save the installation ({reason})") from None
        self._forget_recent()

    def save_bot(self, bot: Bot) -> None:
        self._writes.save_bot(bot)

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self._writes.delete_all(enterprise_id=enterprise_id, team_id=team_id)
        self._forget_recent()

    def _forget_recent(self) -> None:
        with self._recent_lock:
            self._recent.clear()
            self._forgotten += 1

    def find_workspace_bot(self, enterprise_id: str, team_id: str) -> Bot | None:
        """The bot serving a workspace: its own installation, else its Grid organisation's org-wide one."""
        bot = self.find_bot(enterprise_id=enterprise_id or None, team_id=team_id)
        if bot is None and enterprise_id:
            bot = self.find_bot(enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True)
        return bot

    def find_workspace_installation(self, enterprise_id: str, team_id: str) -> Installation | None:
        """The installation serving a workspace, found as `find_workspace_bot` finds its bot."""
        installation = self.find_installation(enterprise_id=enterprise_id or None, team_id=team_id)
        if installation is None and enterprise_id:
            installation = self.find_installation(enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True)
        return installation

    def installed_since(self, enterprise_id: str | None, team_id: str | None) -> datetime | None:
        """When the current installation was made, or None if there is none."""
        columns = self.bots.c
        with self.engine.connect() as connection:
            newest = connection.execute(
                select(columns.installed_at)
                .where(
                    columns.client_id == self.client_id,
                    columns.enterprise_id == enterprise_id,
                    columns.team_id == team_id,
                )
                .order_by(columns.installed_at.desc())
                .limit(1)
            ).scalar()
        return utc(newest)


# Installs under way at once, at most: anyone may open the install page, and each visit makes a state. Past
# this, the oldest go first (a flood of visits costs the table nothing, and the newest visitors can install).
MAX_STATES = 10_000


class OAuthStateStore(SQLAlchemyOAuthStateStore):
    """slack_sdk's database state store (states shared by every process), on this project's table; expired
    states are removed as new ones are issued, since the stock store never removes them, and there are never
    more than MAX_STATES."""

    def __init__(self, expiration_seconds: int, engine: Engine, most: int = MAX_STATES):
        # Each of its transactions reads, then writes (`consume` reads the state, then deletes it, and on
        # SQLite would fail at once, state unconsumed, had another process written in between): on SQLite
        # they take the write lock first.
        super().__init__(expiration_seconds, writing_first(engine))
        self.metadata = MetaData()
        self.oauth_states = slack_oauth_states.to_metadata(self.metadata)
        self._most = most

    def issue(self, *args, **kwargs) -> str:
        states = self.oauth_states
        with self.engine.begin() as connection:
            now = datetime.now(UTC).replace(tzinfo=None)
            connection.execute(states.delete().where(states.c.expire_at < now))
            newest_kept = select(states.c.id).order_by(states.c.id.desc()).offset(self._most - 1).limit(1)
            oldest_kept = connection.execute(newest_kept).scalar()
            if oldest_kept is not None:
                connection.execute(states.delete().where(states.c.id <= oldest_kept))
        return super().issue(*args, **kwargs)
