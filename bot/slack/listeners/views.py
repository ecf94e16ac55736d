"""Modals: the workspace setup (opened for admins by `/resume-campaign setup`, saved on submit), and the time
picker of Resume later (bot.slack.time_picker)."""

import json
import logging
from concurrent.futures import TimeoutError as FuturesTimeout

import httpx
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient
from sqlalchemy.exc import SQLAlchemyError

from bot import truedy
from bot.services import Services
from bot.slack import time_picker
from bot.slack.blocks import messages, setup_blocks, time_picker_blocks
from bot.slack.context import workspace_of
from bot.slack.permissions import may_set_up
from bot.storage.workspace_settings import SetupChoices, WorkspaceId

log = logging.getLogger("bot.setup")

# Slack allows 3 s to answer a submission: the checks (database, Slack, Truedy) get 2 s in all, whatever
# Truedy does (hang, or answer a byte at a time so that no single read times out); the save gets the rest.
CHECK_BUDGET_SECONDS = 2.0
KEY_CHECK_TIMEOUT = httpx.Timeout(1.5, connect=1.0)


def register(app: App) -> None:
    app.view(setup_blocks.CALLBACK_ID)(save_setup)
    app.options(setup_blocks.USERGROUPS_ACTION_ID)(find_usergroups)
    app.options(setup_blocks.ESCALATE_GROUP_ACTION_ID)(find_usergroups)
    app.options(setup_blocks.TIME_ZONE_ACTION_ID)(find_time_zones)
    app.view(time_picker_blocks.CALLBACK_ID)(schedule_picked)


def schedule_picked(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
    """The picker's Schedule: kept and announced, or what is wrong said on its field (nothing kept)."""
    services: Services = context["services"]
    user_id = body["user"]["id"]
    kept = time_picker.submitted(services, workspace_of(context), user_id, view, client)
    if isinstance(kept, str):
        ack(response_action="errors", errors={time_picker_blocks.WHEN_BLOCK_ID: kept})
        return
    ack()
    services.answers.submit(time_picker.announce, services, *kept, user_id, client)


def find_usergroups(ack: Ack, body: dict, client: WebClient) -> None:
    """The setup form's group fields (who may resume, whom reminders escalate to), as the admin types: the groups
    whose handle has what was typed."""
    ack(options=setup_blocks.group_options(_usergroups(client) or [], body.get("value") or ""))


def find_time_zones(ack: Ack, body: dict) -> None:
    """The setup form's time zone field, as the admin types: the zones whose name has what was typed."""
    ack(options=setup_blocks.zone_options(str(body.get("value") or "")))


def open_setup(
    services: Services,
    workspace: WorkspaceId,
    user_id: str,
    opened_by: dict,
    client: WebClient,
    respond: Respond,
    bot_user_id: str | None,
) -> None:
    """Background half of `/resume-campaign setup` and of the Connect Truedy button (`opened_by`: the command
    or the click, with its trigger id): the modal for those who may set up, a polite no for others."""
    try:
        if not may_set_up(services, workspace, user_id, client):
            respond(**messages.setup_admins_only())
            return
        settings = services.workspaces.get(workspace)
        # The confirmation goes where the request came from (the command's channel, or the invitation DM).
        metadata = {"response_url": opened_by["response_url"]} if opened_by.get("response_url") else {}
        client.views_open(
            trigger_id=opened_by["trigger_id"],
            view=setup_blocks.setup_modal(settings, _usergroups(client), metadata, services.public_url, bot_user_id),
        )
    except SlackApiError as error:
        respond(**messages.setup_not_opened(error.response.get("error") or "unknown_error"))


def save_setup(ack: Ack, body: dict, view: dict, client: WebClient, context: BoltContext) -> None:
    services: Services = context["services"]
    workspace = workspace_of(context)
    user_id = body["user"]["id"]
    choices = setup_blocks.submitted_choices(view)
    # Every field's problem at once, before asking Slack and Truedy about the key.
    problems = setup_blocks.reminder_problems(setup_blocks.submitted_reminders(view))
    if webhook_problem := setup_blocks.webhook_secret_problem(choices):
        problems[setup_blocks.WEBHOOK_BLOCK] = webhook_problem
    if problems:
        ack(response_action="errors", errors=problems)
        return
    check = services.setup_checks.submit(_problem, services, workspace, choices, user_id, client)
    try:
        problem = check.result(timeout=CHECK_BUDGET_SECONDS)
        saved = None if problem else services.workspaces.save_setup(workspace, choices, user_id)
    except FuturesTimeout:
        # The check goes on in its thread, but nothing is saved: saving happens only here.
        problem = setup_blocks.KEY_CHECK_TOO_SLOW
    except SQLAlchemyError:
        problem = messages.database_unavailable()["text"]
    if problem is not None or saved is None:
        ack(response_action="errors", errors={setup_blocks.KEY_BLOCK: problem})
        return
    ack()
    log.info(
        "workspace settings saved",
        extra={"fields": {"event": "setup_saved", "team": workspace.team_id, "user": user_id}},
    )
    response_url = json.loads(view.get("private_metadata") or "{}").get("response_url")
    if response_url:
        # A new message: the response URL of the Connect Truedy button would otherwise replace the invitation.
        confirmation = {
            **messages.setup_saved(workspace.team_id, saved, services.public_url),
            "replace_original": False,
        }
        services.answers.submit(WebhookClient(response_url).send_dict, confirmation)


def _problem(
    services: Services, workspace: WorkspaceId, choices: SetupChoices, user_id: str, client: WebClient
) -> str | None:
    """What to show next to the key field instead of saving, or None to save."""
    current = services.workspaces.get(workspace)
    problem = setup_blocks.key_problem(choices, has_saved_key=current is not None and current.api_key is not None)
    if problem is not None:
        return problem
    # The form may have been opened by an admin who is not one any more.
    try:
        if not may_set_up(services, workspace, user_id, client):
            return setup_blocks.NO_LONGER_ADMIN
    except SlackApiError:
        return setup_blocks.ADMIN_CHECK_FAILED
    return _check_key(services.truedy, choices.api_key) if choices.api_key is not None else None


def _check_key(client: truedy.TruedyClient, api_key: str) -> str | None:
    """A cheap read with the key; what to show next to the field when Truedy does not accept it."""
    try:
        client.list_campaigns(api_key, limit=1, timeout=KEY_CHECK_TIMEOUT)
    except truedy.KeyRejected:
        return "Truedy rejected this key: check it was copied whole and has not been revoked."
    except truedy.IpNotAllowed:
        return "Truedy refuses this key from the bot's IP address: the key has an IP allow-list without it."
    except truedy.BillingProblem:
        return None  # the key itself is good; resumes will report the billing problem
    except truedy.TruedyError as error:
        headline, _ = messages.explain(error)
        return f"Could not check the key with Truedy right now ({headline}). Try Save again in a minute."
    return None


def _usergroups(client: WebClient) -> list[tuple[str, str]] | None:
    """The workspace's (id, handle) pairs; None when Slack would not list them (user groups need a paid
    plan, or Slack is unavailable): the form then keeps the groups already chosen."""
    try:
        groups = client.usergroups_list().get("usergroups") or []
    except SlackApiError:
        return None
    return [(group["id"], group.get("handle") or group["id"]) for group in groups if group.get("id")]
