"""Events: someone opened the bot's Home tab; the app uninstalled from a workspace, or its bot token revoked."""

import logging
from datetime import UTC, datetime

from slack_bolt import App, BoltContext
from slack_sdk import WebClient

from bot.services import Services
from bot.slack.context import workspace_of
from bot.slack.home import publish_home
from bot.slack.tokens import Installations

log = logging.getLogger("bot.events")


def register(app: App) -> None:
    app.event("app_home_opened")(home_opened)
    app.event("app_uninstalled")(app_uninstalled)
    app.event("tokens_revoked")(tokens_revoked)


def home_opened(event: dict, client: WebClient, context: BoltContext) -> None:
    if event.get("tab") != "home":
        return  # the Messages tab
    services: Services = context["services"]
    services.lookups.submit(publish_home, services, workspace_of(context), event["user"], client)


def app_uninstalled(body: dict, context: BoltContext) -> None:
    _forget_installation(context, body, "app_uninstalled")


def tokens_revoked(event: dict, body: dict, context: BoltContext) -> None:
    services: Services = context["services"]
    revoked_bots = (event.get("tokens") or {}).get("bot") or []
    # Only the bot's token matters: the app keeps no user tokens.
    if (
        isinstance(services.tokens, Installations)
        and services.tokens.bot_user_of(workspace_of(context)) in revoked_bots
    ):
        _forget_installation(context, body, "tokens_revoked")


def _forget_installation(context: BoltContext, body: dict, why: str) -> None:
    services: Services = context["services"]
    workspace, org_wide = workspace_of(context), bool(context.is_enterprise_install)
    event_time = body.get("event_time")
    happened = datetime.fromtimestamp(event_time, UTC) if isinstance(event_time, int | float) else None
    removed = services.tokens.uninstall(workspace, org_wide, happened)
    if removed:
        services.workspaces.forget(workspace, whole_organisation=org_wide)
    log.info(
        "uninstalled" if removed else "uninstall event ignored",
        extra={
            "fields": {
                "event": "uninstalled" if removed else "uninstall_ignored",
                "why": why,
                "team": workspace.team_id,
                "enterprise": workspace.enterprise_id,
            }
        },
    )
