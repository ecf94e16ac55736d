"""The pages a browser sees: `/`, the install page (`/slack/install`), the pages at the end of an install
(`/slack/oauth_redirect`), and the installer's DM. They share one frame (`_document`): the app's icon and name,
who runs it, what it keeps and never does, and the operator's privacy and support links.

Bolt runs the OAuth flow (state check, code exchange, saving the installation); these are its callbacks."""

import html
import logging
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import FailureArgs, SuccessArgs
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.settings import Settings
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


@dataclass(frozen=True)
class Operator:
    """Who runs this bot, as the pages name them (OPERATOR_NAME, PRIVACY_URL, SUPPORT_URL): each part is shown
    only when set."""

    name: str | None = None
    privacy_url: str | None = None
    support_url: str | None = None

    @classmethod
    def of(cls, settings: Settings) -> "Operator":
        return cls(settings.operator_name, settings.privacy_url, settings.support_url)


class InstallFlow(OAuthFlow):
    """Bolt's OAuth flow with the install page of our own (Bolt's hook for it; its default has no title)."""

    def __init__(self, *, operator: Operator, **options: Any):
        super().__init__(**options)
        self._operator = operator

    def build_install_page_html(self, url: str, request: BoltRequest) -> str:
        return install_page(url, self._operator)


class InstallPages:
    def __init__(self, tokens: Installations, workspaces: Workspaces, operator: Operator):
        self._tokens = tokens
        self._workspaces = workspaces
        self._operator = operator

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
            f'<p class="action"><a class="button" href="{slack_link}">Open Slack</a></p>'
            f"{_promises(installations=True)}"
        )
        cookie = args.settings.state_utils.build_set_cookie_for_deletion()
        return _page(cookie, 200, "Installed", body, self._operator)

    def not_installed(self, args: FailureArgs) -> BoltResponse:
        # Bolt's reason is the `error` of the redirect's query when there is one: whatever a visitor typed, bounded.
        reason = args.reason if re.fullmatch(r"[a-z0-9_.-]{1,64}", args.reason or "") else "unrecognised"
        log.warning("install failed", extra={"fields": {"event": "install_failed", "reason": reason}})
        what = FAILURES.get(args.reason, "The install did not complete.")
        body = (
            f"<h1>{APP_NAME} was not installed</h1><p>{html.escape(what)} Nothing was saved.</p>"
            '<p class="action"><a class="button" href="./install">Start the install again</a></p>'
            f"{_promises(installations=True)}"
        )
        cookie = args.settings.state_utils.build_set_cookie_for_deletion()
        return _page(cookie, args.suggested_status_code, "Not installed", body, self._operator)

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


def install_page(authorize_url: str, operator: Operator) -> str:
    """`GET /slack/install`: what the app does, the scopes it asks for and why, what it keeps and never does,
    and Slack's button to Slack."""
    scopes = "".join(
        f"<li><code>{html.escape(scope)}</code>: {html.escape(why)}</li>" for scope, why in BOT_SCOPES.items()
    )
    body = (
        f"<h1>Install {APP_NAME}</h1>"
        "<p>Resume paused Truedy call campaigns from Slack: <code>/resume-campaign &lt;campaign id&gt;</code> "
        "in any channel, and alerts with a Resume button when a campaign pauses. Each workspace connects its own "
        "Truedy account after the install.</p>"
        f'<p class="action">{add_to_slack(authorize_url)}</p>'
        '<p class="note">Finish in this browser: Slack sends you back here, and the install checks a cookie this '
        "page set. Nothing is installed until you allow it on Slack's page.</p>"
        f"<h2>It asks Slack for</h2><ul>{scopes}</ul>"
        f"{_promises(installations=True)}"
    )
    return _document(f"Install {APP_NAME}", body, operator)


def landing(install_path: str | None, operator: Operator) -> str:
    """`GET /`: what this is; the way to install when workspaces install the app, else where its health is."""
    if install_path is not None:
        next_step = f'<p class="action">{add_to_slack(install_path)}</p>'
    else:
        next_step = (
            "<p>This is the bot's web process: it takes Slack's requests and Truedy's webhooks. Its health is at "
            '<a href="/healthz">/healthz</a>.</p>'
        )
    body = (
        f"<h1>{APP_NAME}</h1><p>Resume paused Truedy call campaigns from Slack: "
        "<code>/resume-campaign &lt;campaign id&gt;</code>, and alerts with a Resume button when a campaign "
        f"pauses.</p>{next_step}{_promises(installations=install_path is not None)}"
    )
    return _document(APP_NAME, body, operator)


def add_to_slack(href: str) -> str:
    """Slack's own "Add to Slack" button, as Slack's button generator writes it, with its logo inline: the page
    loads no image from Slack (nor anything from anywhere else)."""
    return (
        f'<a class="add-to-slack" href="{html.escape(href)}" style="align-items:center;color:#000;'
        "background-color:#fff;border:1px solid #ddd;border-radius:4px;display:inline-flex;font-family:Lato, "
        "sans-serif;font-size:16px;font-weight:600;height:48px;justify-content:center;text-decoration:none;"
        f'width:236px">{SLACK_LOGO}Add to Slack</a>'
    )


SLACK_LOGO = (
    '<svg xmlns="http://www.w3.org/2000/svg" style="height:20px;width:20px;margin-right:12px" '
    'viewBox="0 0 122.8 122.8" aria-hidden="true">'
    '<path d="M25.8 77.6c0 7.1-5.8 12.9-12.9 12.9S0 84.7 0 77.6s5.8-12.9 12.9-12.9h12.9v12.9zm6.5 0c0-7.1 5.8-12.9 '
    '12.9-12.9s12.9 5.8 12.9 12.9v32.3c0 7.1-5.8 12.9-12.9 12.9s-12.9-5.8-12.9-12.9V77.6z" fill="#e01e5a"></path>'
    '<path d="M45.2 25.8c-7.1 0-12.9-5.8-12.9-12.9S38.1 0 45.2 0s12.9 5.8 12.9 12.9v12.9H45.2zm0 6.5c7.1 0 12.9 '
    '5.8 12.9 12.9s-5.8 12.9-12.9 12.9H12.9C5.8 58.1 0 52.3 0 45.2s5.8-12.9 12.9-12.9h32.3z" fill="#36c5f0"></path>'
    '<path d="M97 45.2c0-7.1 5.8-12.9 12.9-12.9s12.9 5.8 12.9 12.9-5.8 12.9-12.9 12.9H97V45.2zm-6.5 0c0 7.1-5.8 '
    '12.9-12.9 12.9s-12.9-5.8-12.9-12.9V12.9C64.7 5.8 70.5 0 77.6 0s12.9 5.8 12.9 12.9v32.3z" fill="#2eb67d"></path>'
    '<path d="M77.6 97c7.1 0 12.9 5.8 12.9 12.9s-5.8 12.9-12.9 12.9-12.9-5.8-12.9-12.9V97h12.9zm0-6.5c-7.1 '
    '0-12.9-5.8-12.9-12.9s5.8-12.9 12.9-12.9h32.3c7.1 0 12.9 5.8 12.9 12.9s-5.8 12.9-12.9 12.9H77.6z" '
    'fill="#ecb22e"></path></svg>'
)


def _promises(installations: bool) -> str:
    """What the app stores, and what it never does, as the code and the scopes make it (BOT_SCOPES, bot.storage):
    an admin deciding whether to install reads it here. Only when workspaces install is there a bot token to store,
    and an installer to welcome."""
    kept = [
        "Each workspace's Truedy API key, encrypted at rest, and its Truedy webhook secret when one is set.",
        *(["The bot token Slack gives the app at the install, encrypted at rest."] if installations else []),
        "The workspace's settings: its alert channel, and who may resume.",
        "An audit trail: who resumed which campaign, when, and how it went.",
        "Alert records: the campaigns it saw paused, their names and the alerts it posted; and the resumes people "
        "scheduled or started for every paused campaign.",
    ]
    never = [
        "<b>Read your messages.</b> It has no scope to read channels: it sees only what is sent to it (its "
        "command, clicks on its buttons, its forms, its Home tab and its workflow steps).",
        "<b>Post where nobody asked.</b> It posts where its command, buttons or workflow steps are used, and alerts "
        "only in the channel an admin chose; its direct messages go only to the person it answers, the admin who "
        f"set it up{' and whoever installed it' if installations else ''}.",
        "<b>Share a workspace's Truedy key.</b> Each workspace is served with its own key, never another's.",
        "<b>Start or stop calls on its own.</b> It never creates or edits a campaign. It resumes a paused one only "
        "when someone asks: its command, a Resume button, a schedule or a workflow a person set up; and pauses one "
        "only when someone clicks Pause again, offered for a few minutes under a resume.",
    ]
    removal = (
        '<p class="note">Uninstalling the app from a workspace deletes its installation, key, settings and '
        "alert records; the audit trail stays.</p>"
        if installations
        else ""
    )
    return (
        '<section class="promises"><h2>What it stores</h2>'
        f"<ul>{''.join(f'<li>{line}</li>' for line in kept)}</ul>{removal}"
        f"<h2>What it never does</h2><ul>{''.join(f'<li>{line}</li>' for line in never)}</ul></section>"
    )


def _page(cookie: str, status: int, title: str, body: str, operator: Operator) -> BoltResponse:
    headers = {"Content-Type": "text/html; charset=utf-8", "Set-Cookie": [cookie], "Cache-Control": "no-store"}
    return BoltResponse(status=status, body=_document(f"{title} · {APP_NAME}", body, operator), headers=headers)


def _document(title: str, body: str, operator: Operator) -> str:
    """Every page's frame: the app's icon and name (and who runs it), the page, the operator's links."""
    by = f'<span class="by">Run by {html.escape(operator.name)}</span>' if operator.name else ""
    links = [
        f'<a href="{html.escape(url)}"{rel}>{label}</a>'
        for url, rel, label in (
            (operator.privacy_url, ' rel="privacy-policy"', "Privacy"),
            (operator.support_url, "", "Support"),
        )
        if url
    ]
    footer = f"<footer>{' · '.join(links)}</footer>" if links else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="{FAVICON}"><style>{STYLE}</style></head><body>'
        f'<header>{ICON}<span><b class="app">{APP_NAME}</b>{by}</span></header>'
        f"<main>{body}</main>{footer}</body></html>"
    )


# The app's icon (bot/slack/static/icon.png, the same drawn to Slack's 512 px, is what the Slack app shows),
# inline: the pages load nothing but themselves.
_ICON_SVG = (Path(__file__).parent / "static" / "icon.svg").read_text().strip()
ICON = _ICON_SVG.replace("<svg ", '<svg class="icon" aria-hidden="true" ', 1)
FAVICON = "data:image/svg+xml," + urllib.parse.quote(_ICON_SVG)

# Every page's style, one small sheet inline (the pages are Bolt's answers too: no stylesheet to fetch, and no
# font but the system's). One column, 40em at most: it reads the same at 375 px and 1280 px.
STYLE = (
    ":root{color-scheme:light;--ink:#1d1c1d;--muted:#616061;--line:#dddddd;--brand:#4a154b}"
    "*{box-sizing:border-box}"
    "body{margin:0;padding:2rem 1rem;background:#f4f2f4;color:var(--ink);"
    'font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}'
    "header,main,footer{max-width:40rem;margin:0 auto}"
    "header{display:flex;align-items:center;gap:.75rem;margin-bottom:1rem}"
    ".icon{width:48px;height:48px;flex:none}"
    ".app{display:block;font-size:1.05rem}.by{display:block;color:var(--muted);font-size:.875rem;overflow-wrap:anywhere}"
    "main{background:#fff;border:1px solid var(--line);border-radius:12px;padding:1.5rem 2rem}"
    "h1{font-size:1.625rem;line-height:1.25;margin:.25rem 0 .75rem;overflow-wrap:anywhere}"
    "h2{font-size:1.05rem;margin:1.75rem 0 .5rem}"
    "ul{padding-left:1.25rem;margin:.5rem 0}li{margin:.35rem 0}"
    "code{font:.875em ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f4f2f4;padding:.1em .3em;"
    "border-radius:4px;overflow-wrap:anywhere}"
    "a{color:#1264a3}"
    ".action{margin:1.5rem 0 .75rem}"
    ".note{color:var(--muted);font-size:.875rem}"
    ".promises{border-top:1px solid var(--line);margin-top:1.75rem}"
    ".button{display:inline-flex;align-items:center;height:48px;padding:0 1.25rem;border:1px solid var(--line);"
    "border-radius:4px;background:var(--brand);color:#fff;font-weight:600;text-decoration:none}"
    "footer{padding:1rem 2rem;color:var(--muted);font-size:.875rem}footer a{color:inherit}"
    "@media (max-width:30rem){body{padding:1rem .5rem}main{padding:1.25rem 1rem}footer{padding:1rem}}"
)
