"""The workspace setup modal, as pure functions: building it and reading what was submitted."""

import json
import re
from typing import Any

from bot.slack.blocks.messages import context, escape, webhook_url
from bot.storage.workspace_settings import SetupChoices, WorkspaceSettings

CALLBACK_ID = "workspace_setup"
KEY_BLOCK = "api_key"
CHANNEL_BLOCK = "alert_channel"
USERS_BLOCK = "allowed_users"
GROUPS_BLOCK = "allowed_usergroups"
USERGROUPS_ACTION_ID = "setup_usergroups"  # its options are loaded as the admin types
WEBHOOK_BLOCK = "webhook_secret"
UNATTENDED_BLOCK = "unattended_runs"
_UNATTENDED_OPTION = {
    "text": {"type": "plain_text", "text": "Let workflows started on a schedule resume"},
    "value": "allow",
}
KEY_CHECK_TOO_SLOW = (
    "Truedy did not answer the key check in time (Slack gives this form 3 seconds). Nothing was saved: "
    "press Save again in a moment."
)
NO_LONGER_ADMIN = (
    "Only workspace admins and owners, and whoever installed the app, can change these settings; you are not an "
    "admin any more."
)
ADMIN_CHECK_FAILED = "Slack could not tell me whether you are a workspace admin. Nothing was saved: press Save again."
_PLAUSIBLE_KEY = re.compile(r"^[A-Za-z0-9_\-.]{8,200}$")


def setup_modal(
    settings: WorkspaceSettings | None,
    usergroups: list[tuple[str, str]] | None,
    metadata: dict,
    public_url: str | None = None,
    bot_user_id: str | None = None,
) -> dict:
    """`usergroups` are the workspace's (id, handle) pairs, None when Slack would not list them: the form
    then has no group field, and saving it keeps the groups already chosen. `public_url`: the web process's
    address, for the workspace's Truedy webhook URL."""
    has_key = settings is not None and settings.api_key is not None
    key_input: dict[str, Any] = {
        "type": "input",
        "block_id": KEY_BLOCK,
        "optional": has_key,
        "label": {"type": "plain_text", "text": "Truedy API key"},
        "element": {
            "type": "plain_text_input",
            "action_id": "value",
            "placeholder": {"type": "plain_text", "text": "truedy_…"},
        },
        "hint": {
            "type": "plain_text",
            "text": (
                f"Leave empty to keep the saved key ending in {settings.key_last4}."
                if has_key and settings
                else "Truedy dashboard → Settings → API Keys. Checked with Truedy before it is saved."
            ),
        },
    }
    channel_select: dict[str, Any] = {
        "type": "conversations_select",
        "action_id": "value",
        "filter": {"include": ["public", "private"], "exclude_bot_users": True},
    }
    if settings and settings.alert_channel:
        channel_select["initial_conversation"] = settings.alert_channel
    users_select: dict[str, Any] = {"type": "multi_users_select", "action_id": "value"}
    if settings and settings.allowed_users:
        users_select["initial_users"] = list(settings.allowed_users)
    blocks = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "Connect this workspace to Truedy. The key is stored encrypted and never shown again "
                "(only its last 4 characters).",
            },
        },
        key_input,
        _input(
            CHANNEL_BLOCK,
            "Alert channel",
            channel_select,
            "Where paused-campaign alerts are posted. Public channels work at once; a private channel needs me "
            "invited there first.",
        ),
        # A hint is plain text: the mention, which Slack shows with the app's current name, goes beneath it.
        *(
            [
                context(f"To invite <@{bot_user_id}> to a private channel: `/invite` there, then my name.")
                | {"block_id": "invite_hint"}
            ]
            if bot_user_id
            else []
        ),
        _input(USERS_BLOCK, "Who may resume", users_select, "Leave empty to let everyone in this workspace resume."),
    ]
    chosen_groups = settings.allowed_usergroups if settings else ()
    if usergroups is None and chosen_groups:
        blocks.append(
            context(
                ":warning: Slack would not list this workspace's user groups right now, so they cannot be changed "
                f"here. Saving keeps the {len(chosen_groups)} already chosen."
            )
        )
    elif usergroups or chosen_groups:
        handles = dict(usergroups or [])
        # Options are searched as the admin types (`group_options`): any group can be chosen, however many the
        # workspace has, and those already chosen are shown whether or not they are among the first found.
        groups_select: dict[str, Any] = {
            "type": "multi_external_select",
            "action_id": USERGROUPS_ACTION_ID,
            "min_query_length": 0,
            "placeholder": {"type": "plain_text", "text": "Type to find a group"},
        }
        if chosen_groups:
            groups_select["initial_options"] = [_option(group, handles.get(group, group)) for group in chosen_groups]
        blocks.append(_input(GROUPS_BLOCK, "…and members of these user groups", groups_select, "Optional."))
    unattended: dict[str, Any] = {"type": "checkboxes", "action_id": "value", "options": [_UNATTENDED_OPTION]}
    if settings and settings.unattended_allowed_by:
        unattended["initial_options"] = [_UNATTENDED_OPTION]
    blocks.append(
        _input(
            UNATTENDED_BLOCK,
            "Unattended workflow runs",
            unattended,
            "Only matters while resumes are restricted above. A workflow step run with no person (a scheduled "
            "trigger) has nobody for Slack to vouch for: unticked, it is refused; ticked, it resumes, and history "
            "says that you allowed it. Anyone who can build a workflow can then resume campaigns on a schedule. "
            "A run started from a link, a shortcut or a button is always checked against that person.",
        )
    )
    token = settings.webhook_token if settings else None
    if public_url is None:
        where = "add a webhook once whoever runs the bot has set its public address (PUBLIC_URL)"
    elif token:
        where = f"add the webhook {webhook_url(public_url, token)}"
    else:
        where = "add the webhook URL shown after saving"
    keep = " Leave empty to keep the saved one." if settings and settings.webhook_secret else ""
    blocks.append(
        _input(
            WEBHOOK_BLOCK,
            "Truedy webhook signing secret",
            {
                "type": "plain_text_input",
                "action_id": "value",
                "placeholder": {"type": "plain_text", "text": "whsec_…"},
            },
            "Optional, for alerts within seconds instead of at the next poll: in Truedy (Settings → Webhooks) "
            f"{where} for batch.status.changed, and paste its signing secret here.{keep}",
        )
    )
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Truedy campaigns"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def submitted_choices(view: dict) -> SetupChoices:
    values = view["state"]["values"]

    def value(block: str) -> dict:
        return values.get(block, {}).get("value", {})

    key = (value(KEY_BLOCK).get("value") or "").strip()
    webhook_secret = (value(WEBHOOK_BLOCK).get("value") or "").strip()
    # No group field in the form (Slack would not list the groups): the groups chosen before are kept.
    groups = values[GROUPS_BLOCK].get(USERGROUPS_ACTION_ID, {}) if GROUPS_BLOCK in values else None
    unattended = (
        any(option.get("value") == "allow" for option in value(UNATTENDED_BLOCK).get("selected_options") or ())
        if UNATTENDED_BLOCK in values
        else None
    )
    return SetupChoices(
        api_key=key or None,
        alert_channel=value(CHANNEL_BLOCK).get("selected_conversation"),
        allowed_users=tuple(value(USERS_BLOCK).get("selected_users") or ()),
        allowed_usergroups=(
            None if groups is None else tuple(option["value"] for option in groups.get("selected_options") or ())
        ),
        webhook_secret=webhook_secret or None,
        allow_unattended=unattended,
    )


def group_options(usergroups: list[tuple[str, str]], typed: str) -> list[dict]:
    """The groups whose handle has what the admin typed, as options of the group field (Slack shows 100)."""
    wanted = typed.strip().lstrip("@").lower()
    return [_option(group_id, handle) for group_id, handle in usergroups if wanted in handle.lower()][:100]


def webhook_secret_problem(choices: SetupChoices) -> str | None:
    if choices.webhook_secret is not None and not _PLAUSIBLE_KEY.match(choices.webhook_secret):
        return "That does not look like a webhook signing secret: it should be one word, like whsec_…."
    return None


def key_problem(choices: SetupChoices, has_saved_key: bool) -> str | None:
    """What is wrong with the key field before asking Truedy, or None."""
    if choices.api_key is None:
        return (
            None if has_saved_key else "Paste this workspace's Truedy API key (Truedy dashboard → Settings → API Keys)."
        )
    if not _PLAUSIBLE_KEY.match(choices.api_key):
        return "That does not look like a Truedy API key: it should be one word, like truedy_…, with nothing around it."
    return None


def _input(block_id: str, label: str, element: dict, hint: str) -> dict:
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": {"type": "plain_text", "text": label},
        "element": element,
        "hint": {"type": "plain_text", "text": hint},
    }


def _option(value: str, handle: str) -> dict:
    return {"text": {"type": "plain_text", "text": f"@{handle}"[:75]}, "value": value}


CONNECT_ACTION_ID = "open_setup"


def connect_invitation(team_name: str | None, settings: WorkspaceSettings | None, bot_user_id: str | None) -> dict:
    """The DM to whoever installed the app: the button that opens setup."""
    where = f"*{escape(team_name, 80).replace('*', '')}*" if team_name else "this workspace"
    app = f"<@{bot_user_id}>" if bot_user_id else "This app"
    if settings is not None and settings.api_key is not None:
        said = (
            f":white_check_mark: {app} is installed in {where}, which is already connected to Truedy "
            f"(key ending `{settings.key_last4}`): nothing changed. The button opens its settings."
        )
    else:
        said = (
            f":wave: {app} is installed in {where}. One step left: connect your Truedy account, "
            "with an API key from the Truedy dashboard (Settings → API Keys). Then `/resume-campaign <campaign id>` "
            "works in any channel, and paused-campaign alerts can go to a channel you choose."
        )
    return {
        "text": said,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": said}},
            {
                "type": "actions",
                "block_id": "connect",
                "elements": [
                    {
                        "type": "button",
                        "action_id": CONNECT_ACTION_ID,
                        "text": {"type": "plain_text", "text": "Connect Truedy"},
                        "style": "primary",
                    }
                ],
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "Workspace admins and owners, and you who installed the app, may connect it.",
                    }
                ],
            },
        ],
    }
