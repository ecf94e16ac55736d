"""Who may resume in a workspace that restricts it: listed users, and members of listed user groups."""

import logging
import math
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.storage.workspace_settings import WorkspaceSettings

log = logging.getLogger("bot.authorization")

# usergroups.users.list allows ~20 calls a minute: members are remembered this long.
GROUP_MEMBERS_TTL_SECONDS = 60
# When Slack's rate limit answer gives no Retry-After.
DEFAULT_RETRY_AFTER_SECONDS = 30


class MembershipUnknown(Exception):
    """Slack is rate-limiting the membership check for this workspace: ask again in `retry_after` seconds."""

    def __init__(self, retry_after: int):
        super().__init__(f"Slack rate-limits usergroups.users.list for {retry_after} s")
        self.retry_after = retry_after


class Authorizer:
    def __init__(self) -> None:
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._limited_until: dict[str, float] = {}  # by bot token: Slack's limits are per workspace and method
        self._lock = threading.Lock()

    def may_resume(self, settings: WorkspaceSettings, user_id: str, client: WebClient) -> bool:
        """Raises MembershipUnknown at once, without waiting, when Slack rate-limits the group check."""
        if not settings.restricted or user_id in settings.allowed_users:
            return True
        return any(user_id in self._group_members(group, client) for group in settings.allowed_usergroups)

    def _group_members(self, group_id: str, client: WebClient) -> frozenset[str]:
        now, token = time.monotonic(), client.token or ""
        with self._lock:
            cached = self._members.get(group_id)
            limited_until = self._limited_until.get(token, 0.0)
        if cached is not None and cached[0] > now:
            return cached[1]
        if limited_until > now:
            raise MembershipUnknown(math.ceil(limited_until - now))
        try:
            members = frozenset(_never_waiting(client).usergroups_users_list(usergroup=group_id).get("users") or [])
        except SlackApiError as error:
            if error.response.status_code == 429 or error.response.get("error") == "ratelimited":
                retry_after = _retry_after(error)
                with self._lock:
                    self._limited_until[token] = now + retry_after
                raise MembershipUnknown(retry_after) from None
            # Fail closed: a group Slack will not list admits nobody.
            log.warning(
                "cannot list user group members",
                extra={"fields": {"event": "slack_error", "group": group_id, "error": error.response.get("error")}},
            )
            return frozenset()
        with self._lock:
            self._members[group_id] = (now + GROUP_MEMBERS_TTL_SECONDS, members)
        return members


def _never_waiting(client: WebClient) -> WebClient:
    """The same workspace's client without the handler that sleeps out Slack's Retry-After: this check runs on
    threads every workspace shares, and a person waiting is better told to try again."""
    return WebClient(token=client.token, base_url=client.base_url, timeout=client.timeout, logger=client.logger)


def _retry_after(error: SlackApiError) -> int:
    headers = {name.lower(): value for name, value in (error.response.headers or {}).items()}
    value = headers.get("retry-after")
    if isinstance(value, list):
        value = value[0] if value else None
    try:
        return max(1, min(int(str(value)), 3600))
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
