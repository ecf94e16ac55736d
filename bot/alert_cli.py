"""`python -m bot alert <campaign_id> --channel <channel_id> [--team <team_id>]`: post a Resume alert."""

from slack_sdk.errors import SlackApiError

from bot import truedy
from bot.settings import Settings
from bot.slack.app import StartupError, bot_tokens, open_database, seed_keys
from bot.slack.blocks import alert_blocks, messages
from bot.slack.reach import OutOfReach
from bot.slack.tokens import OneToken
from bot.storage.alert_records import AlertRecords
from bot.storage.workspace_settings import WorkspaceId, WorkspaceSettings
from bot.truedy.campaign_id import InvalidCampaignId, parse_campaign_id


class AlertNotPosted(Exception):
    """One line for the operator: why no alert was posted and what to do."""


def post_alert(settings: Settings, campaign_text: str, channel: str, team: str | None) -> str:
    """Fetch the campaign with the workspace's key and post its alert with that workspace's bot token;
    return the message ts."""
    campaign_id = parse_campaign_id(campaign_text)
    if isinstance(campaign_id, InvalidCampaignId):
        raise AlertNotPosted(f"{campaign_text[:40]!r} is not a campaign id: {campaign_id.reason}")
    if team is None and settings.installations:
        raise AlertNotPosted(
            "--team T… is required: workspaces install the app, so say which workspace's alert this is"
        )
    try:
        database = open_database(settings)
    except StartupError as error:
        raise AlertNotPosted(str(error)) from None
    try:
        tokens = bot_tokens(settings, database, wait_seconds=0)  # a script waits for no network
        seed_keys(settings, database, tokens)
    except (StartupError, OutOfReach) as error:
        database.engine.dispose()
        raise AlertNotPosted(str(error)) from None
    try:
        bot_team = tokens.identity.team_id if isinstance(tokens, OneToken) else None
        workspace = WorkspaceId("", team or bot_team or "")
        settings_of_workspace = database.workspaces.of_team(workspace.team_id)
        workspace = settings_of_workspace.workspace if settings_of_workspace else workspace
        client = tokens.client_for(workspace)
        if client is None:
            raise AlertNotPosted(
                f"workspace {workspace.team_id} has not installed the app"
                if settings.installations
                else f"SLACK_BOT_TOKEN belongs to workspace {bot_team}, not {workspace.team_id}"
            )
        campaign = _paused_campaign(settings, settings_of_workspace, workspace.team_id, campaign_id)
        try:
            posted = client.chat_postMessage(
                channel=channel, **alert_blocks.alert(campaign, settings.truedy_dashboard_url)
            )
        except SlackApiError as error:
            reason = error.response.get("error")
            hint = (
                " (invite the bot to that channel first)" if reason in ("not_in_channel", "channel_not_found") else ""
            )
            raise AlertNotPosted(f"Slack refused the alert in {channel[:30]}: {reason}{hint}") from None
        # The watcher then keeps this alert up to date and does not post a second one for this pause.
        AlertRecords(database.engine).posted(workspace, campaign_id, posted["channel"], posted["ts"])
        return posted["ts"]
    finally:
        database.engine.dispose()


def _paused_campaign(
    settings: Settings, workspace: WorkspaceSettings | None, team_id: str, campaign_id: str
) -> truedy.Campaign:
    if workspace is None or workspace.api_key is None:
        raise AlertNotPosted(
            f"workspace {team_id} has no Truedy API key: connect it with /resume-campaign setup"
            + ("" if settings.installations else " or TRUEDY_API_KEYS")
        )
    api = truedy.TruedyClient(settings.truedy_api_url, settings.truedy_connect_timeout, settings.truedy_read_timeout)
    try:
        campaign = api.get_campaign(workspace.api_key, campaign_id)
    except truedy.TruedyError as error:
        headline, _ = messages.explain(error)
        request = f" (Truedy request id {error.request_id})" if error.request_id else ""
        raise AlertNotPosted(f"could not read campaign {campaign_id} from Truedy: {headline}{request}") from None
    finally:
        api.close()
    if campaign.status != "paused":
        raise AlertNotPosted(f"campaign {campaign_id} is {campaign.status}, not paused: no alert posted")
    return campaign
