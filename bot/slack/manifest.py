"""The Slack app's manifest, in one place: `manifest.yml` (one workspace, Socket Mode, pasted once) is this
with no URL, and `python -m bot manifest --url https://HOST [--socket-mode]` prints the one of an app that
any number of workspaces install from HOST, over HTTP (request URLs on HOST) or Socket Mode."""

from typing import Any

from bot.slack.blocks.messages import COMMAND

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
# revoked; a workflow runs one of its steps. None needs a scope.
BOT_EVENTS = ("app_home_opened", "app_uninstalled", "tokens_revoked", "function_executed")


def _parameter(name: str, kind: str, title: str, description: str, required: bool, hint: str | None = None) -> dict:
    parameter = {"type": kind, "title": title, "description": description, "is_required": required, "name": name}
    return parameter | ({"hint": hint} if hint else {})


# Whom the workspace's restrictions are checked against: the person Slack says started the run (a link, a
# shortcut, a button), never a name a builder typed. Workflow Builder shows no field for it and fills it from the
# trigger; optional, so that a workflow started on a schedule (which has no person) can still be published.
_RUN_BY = _parameter(
    "user_context",
    "slack#/types/user_context",
    "Person who ran the workflow",
    "Filled in by Slack with the person who started the workflow (a link, a shortcut or a button): the "
    "workspace's restrictions on who may resume apply to them. A workflow started on a schedule has none.",
    False,
)
# A name only: what history and messages call the requester of a run with no person. It grants nothing.
_ACTING_USER = _parameter(
    "acting_user",
    "slack#/types/user_id",
    "On behalf of",
    "Named in history and messages for a run with no person (a scheduled workflow). It grants nothing: where "
    "resumes are restricted, such a run resumes only if a workspace admin allowed unattended workflow runs in "
    "setup.",
    False,
)
_NAME_FILTER = _parameter(
    "name_filter",
    "string",
    "Only campaigns named",
    "Words every campaign's name must have (any order, any case). Empty: every paused campaign.",
    False,
)
# Workflow Builder steps (Bolt's `app.function`): Slack's own Bolt for Python custom-step template declares them
# so, a v1 manifest's flat parameters, which Slack's manifest schema checks (tests/unit/test_manifest.py).
STEPS: dict[str, dict[str, Any]] = {
    "resume_campaign": {
        "title": "Resume a Truedy campaign",
        "description": "Resumes a paused Truedy campaign with this workspace's Truedy key, for the person who ran it.",
        "input_parameters": {
            "campaign": _parameter(
                "campaign",
                "string",
                "Campaign",
                "The campaign's id (batch_c3d4e5f6), or its exact name as Truedy shows it.",
                True,
                "The id is on the campaign's page in the Truedy dashboard",
            ),
            "acting_user": _ACTING_USER,
            "user_context": _RUN_BY,
        },
        "output_parameters": {
            "campaign_id": _parameter("campaign_id", "string", "Campaign id", "The campaign resumed.", True),
            "status": _parameter("status", "string", "Status", "Its status now, as Truedy says (active…).", True),
            "resumed_at": _parameter(
                "resumed_at", "slack#/types/timestamp", "Resumed at", "When calling resumed, if Truedy said.", False
            ),
        },
    },
    "resume_all_paused": {
        "title": "Resume all paused Truedy campaigns",
        "description": "Resumes every paused campaign (or those named so), with one progress message in a channel.",
        "input_parameters": {
            "channel": _parameter(
                "channel", "slack#/types/channel_id", "Progress in", "Where the progress and the summary go.", True
            ),
            "name_filter": _NAME_FILTER,
            "acting_user": _ACTING_USER,
            "user_context": _RUN_BY,
        },
        "output_parameters": {
            "total": _parameter("total", "integer", "Paused", "How many campaigns were paused to begin with.", True),
            "resumed": _parameter("resumed", "integer", "Resumed", "How many were resumed.", True),
            "failed": _parameter("failed", "integer", "Failed", "How many Truedy refused to resume.", True),
            "unknown": _parameter(
                "unknown",
                "integer",
                "May have resumed",
                "How many got no clear answer from Truedy: each may have resumed (check them in Truedy).",
                True,
            ),
            "not_tried": _parameter(
                "not_tried",
                "integer",
                "Not tried yet",
                "How many were not tried when the step ended: a long job goes on, and its summary goes to the channel.",
                True,
            ),
            "finished": _parameter("finished", "boolean", "Finished", "Whether the job had ended.", True),
        },
    },
    "list_paused_campaigns": {
        "title": "List paused Truedy campaigns",
        "description": "The paused campaigns of this workspace's Truedy account, to branch on or to post.",
        "input_parameters": {"name_filter": _NAME_FILTER},
        "output_parameters": {
            "count": _parameter("count", "integer", "How many", "How many campaigns are paused.", True),
            "campaigns": _parameter(
                "campaigns", "string", "Campaigns", "One line each: name, id and pending contacts.", True
            ),
        },
    },
}


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
        interactivity["message_menu_options_url"] = events  # setup's groups and time zones, as one types
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
        "functions": STEPS,
        "settings": {
            "event_subscriptions": subscriptions,
            "interactivity": interactivity,
            # Org-ready, as Workflow Builder steps require: outside Enterprise Grid it installs in the workspace
            # as any app; a Grid organisation installs it once and adds it to its workspaces.
            "org_deploy_enabled": True,
            "function_runtime": "remote",  # the steps run here, in this app, not on Slack's servers
            "socket_mode_enabled": events is None,
            "token_rotation_enabled": False,
        },
    }
