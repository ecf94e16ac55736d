"""The workspace setup modal, as pure functions: building it and reading what was submitted."""

import json
import re
import zoneinfo
from dataclasses import dataclass
from functools import cache
from typing import Any

from bot.slack.blocks.messages import context, escape, webhook_url
from bot.slack.blocks.reminder_blocks import mention_of
from bot.storage.workspace_settings import ReminderChoices, SetupChoices, WorkspaceSettings

CALLBACK_ID = "workspace_setup"
KEY_BLOCK = "api_key"
CHANNEL_BLOCK = "alert_channel"
USERS_BLOCK = "allowed_users"
GROUPS_BLOCK = "allowed_usergroups"
USERGROUPS_ACTION_ID = "setup_usergroups"  # its options are loaded as the admin types
WEBHOOK_BLOCK = "webhook_secret"
UNATTENDED_BLOCK = "unattended_runs"
# Reminders of pauses nobody handles.
REMINDERS_BLOCK = "reminders"
REMIND_AFTER_BLOCK = "remind_after"
QUIET_FROM_BLOCK = "quiet_from"
QUIET_TO_BLOCK = "quiet_to"
TIME_ZONE_BLOCK = "time_zone"
TIME_ZONE_ACTION_ID = "setup_time_zone"  # its options are loaded as the admin types
ESCALATE_PERSON_BLOCK = "escalate_person"
ESCALATE_GROUP_BLOCK = "escalate_group"
ESCALATE_GROUP_ACTION_ID = "setup_escalate_group"  # served as the group field is (`group_options`)
_REMINDER_BLOCKS = (REMIND_AFTER_BLOCK, QUIET_FROM_BLOCK, QUIET_TO_BLOCK, TIME_ZONE_BLOCK, ESCALATE_PERSON_BLOCK)
REMIND_AFTER_MOST = 1440  # a day
# The saved escalation group that a form without the group field keeps (Slack would not list the groups).
_KEPT_GROUP = "kept_escalation_group"
# Matched whole (`fullmatch`): a forged value with a newline after it is not one.
_MINUTES = re.compile(r"[0-9]{1,4}")
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")  # a timepicker's "HH:mm"
_PERSON = re.compile(r"[UW][A-Z0-9]{2,31}")
_GROUP = re.compile(r"S[A-Z0-9]{2,31}")
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
    then has no group fields, and saving it keeps the groups already chosen (the group reminders escalate to,
    through `private_metadata`). `public_url`: the web process's address, for the workspace's Truedy webhook URL."""
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
    blocks += _reminder_blocks(settings, usergroups)
    saved_group = _saved_group(settings)
    if usergroups is None and saved_group:
        metadata = {**metadata, _KEPT_GROUP: saved_group}
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Truedy campaigns"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def _reminder_blocks(settings: WorkspaceSettings | None, usergroups: list[tuple[str, str]] | None) -> list[dict]:
    """The fields of the reminders of pauses nobody handles, as saved."""
    minutes: dict[str, Any] = {
        "type": "number_input",
        "action_id": "value",
        "is_decimal_allowed": False,
        "min_value": "0",
        "max_value": str(REMIND_AFTER_MOST),
    }
    if (
        settings
        and settings.remind_after_minutes is not None
        and 0 <= settings.remind_after_minutes <= REMIND_AFTER_MOST
    ):
        minutes["initial_value"] = str(settings.remind_after_minutes)
    zone: dict[str, Any] = {
        "type": "external_select",
        "action_id": TIME_ZONE_ACTION_ID,
        "min_query_length": 1,
        "placeholder": {"type": "plain_text", "text": "Type a city, e.g. Paris"},
    }
    if settings and settings.time_zone:
        zone["initial_option"] = _zone_option(settings.time_zone)
    person: dict[str, Any] = {"type": "users_select", "action_id": "value"}
    if settings and settings.escalate_to and _PERSON.fullmatch(settings.escalate_to):
        person["initial_user"] = settings.escalate_to
    blocks = [
        {
            "type": "section",
            "block_id": REMINDERS_BLOCK,
            "text": {
                "type": "mrkdwn",
                "text": "*Reminders of pauses nobody handles*\nWhen nobody resumes a paused campaign, I remind of it "
                "in its alert's thread.",
            },
        },
        _input(
            REMIND_AFTER_BLOCK,
            "Remind after (minutes)",
            minutes,
            "How long an alert nobody acts on waits for its first reminder; later ones come at growing intervals. "
            "Empty: the bot's default. 0: no reminders.",
        ),
        _input(
            QUIET_FROM_BLOCK,
            "Quiet hours from",
            _clock_picker(settings.quiet_from if settings else None),
            "No reminders between these two times (22:00 to 07:00 spans midnight): those due wait until the end. "
            "Both or neither.",
        ),
        _input(QUIET_TO_BLOCK, "Quiet hours to", _clock_picker(settings.quiet_to if settings else None), "Optional."),
        _input(
            TIME_ZONE_BLOCK,
            "Time zone",
            zone,
            "The quiet hours' time zone. Snooze until 9:00 tomorrow uses it too (without one, the snoozer's own).",
        ),
        _input(
            ESCALATE_PERSON_BLOCK,
            "Escalate to a person",
            person,
            "From the second reminder on, reminders mention this person, or the group below.",
        ),
    ]
    saved_group = _saved_group(settings)
    # As for the groups who may resume: no group field when Slack would not list them, and the saved group is kept.
    if usergroups is None and saved_group:
        blocks.append(
            context(
                ":warning: Slack would not list this workspace's user groups right now, so the group to escalate to "
                f"cannot be changed here. Saving keeps {mention_of(saved_group)}, unless you choose a person above."
            )
        )
    elif usergroups or saved_group:
        group: dict[str, Any] = {
            "type": "external_select",
            "action_id": ESCALATE_GROUP_ACTION_ID,
            "min_query_length": 0,
            "placeholder": {"type": "plain_text", "text": "Type to find a group"},
        }
        if saved_group:
            group["initial_option"] = _option(saved_group, dict(usergroups or []).get(saved_group, saved_group))
        blocks.append(_input(ESCALATE_GROUP_BLOCK, "…or a user group", group, "Optional."))
    return blocks


def _clock_picker(saved: str | None) -> dict:
    picker: dict[str, Any] = {"type": "timepicker", "action_id": "value"}
    if saved and _CLOCK.fullmatch(saved):  # Slack refuses the whole form over an initial time not "HH:mm"
        picker["initial_time"] = saved
    return picker


def _saved_group(settings: WorkspaceSettings | None) -> str | None:
    escalate_to = settings.escalate_to if settings else None
    return escalate_to if escalate_to and _GROUP.fullmatch(escalate_to) else None


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
    reminders = submitted_reminders(view)
    return SetupChoices(
        api_key=key or None,
        alert_channel=value(CHANNEL_BLOCK).get("selected_conversation"),
        allowed_users=tuple(value(USERS_BLOCK).get("selected_users") or ()),
        allowed_usergroups=(
            None if groups is None else tuple(option["value"] for option in groups.get("selected_options") or ())
        ),
        webhook_secret=webhook_secret or None,
        allow_unattended=unattended,
        reminders=reminders.choices if reminders else None,
    )


@dataclass(frozen=True)
class ReminderFields:
    """The reminder fields as submitted, unchecked (a forged payload may hold anything): `reminder_problems` says
    what is wrong with them, `choices` what is saved. Kept apart from ReminderChoices, which has one escalation
    and whole minutes, so that both fields chosen, or minutes that are not a number, can be said."""

    remind_after: str | None
    quiet_from: str | None
    quiet_to: str | None
    time_zone: str | None
    person: str | None
    group: str | None
    kept_group: str | None = None  # the form had no group field: the group saved before

    @property
    def choices(self) -> ReminderChoices:
        minutes = self.remind_after
        return ReminderChoices(
            remind_after_minutes=int(minutes) if minutes is not None and _MINUTES.fullmatch(minutes) else None,
            quiet_from=self.quiet_from,
            quiet_to=self.quiet_to,
            time_zone=self.time_zone,
            escalate_to=self.person or self.group or self.kept_group,
        )


def submitted_reminders(view: dict) -> ReminderFields | None:
    """The reminder fields of a submitted form; None when it had none (opened before they existed): the saved
    reminder settings are kept."""
    values = view["state"]["values"]
    if not any(block in values for block in _REMINDER_BLOCKS):
        return None

    def state(block: str, action_id: str = "value") -> dict:
        found = values.get(block, {}).get(action_id)
        return found if isinstance(found, dict) else {}

    kept = json.loads(view.get("private_metadata") or "{}").get(_KEPT_GROUP)
    if ESCALATE_GROUP_BLOCK in values or not isinstance(kept, str) or not _GROUP.fullmatch(kept):
        kept = None
    return ReminderFields(
        remind_after=_text(state(REMIND_AFTER_BLOCK).get("value")),
        quiet_from=_text(state(QUIET_FROM_BLOCK).get("selected_time")),
        quiet_to=_text(state(QUIET_TO_BLOCK).get("selected_time")),
        time_zone=_chosen(state(TIME_ZONE_BLOCK, TIME_ZONE_ACTION_ID)),
        person=_text(state(ESCALATE_PERSON_BLOCK).get("selected_user")),
        group=_chosen(state(ESCALATE_GROUP_BLOCK, ESCALATE_GROUP_ACTION_ID)),
        kept_group=kept,
    )


def reminder_problems(fields: ReminderFields | None) -> dict[str, str]:
    """What is wrong with the reminder fields, by block id: all at once, each shown under its field."""
    if fields is None:
        return {}
    problems: dict[str, str] = {}
    minutes = fields.remind_after
    if minutes is not None and not (_MINUTES.fullmatch(minutes) and int(minutes) <= REMIND_AFTER_MOST):
        problems[REMIND_AFTER_BLOCK] = (
            f"A whole number of minutes, 0 to {REMIND_AFTER_MOST} (0: no reminders; empty: the bot's default)."
        )
    for block, clock in ((QUIET_FROM_BLOCK, fields.quiet_from), (QUIET_TO_BLOCK, fields.quiet_to)):
        if clock is not None and not _CLOCK.fullmatch(clock):
            problems[block] = "Not a time of day: choose one in the list."
    if fields.quiet_from is None and fields.quiet_to is not None:
        problems[QUIET_FROM_BLOCK] = "Choose when the quiet hours start too, or leave both empty."
    elif fields.quiet_to is None and fields.quiet_from is not None:
        problems[QUIET_TO_BLOCK] = "Choose when the quiet hours end too, or leave both empty."
    elif fields.quiet_from is not None and fields.quiet_from == fields.quiet_to:
        problems[QUIET_TO_BLOCK] = "From and to are the same time: leave both empty for no quiet hours."
    if fields.time_zone is not None and fields.time_zone not in _zone_names():
        problems[TIME_ZONE_BLOCK] = "Not a time zone I know: type a city and choose one in the list."
    elif fields.time_zone is None and (fields.quiet_from is not None or fields.quiet_to is not None):
        problems[TIME_ZONE_BLOCK] = "Choose the time zone the quiet hours are in."
    if fields.person is not None and not _PERSON.fullmatch(fields.person):
        problems[ESCALATE_PERSON_BLOCK] = "Not a person of this workspace: choose one in the list."
    if fields.group is not None and not _GROUP.fullmatch(fields.group):
        problems[ESCALATE_GROUP_BLOCK] = "Not a user group: choose one in the list."
    elif fields.group is not None and fields.person is not None:
        problems[ESCALATE_GROUP_BLOCK] = "Choose a person or a group, not both."
    return problems


def group_options(usergroups: list[tuple[str, str]], typed: str) -> list[dict]:
    """The groups whose handle has what the admin typed, as options of the group field (Slack shows 100)."""
    wanted = typed.strip().lstrip("@").lower()
    return [_option(group_id, handle) for group_id, handle in usergroups if wanted in handle.lower()][:100]


def zone_options(typed: str) -> list[dict]:
    """The time zones whose name has what the admin typed (in any case, a space for an underscore: `new york`), as
    options of the time zone field (Slack shows 100)."""
    wanted = "_".join(typed.split()).lower()
    return [_zone_option(name) for name in _zone_names() if wanted in name.lower()][:100]


@cache
def _zone_names() -> tuple[str, ...]:
    # Read from disk once. `localtime` is the bot's own server's zone, a place no admin means.
    return tuple(sorted(zoneinfo.available_timezones() - {"localtime"}))


def _zone_option(name: str) -> dict:
    return {"text": {"type": "plain_text", "text": name[:75]}, "value": name}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _chosen(state: dict) -> str | None:
    """An external select's choice."""
    option = state.get("selected_option")
    return _text(option.get("value")) if isinstance(option, dict) else None


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
