from bot.storage.workspace_settings import WorkspaceId


def workspace_of(context: dict) -> WorkspaceId:
    """The workspace a request belongs to, as Bolt read it from the payload: its team (for org-wide installs
    too), or `view.app_installed_team_id` for a modal opened from a Slack Connect channel."""
    return WorkspaceId(context.get("enterprise_id") or "", context["team_id"])
