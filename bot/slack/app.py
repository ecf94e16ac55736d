"""Building the Bolt app and its collaborators from settings."""

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.oauth.callback_options import CallbackOptions
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot import storage
from bot.services import Services
from bot.settings import Settings
from bot.slack import install_pages, listeners, reach
from bot.slack.blocks import messages
from bot.slack.client import configure_slack_client
from bot.slack.manifest import BOT_SCOPES
from bot.slack.tokens import BotTokens, Installations, OneToken, StoredInstallationAuthorize, TokenIdentity
from bot.storage.installations import InstallationStore, OAuthStateStore
from bot.storage.keybox import KeyBox
from bot.storage.step_runs import StepRuns
from bot.storage.workspace_settings import WorkspaceId, Workspaces

log = logging.getLogger("bot.slack")

# Bolt's default: an install must be finished within 10 minutes of opening the install page.
OAUTH_STATE_SECONDS = 600


class StartupError(Exception):
    """The bot cannot start until a setting changes (or Slack refuses one): exit 2. The message is one line for
    the operator, without secrets."""


@dataclass(frozen=True)
class Database:
    engine: Engine
    keybox: KeyBox
    workspaces: Workspaces
    installations: InstallationStore | None  # with SLACK_CLIENT_ID


def bot_tokens(
    settings: Settings,
    database: Database,
    identity: TokenIdentity | None = None,
    wait_seconds: float | None = None,
) -> BotTokens:
    """SLACK_BOT_TOKEN's workspace (`identity`, else asked of Slack, waiting up to `wait_seconds`, by default
    reach.WAIT_SECONDS, for it to be reachable: reach.OutOfReach), or the installations in the database."""
    if database.installations is not None:
        return Installations(database.installations, settings)
    assert settings.slack_bot_token is not None
    client = WebClient(token=settings.slack_bot_token.get_secret_value())
    configure_slack_client(client, settings)
    return OneToken(client, identity if identity is not None else identify(client, wait_seconds))


def identify(client: WebClient, wait_seconds: float | None) -> TokenIdentity:
    try:
        answer = reach.patiently(client.auth_test, "auth.test", client.base_url, client, wait_seconds)
    except SlackApiError as error:
        raise StartupError(f"SLACK_BOT_TOKEN: Slack refused the token ({error.response.get('error')})") from None
    return TokenIdentity(
        team_id=answer.get("team_id") or "",
        enterprise_id=answer.get("enterprise_id") or "",
        org_wide=bool(answer.get("is_enterprise_install")),
    )


def build_app(settings: Settings, tokens: BotTokens, database: Database) -> App:
    # Listeners only validate, hand the slow work to BackgroundWork and ack, so they run inline:
    # Bolt's default (a 5-thread pool, polling every 10 ms for the ack) adds latency to every ack in a burst.
    signing_secret = settings.slack_signing_secret
    options = {
        # HTTP requests are verified with it; Socket Mode's need none.
        "signing_secret": signing_secret.get_secret_value() if signing_secret is not None else None,
        "process_before_response": True,
    }
    if isinstance(tokens, Installations):
        # Every client Bolt derives per request copies base URL, timeout and retries from this one.
        client = configure_slack_client(WebClient(), settings)
        app = App(
            **options,
            client=client,
            installation_store=tokens.store,
            # The installation as stored (reused for a few seconds, see installations.RECENT_SECONDS): never a
            # Slack call on the way to the ack.
            authorize=StoredInstallationAuthorize(tokens.store),
            oauth_flow=install_pages.InstallFlow(
                settings=oauth_settings(settings, tokens, database), operator=install_pages.Operator.of(settings)
            ),
            user_facing_authorize_error_message=messages.not_installed()["text"],
        )
        app.middleware(workspace_from_payload)
    else:
        assert isinstance(tokens, OneToken)
        # The token, not the client: Bolt would also read SLACK_BOT_TOKEN and warn that it goes unused.
        app = App(**options, token=tokens.client.token, token_verification_enabled=False)
        configure_slack_client(app.client, settings)
        app.middleware(workspace_from_payload)
        app.middleware(only_workspaces_served_by(tokens.identity, StepRuns(database.engine)))
    listeners.register(app)
    return app


def workspace_from_payload(context: BoltContext, body: dict, next_: Callable[[], None]) -> None:
    """An org-wide install's events carry `authorizations[0].team_id` null, and Bolt reads the workspace from
    there (so it has none); the workspace is in the payload's own fields (the event's `team_id`, the user's or
    the view's team). Registered first: every other middleware and listener sees the workspace."""
    if context.team_id is None and context.is_enterprise_install:
        team = body.get("team")
        candidates = (
            body.get("team_id"),
            (body.get("user") or {}).get("team_id"),
            (body.get("view") or {}).get("team_id"),
            team.get("id") if isinstance(team, dict) else None,
        )
        found = [candidate for candidate in candidates if isinstance(candidate, str) and candidate.startswith("T")]
        if found:
            context["team_id"] = found[0]
    next_()


def oauth_settings(settings: Settings, tokens: Installations, database: Database) -> OAuthSettings:
    assert settings.slack_client_id is not None and settings.slack_client_secret is not None
    pages = install_pages.InstallPages(tokens, database.workspaces, install_pages.Operator.of(settings))
    return OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        redirect_uri=settings.redirect_uri,
        installation_store=tokens.store,
        installation_store_bot_only=True,
        # In the database, so that the install may start on one process and finish on another.
        state_store=OAuthStateStore(OAUTH_STATE_SECONDS, database.engine),
        state_expiration_seconds=OAUTH_STATE_SECONDS,
        callback_options=CallbackOptions(success=pages.installed, failure=pages.not_installed),
    )


def only_workspaces_served_by(identity: TokenIdentity, step_runs: StepRuns):
    """SLACK_BOT_TOKEN belongs to one workspace (or Grid organisation): a request from any other (the app
    installed elsewhere too) is refused rather than served with this workspace's token and Truedy key. A workflow
    step of another workspace is completed with why, once (its run recorded like any other's)."""

    def middleware(context: BoltContext, body: dict, next) -> BoltResponse | None:
        workspace = WorkspaceId(context.enterprise_id or "", context.team_id or "")
        if context.team_id is not None and identity.serves(workspace):
            return next()
        log.warning(
            "request from a workspace this token does not serve",
            extra={"fields": {"event": "other_workspace", "team": context.team_id}},
        )
        refusal = messages.other_workspace()
        event = body.get("event") or {}
        if event.get("type") == "function_executed" and context.function_execution_id:
            _refuse_step(step_runs, workspace, event, context, refusal["text"])
            return BoltResponse(status=200, body="")
        if body.get("command"):
            return BoltResponse(status=200, body=json.dumps(refusal), headers={"content-type": "application/json"})
        if context.respond is not None and body.get("response_url"):
            context.respond(**refusal)
        return BoltResponse(status=200, body="")

    return middleware


def _refuse_step(step_runs: StepRuns, workspace: WorkspaceId, event: dict, context: BoltContext, why: str) -> None:
    """Completed with `why` the first time this execution arrives; a delivery made again does nothing."""
    execution_id = str(context.function_execution_id)
    callback = str((event.get("function") or {}).get("callback_id") or "")
    try:
        if not step_runs.begin(execution_id, workspace, callback, event.get("workflow_execution_id"), "refusal"):
            return
        if step_runs.complete(execution_id, "refusal", {"error": why}):
            context.client.functions_completeError(function_execution_id=execution_id, error=why)
            step_runs.ended(execution_id)
    except (SQLAlchemyError, SlackApiError, OSError):
        log.exception("step of another workspace not ended", extra={"fields": {"event": "other_workspace_step"}})


def provide_services(app: App, services: Services) -> None:
    @app.middleware
    def put_services_in_context(context: BoltContext, next) -> None:
        context["services"] = services
        next()


def workspace_keys(settings: Settings, bot_team: str) -> dict[str, str]:
    keys = {team: key.get_secret_value() for team, key in settings.truedy_api_keys.items()}
    if settings.truedy_api_key is not None:
        single_key = settings.truedy_api_key.get_secret_value()
        if keys.setdefault(bot_team, single_key) != single_key:
            raise StartupError(
                f"TRUEDY_API_KEY and TRUEDY_API_KEYS give different keys for workspace {bot_team} "
                "(the bot token's workspace); keep one"
            )
    return keys


def open_database(settings: Settings) -> Database:
    """Connect, migrate and check the encryption key."""
    engine = storage.connect(settings.database_url, settings.database_pool_size)
    try:
        storage.migrate(engine)
        keybox = KeyBox(settings.bot_encryption_key.get_secret_value())
        keybox.check_against(engine)
    except storage.DatabaseError as error:
        engine.dispose()
        raise StartupError(str(error)) from None
    except SQLAlchemyError as error:
        engine.dispose()
        raise StartupError(f"DATABASE_URL: cannot use the database ({type(error).__name__})") from None
    installations = None
    if settings.slack_client_id is not None:
        installations = InstallationStore(settings.slack_client_id, engine, keybox)
    return Database(engine, keybox, Workspaces(engine, keybox), installations)


def seed_keys(settings: Settings, database: Database, tokens: BotTokens) -> None:
    """TRUEDY_API_KEY (for SLACK_BOT_TOKEN's workspace) and TRUEDY_API_KEYS into the database."""
    if not isinstance(tokens, OneToken):
        return  # with installations, each workspace connects its own key (load_settings refuses these)
    try:
        database.workspaces.seed_keys(workspace_keys(settings, tokens.identity.team_id), tokens.identity.enterprise_id)
    except SQLAlchemyError as error:
        raise StartupError(f"DATABASE_URL: cannot use the database ({type(error).__name__})") from None
