"""Buttons: Resume, Resume later and Snooze on paused-campaign alerts, on the private list (and its pages) and in the
Home tab, and Connect Truedy (the installer's DM, the Home tab). Acknowledged at once, checked and carried out after."""

from collections.abc import Callable
from functools import partial

from slack_bolt import Ack, App, BoltContext, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.resume import ResumeRequest
from bot.services import Services
from bot.slack import pause_again, resume_all_requests, schedule_requests, snooze, time_picker
from bot.slack.blocks import (
    alert_blocks,
    digest_blocks,
    list_blocks,
    messages,
    pause_blocks,
    reminder_blocks,
    resume_all_blocks,
    schedule_blocks,
    setup_blocks,
    time_picker_blocks,
)
from bot.slack.context import workspace_of
from bot.slack.digest_message import DigestRowSurface
from bot.slack.home import publish_home
from bot.slack.listeners.views import open_setup
from bot.slack.listing import show_paused
from bot.slack.replies import answer_later, private_answers
from bot.slack.surfaces import AlertSurface, Announcement, ClickedAlert, ListedCampaign
from bot.slack.undo import Undo
from bot.storage.workspace_settings import WorkspaceId
from bot.truedy.campaign_id import InvalidCampaignId, parse_campaign_id


def register(app: App) -> None:
    app.action(alert_blocks.RESUME_ACTION_ID)(resume_from_alert)
    app.action(setup_blocks.CONNECT_ACTION_ID)(connect_truedy)
    app.action(list_blocks.RESUME_LISTED_ACTION_ID)(resume_from_list)
    app.action(list_blocks.PAGE_ACTION)(turn_list_page)
    app.action(digest_blocks.RESUME_DIGESTED_ACTION_ID)(resume_from_digest)
    app.action(resume_all_blocks.RESUME_ALL_ACTION_ID)(resume_all)
    app.action(resume_all_blocks.CANCEL_ACTION_ID)(cancel_resume_all)
    app.action(schedule_blocks.CANCEL_ACTION_ID)(cancel_scheduled_resume)
    app.action(alert_blocks.RESUME_LATER_ACTION_ID)(resume_later)
    app.action(list_blocks.PICK_TIME_LISTED_ACTION_ID)(pick_time_from_list)
    app.action(pause_blocks.PAUSE_AGAIN_ACTION_ID)(pause_again_clicked)
    app.action(reminder_blocks.SNOOZE_ACTION_ID)(snooze_reminders)
    app.action(resume_all_blocks.PAUSE_ALL_AGAIN_ACTION_ID)(pause_all_again)


def resume_from_alert(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    services: Services = context["services"]
    job = partial(start_resume, services, workspace_of(context), body, client, respond)
    answer_later(services.answers, respond, job)
    ack()


def connect_truedy(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    """From the installer's DM, or the Home tab."""
    services: Services = context["services"]
    answer = private_answers(body, respond, client)
    opener = body["user"]["id"]
    job = partial(open_setup, services, workspace_of(context), opener, body, client, answer, context.bot_user_id)
    ack()
    answer_later(services.answers, answer, job)


def resume_from_list(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    """From the private list, a name lookup, or the Home tab."""
    services: Services = context["services"]
    answer = private_answers(body, respond, client)
    job = partial(start_listed_resume, services, workspace_of(context), body, client, answer)
    ack()
    answer_later(services.answers, answer, job)


def resume_from_digest(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    services: Services = context["services"]
    job = partial(start_digested_resume, services, workspace_of(context), body, client, respond)
    ack()
    answer_later(services.answers, respond, job)


def resume_all(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    """A digest's Resume all, or the one `resume-all` offered; confirmed in Slack's dialog before it comes."""
    _answer_click(ack, body, respond, client, context, resume_all_requests.start)


def cancel_resume_all(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    _answer_click(ack, body, respond, client, context, resume_all_requests.cancel)


def pause_all_again(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    """Under a finished resume-all's summary, confirmed in Slack's dialog."""
    _answer_click(ack, body, respond, client, context, resume_all_requests.pause_all_again)


def resume_later(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    """The later menu of an alert or a digest row: scheduled in its thread, as the command would."""
    services: Services = context["services"]
    workspace, user, action = workspace_of(context), body["user"], body["actions"][0]
    chosen = (action.get("selected_option") or {}).get("value") or ""

    def checked() -> None:
        parsed = alert_blocks.parse_later_value(chosen)
        campaign_id = parse_campaign_id(parsed[1]) if parsed else None
        if parsed is None or isinstance(campaign_id, InvalidCampaignId | None):
            respond(**messages.invalid_button(chosen), replace_original=False)
            return
        if not _same_organisation(workspace, user, client):
            respond(**messages.not_your_workspace())
            return
        clicked = ClickedAlert.from_click(body)
        via = "alert" if action.get("block_id") == alert_blocks.ACTIONS_BLOCK_ID else "digest"
        if parsed[0] == alert_blocks.PICK_A_TIME[1]:
            picked_for = time_picker_blocks.PickedFor(campaign_id, clicked.channel, clicked.thread_ts, via)
            time_picker.open_picker(services, workspace, user["id"], picked_for, body["trigger_id"], client, respond)
            return
        schedule_requests.schedule(
            services,
            workspace,
            user["id"],
            campaign_id,
            parsed[0],
            clicked.channel,
            client,
            respond,
            via,
            clicked.thread_ts,
        )

    ack()
    answer_later(services.answers, respond, checked)


def pick_time_from_list(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    """A row's Resume later…: the picker, announced where the list's Resume would announce it."""
    services: Services = context["services"]
    workspace, user = workspace_of(context), body["user"]
    answer = private_answers(body, respond, client)
    value = body["actions"][0].get("value") or ""

    def checked() -> None:
        listed = list_blocks.parse_listed_value(value)
        if listed is None:
            answer(**messages.invalid_button(value))
            return
        if not _same_organisation(workspace, user, client):
            answer(**messages.not_your_workspace())
            return
        picked_for = time_picker_blocks.PickedFor(listed[0], _listed_in(services, workspace, body), None, "list")
        time_picker.open_picker(services, workspace, user["id"], picked_for, body["trigger_id"], client, answer)

    ack()
    answer_later(services.answers, answer, checked)


def pause_again_clicked(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    """Pause again under a resume, confirmed in Slack's dialog: on the lookups' threads (it asks Truedy)."""
    _answer_click(ack, body, respond, client, context, pause_again.pause_again, asks_truedy=True)


def snooze_reminders(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    """Snooze ▾ on an alert or on one of its reminders (in the alert's thread): that alert's reminders."""
    services: Services = context["services"]
    workspace, user = workspace_of(context), body["user"]
    choice = (body["actions"][0].get("selected_option") or {}).get("value") or ""
    clicked = ClickedAlert.from_click(body)

    def checked() -> None:
        if not _same_organisation(workspace, user, client):
            respond(**messages.not_your_workspace())
            return
        snooze.snooze(services, workspace, user["id"], choice, clicked.channel, clicked.thread_ts, client, respond)

    ack()
    answer_later(services.answers, respond, checked)


def cancel_scheduled_resume(ack: Ack, body: dict, respond: Respond, client: WebClient, context: BoltContext) -> None:
    _answer_click(ack, body, respond, client, context, schedule_requests.cancel)


def _answer_click(
    ack: Ack,
    body: dict,
    respond: Respond,
    client: WebClient,
    context: BoltContext,
    answer: Callable[[Services, WorkspaceId, str, str, WebClient, Respond], None],
    asks_truedy: bool = False,
) -> None:
    """Ack, then (from the workspace or its Grid organisation only) `answer` with the button's value; on the
    lookups' threads when it `asks_truedy`, so that a slow Truedy holds no quick answer."""
    services: Services = context["services"]
    workspace, user = workspace_of(context), body["user"]
    value = body["actions"][0].get("value") or ""

    def checked() -> None:
        if not _same_organisation(workspace, user, client):
            respond(**messages.not_your_workspace())
            return
        answer(services, workspace, user["id"], value, client, respond)

    ack()
    answer_later(services.lookups if asks_truedy else services.answers, respond, checked)


def start_digested_resume(
    services: Services, workspace: WorkspaceId, body: dict, client: WebClient, respond: Respond
) -> None:
    """As the alert's button, for one row of a digest: that row follows the resume."""
    value = body["actions"][0].get("value") or ""
    campaign_id = parse_campaign_id(value)
    clicked = ClickedAlert.from_click(body)
    digest_id = services.digests.find(workspace, clicked.channel, clicked.ts)
    if isinstance(campaign_id, InvalidCampaignId) or digest_id is None:
        respond(**messages.invalid_button(value))
        return
    user = body["user"]
    if not _same_organisation(workspace, user, client):
        respond(**messages.not_your_workspace())
        return
    request = ResumeRequest(workspace.team_id, user["id"], campaign_id, "button", workspace.enterprise_id)
    surface = DigestRowSurface(
        client,
        respond,
        services.digests,
        digest_id,
        clicked.channel,
        clicked.thread_ts,
        request,
        services.alerts,
        services.resume_all_per_minute,
        _undo(services),
    )
    services.flows.start(request, surface, client, respond)


def turn_list_page(ack: Ack, body: dict, respond: Respond, context: BoltContext) -> None:
    services: Services = context["services"]
    offset = list_blocks.parse_page_value(body["actions"][0].get("value") or "")
    ack()
    if offset is None:
        respond(**messages.invalid_button(body["actions"][0].get("value") or ""))
        return
    job = partial(show_paused, services, workspace_of(context), offset, respond, replace_original=True)
    answer_later(services.lookups, respond, job)


def start_listed_resume(
    services: Services, workspace: WorkspaceId, body: dict, client: WebClient, respond: Respond
) -> None:
    """As the alert's button, announced in the channel the list was asked for in."""
    value = body["actions"][0].get("value") or ""
    listed = list_blocks.parse_listed_value(value)
    if listed is None:
        respond(**messages.invalid_button(value))
        return
    campaign_id, offset = listed
    user = body["user"]
    if not _same_organisation(workspace, user, client):
        respond(**messages.not_your_workspace())
        return
    request = ResumeRequest(workspace.team_id, user["id"], campaign_id, "list", workspace.enterprise_id)
    if (body.get("container") or {}).get("type") == "view":
        # The Home tab: published again once it ended.
        def refresh_list(done: str | None) -> None:
            publish_home(services, workspace, user["id"], client)

    else:

        def refresh_list(done: str | None) -> None:
            show_paused(services, workspace, offset, respond, done, replace_original=True)

    announcement = Announcement(client, respond, _listed_in(services, workspace, body), request, undo=_undo(services))
    surface = ListedCampaign(announcement, refresh_list)
    services.flows.start(request, surface, client, respond)


def _listed_in(services: Services, workspace: WorkspaceId, body: dict) -> str:
    """Where a click on a row of the list is announced: the channel the list was asked for in; from the Home tab,
    the workspace's alert channel (else the person's DM with the bot)."""
    if (body.get("container") or {}).get("type") == "view":
        settings = services.workspaces.get(workspace)
        return (settings.alert_channel if settings else None) or body["user"]["id"]
    return (body.get("container") or {}).get("channel_id") or body["channel"]["id"]


def start_resume(services: Services, workspace: WorkspaceId, body: dict, client: WebClient, respond: Respond) -> None:
    """Check the click, then the one resume flow. Refusals go privately to the clicker: a click's ack
    carries no message."""
    user = body["user"]
    value = body["actions"][0].get("value") or ""
    campaign_id = parse_campaign_id(value)
    if isinstance(campaign_id, InvalidCampaignId):
        respond(**messages.invalid_button(value))
        return
    # A guest from another organisation in a shared channel must not spend this workspace's account.
    if not _same_organisation(workspace, user, client):
        respond(**messages.not_your_workspace())
        return
    request = ResumeRequest(workspace.team_id, user["id"], campaign_id, "button", workspace.enterprise_id)
    surface = AlertSurface(client, respond, ClickedAlert.from_click(body), request, services.alerts, _undo(services))
    services.flows.start(request, surface, client, respond)


def _undo(services: Services) -> Undo:
    return Undo(services.pause_offers, services.undo_minutes)


def _same_organisation(workspace: WorkspaceId, user: dict, client: WebClient) -> bool:
    """The clicking user belongs to the workspace, or to another workspace of its Grid organisation."""
    if user.get("team_id") == workspace.team_id:
        return True
    if not workspace.enterprise_id:
        return False
    try:
        profile = client.users_info(user=user["id"])["user"]
    except SlackApiError:
        return False  # fail closed: Slack would not say who this is
    return (profile.get("enterprise_user") or {}).get("enterprise_id") == workspace.enterprise_id
