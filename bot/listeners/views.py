"""The workspace setup modal: opened for admins by `/resume-campaign setup`, saved on submit."""

import json
import logging

import httpx
from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient
from sqlalchemy.exc import SQLAlchemyError

from bot import messages, setup_blocks, truedy
from bot.services import Services
from bot.workspaces import WorkspaceId, Workspaces

log = logging.getLogger("bot.setup")

# The check must fit, with the save, in Slack's 3 s for a view submission.
KEY_CHECK_TIMEOUT = httpx.Timeout(2.0, connect=1.0)


def register(app: App) -> None:
    app.view(setup_blocks.CALLBACK_ID)(save_setup)


def open_setup(workspaces: Workspaces, command: dict, client: WebClient, respond: Respond) -> None:
    """Background half of `/resume-campaign setup`: admins and owners get the modal, others a polite no."""
    try:
        user = client.users_info(user=command["user_id"])["user"]
        if not (user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner")):
            respond(**messages.setup_admins_only())
            return
        settings = workspaces.get(WorkspaceId(command.get("enterprise_id") or "", command["team_id"]))
        metadata = {"response_url": command["response_url"]}
        client.views_open(
            trigger_id=command["trigger_id"], view=setup_blocks.setup_modal(settings, _usergroups(client), metadata)
        )
    except SlackApiError as error:
        respond(**messages.setup_not_opened(error.response.get("error") or "unknown_error"))


def save_setup(ack: Ack, body: dict, view: dict, context: BoltContext) -> None:
    services: Services = context["services"]
    workspace = WorkspaceId((body.get("enterprise") or {}).get("id") or "", body["team"]["id"])
    choices = setup_blocks.submitted_choices(view)
    try:
        current = services.workspaces.get(workspace)
        problem = setup_blocks.key_problem(choices, has_saved_key=current is not None and current.api_key is not None)
        if problem is None and choices.api_key is not None:
            problem = _check_key(services.truedy, choices.api_key)
        if problem is not None:
            ack(response_action="errors", errors={setup_blocks.KEY_BLOCK: problem})
            return
        saved = services.workspaces.save_setup(workspace, choices, body["user"]["id"])
    except SQLAlchemyError:
        ack(response_action="errors", errors={setup_blocks.KEY_BLOCK: messages.database_unavailable()["text"]})
        return
    ack()
    log.info(
        "workspace settings saved",
        extra={"fields": {"event": "setup_saved", "team": workspace.team_id, "user": body["user"]["id"]}},
    )
    response_url = json.loads(view.get("private_metadata") or "{}").get("response_url")
    if response_url:
        confirmation = messages.setup_saved(workspace.team_id, saved)
        services.answers.submit(WebhookClient(response_url).send_dict, confirmation)


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


def _usergroups(client: WebClient) -> list[tuple[str, str]]:
    try:
        groups = client.usergroups_list().get("usergroups") or []
    except SlackApiError:
        return []  # user groups need a paid plan: without them, restrict by users only
    return [(group["id"], group.get("handle") or group["id"]) for group in groups if group.get("id")]
