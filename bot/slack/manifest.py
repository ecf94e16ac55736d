"""The Slack app's manifest, in one place: `manifest.yml` (Socket Mode, pasted once) is this with no URL, and
`python -m bot manifest --url https://HOST` prints the HTTP-mode one, with its request URLs."""

from typing import Any

from bot.slack.messages import COMMAND

# Each scope, and why the bot needs it.
BOT_SCOPES = {
    "commands": "/resume-campaign",
    "chat:write": 'the "is resuming" message, its thread reply and its update',
    "chat:write.public": "post in public channels without being invited first",
    "users:read": "/resume-campaign setup is for workspace admins and owners",
    "usergroups:read": "setup can let members of user groups resume",
}


def manifest(url: str | None = None) -> dict[str, Any]:
    """Socket Mode without `url`; with it (`https://host`), HTTP mode: Slack posts to `{url}/slack/events`."""
    events = f"{url.rstrip('/')}/slack/events" if url else None
    command: dict[str, Any] = {
        "command": COMMAND,
        "description": "Resume a paused Truedy campaign",
        "usage_hint": "<campaign id> | setup | status | history [campaign id] | help",
        "should_escape": False,
    }
    interactivity: dict[str, Any] = {"is_enabled": True}
    if events:
        command["url"] = events
        interactivity["request_url"] = events
    return {
        "display_information": {
            "name": "Truedy Campaigns",
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
            "bot_user": {"display_name": "Truedy Campaigns", "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": list(BOT_SCOPES)}},
        "settings": {
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": events is None,
            "token_rotation_enabled": False,
        },
    }
