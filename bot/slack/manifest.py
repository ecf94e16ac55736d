"""The Slack app's manifest, in one place: `manifest.yml` (one workspace, Socket Mode, pasted once) is this
with no URL, and `python -m bot manifest --url https://HOST [--socket-mode]` prints the one of an app that
any number of workspaces install from HOST, over HTTP (request URLs on HOST) or Socket Mode."""

from typing import Any

from bot.slack.messages import COMMAND

# Each scope, and why the bot needs it.
# The name the manifest gives the app and its bot user. In Slack, the bot is named by a mention (`<@U…>`), which
# shows the name the workspace sees today; the web pages, which come before any install, use this one.
APP_NAME = "Truedy Campaigns"
BOT_SCOPES = {
    "commands": "/resume-campaign",
    "chat:write": 'the "is resuming" message, its thread reply and its update',
    "chat:write.public": "post in public channels without being invited first",
    "users:read": "/resume-campaign setup is for workspace admins and owners",
    "usergroups:read": "setup can let members of user groups resume",
}

# The Home tab is published when opened; the app forgets a workspace when it is uninstalled, or its bot token
# revoked. None needs a scope.
BOT_EVENTS = ("app_home_opened", "app_uninstalled", "tokens_revoked")


def manifest(url: str | None = None, socket_mode: bool = False) -> dict[str, Any]:
    """Without `url`: one workspace, Socket Mode. With it (`https://host`): installed from
    `{url}/slack/install`, Slack sending the browser back to `{url}/slack/oauth_redirect`, and posting requests
    to `{url}/slack/events` unless `socket_mode`."""
    base = url.rstrip("/") if url else None
    events = f"{base}/slack/events" if base and not socket_mode else None
    command: dict[str, Any] = {
        "command": COMMAND,
        "description": "Resume a paused Truedy campaign",
        "usage_hint": (
            "[campaign id or name] [at 9:00 | in 2h] | list | scheduled | resume-all | setup | status | history | help"
        ),
        "should_escape": False,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    subscriptions: dict[str, Any] = {"bot_events": list(BOT_EVENTS)}
    if events:
        command["url"] = events
        interactivity["request_url"] = events
        interactivity["message_menu_options_url"] = events  # the setup form's user groups, found as one types
        subscriptions["request_url"] = events
    oauth_config: dict[str, Any] = {"scopes": {"bot": list(BOT_SCOPES)}}
    if base:
        oauth_config = {"redirect_urls": [f"{base}/slack/oauth_redirect"], **oauth_config}
    return {
        "display_information": {
            "name": APP_NAME,
            "description": "Resume paused Truedy calling campaigns from Slack.",
            "long_description": (
                "Type /resume-campaign with a campaign id to resume a paused Truedy batch-call campaign, or click "
                "Resume on a paused-campaign alert. The bot says in the channel who resumed what, and posts "
                "Truedy's answer (when calling resumed, or what went wrong and what to do) in the thread. Each "
                "Slack workspace connects its own Truedy account with /resume-campaign setup."
            ),
            "background_color": "#1d3557",
        },
        "features": {
            # Home: the paused campaigns, the latest resumes, setup; Messages: answers to clicks in Home.
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": APP_NAME, "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": oauth_config,
        "settings": {
            "event_subscriptions": subscriptions,
            "interactivity": interactivity,
            # Enterprise Grid organisations can install it once for all their workspaces.
            "org_deploy_enabled": base is not None,
            "socket_mode_enabled": events is None,
            "token_rotation_enabled": False,
        },
    }
