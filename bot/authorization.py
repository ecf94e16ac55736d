"""Who may resume in a workspace that restricts it: listed users, and members of listed user groups."""

import logging
import threading
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.storage.workspace_settings import WorkspaceSettings

log = logging.getLogger("bot.authorization")

# usergroups.users.list allows ~20 calls a minute: members are remembered this long.
GROUP_MEMBERS_TTL_SECONDS = 60


class Authorizer:
    def __init__(self) -> None:
        self._members: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def may_resume(self, settings: WorkspaceSettings, user_id: str, client: WebClient) -> bool:
        if not settings.restricted or user_id in settings.allowed_users:
            return True
        return any(user_id in self._group_members(group, client) for group in settings.allowed_usergroups)

    def _group_members(self, group_id: str, client: WebClient) -> frozenset[str]:
        with self._lock:
            cached = self._members.get(group_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        try:
            members = frozenset(client.usergroups_users_list(usergroup=group_id).get("users") or [])
        except SlackApiError as error:
            # Fail closed: a group Slack will not list admits nobody.
            log.warning(
                "cannot list user group members",
                extra={"fields": {"event": "slack_error", "group": group_id, "error": error.response.get("error")}},
            )
            return frozenset()
        with self._lock:
            self._members[group_id] = (time.monotonic() + GROUP_MEMBERS_TTL_SECONDS, members)
        return members
