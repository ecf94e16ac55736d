from typing import Any

from slack_bolt import Respond
from slack_sdk import WebClient

from bot.services import Services
from bot.slack.blocks import messages
from bot.storage.workspace_settings import WorkspaceId


def may_resume(
    services: Services, workspace: WorkspaceId, user_id: str, client: WebClient, respond: Respond, **options: Any
) -> bool:
    """Whether this person may resume here; if not, they are told why (`options`: how `respond` answers)."""
    refusal = services.resumes.refusal(workspace, user_id, client)
    if refusal is not None:
        respond(**messages.refusal(refusal, ""), **options)
    return refusal is None


def may_set_up(services: Services, workspace: WorkspaceId, user_id: str, client: WebClient) -> bool:
    """Workspace admins and owners, and whoever installed the app."""
    if user_id == services.tokens.installer_of(workspace):
        return True
    user = client.users_info(user=user_id)["user"]
    return bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
