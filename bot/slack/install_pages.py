"""The pages a browser sees at the end of an install (`/slack/oauth_redirect`), and the installer's DM.

Bolt runs the OAuth flow (state check, code exchange, saving the installation); these are its callbacks."""

import html
import logging

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import FailureArgs, SuccessArgs
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.slack.blocks import setup_blocks
from bot.slack.manifest import APP_NAME, BOT_SCOPES
from bot.slack.tokens import Installations
from bot.storage.workspace_settings import WorkspaceId, Workspaces

log = logging.getLogger("bot.install")

# What went wrong, in words, for each reason Bolt's flow gives.
FAILURES = {
    "access_denied": "The install was cancelled on Slack's page, so nothing was installed.",
    "invalid_browser": (
        "This browser did not bring back the cookie the install page set. The install has to start on this "
        "bot's own install page, over https, in the same browser (Slack's own install button skips it)."
    ),
    "invalid_state": "This install link has expired (after 10 minutes) or was already used.",
    "missing_code": "Slack sent no install code with this page.",
    "invalid_code": "Slack did not accept the install code (it expires quickly and works once).",
    "storage_error": "The bot could not save the installation: its database did not answer.",
    "slack_unreachable": "The bot could not reach Slack to finish the install.",
}


class InstallFlow(OAuthFlow):
    """Bolt's OAuth flow with the install page of our own (Bolt's hook for it; its default has no title)."""

    def build_install_page_html(self, url: str, request: BoltRequest) -> str:
        return install_page(url)


class InstallPages:
    def __init__(self, tokens: Installations, workspaces: Workspaces):
        self._tokens = tokens
        self._workspaces = workspaces

    def installed(self, args: SuccessArgs) -> BoltResponse:
        installation = args.installation
        team = installation.team_name or installation.enterprise_name or "your workspace"
        log.info(
            "installed",
            extra={
                "fields": {
                    "event": "installed",
                    "team": installation.team_id,
                    "enterprise": installation.enterprise_id,
                    "user": installation.user_id,
                }
            },
        )
        dm_problem = self._invite_installer(args)
        if installation.is_enterprise_install:
            add_to_workspaces = (
                f"{installation.enterprise_url or 'https://app.slack.com/'}manage/organization/apps/profile/"
                f"{installation.app_id}/workspaces/add"
            )
            next_steps = (
                f'<p>Next, <a href="{html.escape(add_to_workspaces)}">add the app to your organisation\'s '
                "workspaces</a>. In each, a workspace admin connects its own Truedy account with "
                "<code>/resume-campaign setup</code>.</p>"
            )
        elif dm_problem is None:
            next_steps = (
                "<p>Next, in Slack: I sent you a direct message with a <b>Connect Truedy</b> button. Click it and "
                "paste an API key from the Truedy dashboard (Settings → API Keys). Then "
                "<code>/resume-campaign &lt;campaign id&gt;</code> works in any channel.</p>"
            )
        else:
            next_steps = (
                f"<p>I could not send you a direct message ({html.escape(dm_problem)}). Instead, run "
                "<code>/resume-campaign setup</code> in any channel to connect your Truedy account.</p>"
            )
        slack_link = f"https://app.slack.com/client/{html.escape(installation.team_id or '')}"
        body = (
            f"<h1>{APP_NAME} is installed in {html.escape(team)}</h1>{next_steps}"
            f'<p><a href="{slack_link}">Open Slack</a></p>'
        )
        return _page(args.settings.state_utils.build_set_cookie_for_deletion(), 200, "Installed", body)

    def not_installed(self, args: FailureArgs) -> BoltResponse:
        log.warning("install failed", extra={"fields": {"event": "install_failed", "reason": args.reason}})
        what = FAILURES.get(args.reason, "The install did not complete.")
        body = (
            f"<h1>{APP_NAME} was not installed</h1><p>{html.escape(what)} Nothing was saved.</p>"
            '<p><a href="./install">Start the install again</a></p>'
        )
        cookie = args.settings.state_utils.build_set_cookie_for_deletion()
        return _page(cookie, args.suggested_status_code, "Not installed", body)

    def _invite_installer(self, args: SuccessArgs) -> str | None:
        """A DM to whoever installed, with the button that connects Truedy; what went wrong, or None."""
        installation = args.installation
        if installation.is_enterprise_install or not installation.team_id:
            return "org-wide install"
        workspace = WorkspaceId(installation.enterprise_id or "", installation.team_id)
        try:
            settings = self._workspaces.get(workspace)
            client = self._tokens.client_for(workspace)
            if client is None:
                return "the installation was not found"
            client.chat_postMessage(
                channel=installation.user_id,
                **setup_blocks.connect_invitation(installation.team_name, settings, installation.bot_user_id),
            )
        except SlackApiError as error:
            return f"Slack said {error.response.get('error')}"
        except SQLAlchemyError:
            return "the database did not answer"
        return None


def install_page(authorize_url: str) -> str:
    """`GET /slack/install`: what the app does, the scopes it asks for and why, and the button to Slack."""
    scopes = "".join(
        f"<li><code>{html.escape(scope)}</code>: {html.escape(why)}</li>" for scope, why in BOT_SCOPES.items()
    )
    body = (
        f"<h1>Install {APP_NAME}</h1>"
        "<p>Resume paused Truedy call campaigns from Slack: <code>/resume-campaign &lt;campaign id&gt;</code> "
        "in any channel, and alerts with a Resume button when a campaign pauses. Each workspace connects its own "
        "Truedy account after the install.</p>"
        f"<p>It asks Slack for:</p><ul>{scopes}</ul>"
        f'<p><a href="{html.escape(authorize_url)}" style="display: inline-block; padding: .6em 1.2em; '
        'background: #4a154b; color: #fff; border-radius: 4px; text-decoration: none"><b>Add to Slack</b></a></p>'
        "<p><small>Finish in this browser: Slack sends you back here, and the install checks a cookie this page "
        "set.</small></p>"
    )
    return _document(f"Install {APP_NAME}", body)


def landing(install_path: str | None) -> str:
    """`GET /`: what this is; the way to install when workspaces install the app, else where its health is."""
    if install_path is not None:
        next_step = f'<p><a href="{html.escape(install_path)}"><b>Add to Slack</b></a></p>'
    else:
        next_step = (
            "<p>This is the bot's web process: it takes Slack's requests and Truedy's webhooks. Its health is at "
            '<a href="/healthz">/healthz</a>.</p>'
        )
    body = (
        f"<h1>{APP_NAME}</h1><p>Resume paused Truedy call campaigns from Slack: "
        "<code>/resume-campaign &lt;campaign id&gt;</code>, and alerts with a Resume button when a campaign "
        f"pauses.</p>{next_step}"
    )
    return _document(APP_NAME, body)


def _page(cookie: str, status: int, title: str, body: str) -> BoltResponse:
    headers = {"Content-Type": "text/html; charset=utf-8", "Set-Cookie": [cookie], "Cache-Control": "no-store"}
    return BoltResponse(status=status, body=_document(f"{title} · {APP_NAME}", body), headers=headers)


def _document(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        f'<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto">{body}</body></html>'
    )
