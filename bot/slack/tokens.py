"""Which bot token serves which workspace: SLACK_BOT_TOKEN's own workspace (or Grid organisation, for an
org-wide token), or each workspace's installation."""

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from slack_bolt import BoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import Authorize
from slack_sdk import WebClient

from bot.settings import Settings
from bot.slack.client import configure_slack_client
from bot.storage.installations import InstallationStore
from bot.storage.workspace_settings import WorkspaceId


class BotTokens(Protocol):
    def client_for(self, workspace: WorkspaceId) -> WebClient | None:
        """A client with the bot token that serves `workspace`, or None if none does."""
        ...

    def installer_of(self, workspace: WorkspaceId) -> str | None:
        """The user who installed the app in `workspace`, when known."""
        ...

    def uninstall(self, workspace: WorkspaceId, org_wide: bool, event_time: datetime | None) -> bool:
        """Forget the installation named by an uninstall event; False when there is none, or the event is
        older than the installation (a late or retried event must not remove a reinstall)."""
        ...

    def for_polling(self, settings: Settings) -> "BotTokens":
        """The same tokens, with clients that do not wait out Slack's `ratelimited` answers (the watcher's:
        the next poll goes on instead of a polling thread sleeping)."""
        ...


@dataclass(frozen=True)
class TokenIdentity:
    """What auth.test says about SLACK_BOT_TOKEN."""

    team_id: str
    enterprise_id: str
    org_wide: bool

    def serves(self, workspace: WorkspaceId) -> bool:
        if self.org_wide:
            return bool(workspace.enterprise_id) and workspace.enterprise_id == self.enterprise_id
        return workspace.team_id == self.team_id


@dataclass(frozen=True)
class OneToken:
    """SLACK_BOT_TOKEN: one workspace (or one Grid organisation)."""

    client: WebClient
    identity: TokenIdentity

    def client_for(self, workspace: WorkspaceId) -> WebClient | None:
        return self.client if self.identity.serves(workspace) else None

    def installer_of(self, workspace: WorkspaceId) -> str | None:
        return None

    def uninstall(self, workspace: WorkspaceId, org_wide: bool, event_time: datetime | None) -> bool:
        return False  # SLACK_BOT_TOKEN is the operator's to change

    def for_polling(self, settings: Settings) -> "OneToken":
        client = configure_slack_client(WebClient(token=self.client.token), settings, wait_out_rate_limits=False)
        return OneToken(client, self.identity)


@dataclass(frozen=True)
class Installations:
    """Each workspace's own installation (OAuth)."""

    store: InstallationStore
    settings: Settings
    wait_out_rate_limits: bool = True

    def client_for(self, workspace: WorkspaceId) -> WebClient | None:
        bot = self.store.find_workspace_bot(workspace.enterprise_id, workspace.team_id)
        if bot is None:
            return None
        return configure_slack_client(WebClient(token=bot.bot_token), self.settings, self.wait_out_rate_limits)

    def installer_of(self, workspace: WorkspaceId) -> str | None:
        installation = self.store.find_workspace_installation(workspace.enterprise_id, workspace.team_id)
        return installation.user_id if installation is not None else None

    def bot_user_of(self, workspace: WorkspaceId) -> str | None:
        bot = self.store.find_workspace_bot(workspace.enterprise_id, workspace.team_id)
        return bot.bot_user_id if bot is not None else None

    def uninstall(self, workspace: WorkspaceId, org_wide: bool, event_time: datetime | None) -> bool:
        enterprise_id = workspace.enterprise_id or None
        team_id = None if org_wide else workspace.team_id
        installed_at = self.store.installed_since(enterprise_id, team_id)
        # Slack's event times are whole seconds: an event of the installation's own second is taken as newer.
        if installed_at is None or (event_time is not None and event_time < installed_at.replace(microsecond=0)):
            return False
        self.store.delete_all(enterprise_id=enterprise_id, team_id=team_id)
        return True

    def for_polling(self, settings: Settings) -> "Installations":
        return replace(self, wait_out_rate_limits=False)


class StoredInstallationAuthorize(Authorize):
    """Bolt's authorizer for installations (InstallationStoreAuthorize) asks Slack's auth.test (~0.3 s) about
    every token a process has not seen yet, while the request waits for its ack. The installation saved at
    install time already holds what auth.test would say, so this reads it alone."""

    def __init__(self, store: InstallationStore):
        self._store = store

    def __call__(
        self, *, context: BoltContext, enterprise_id: str | None, team_id: str | None, user_id: str | None, **_
    ) -> AuthorizeResult | None:
        bot = self._store.find_bot_for_request(enterprise_id, team_id, bool(context.is_enterprise_install))
        if bot is None:
            return None
        return AuthorizeResult(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            bot_user_id=bot.bot_user_id,
            bot_id=bot.bot_id,
            bot_token=bot.bot_token,
            bot_scopes=bot.bot_scopes,
            user_id=user_id,
        )
