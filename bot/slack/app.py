"""Building the Bolt app and its collaborators from settings."""

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot import storage
from bot.services import Services
from bot.settings import Settings
from bot.slack import listeners
from bot.storage.keybox import KeyBox
from bot.storage.workspace_settings import Workspaces

SLACK_TIMEOUT_SECONDS = 10


class StartupError(Exception):
    """The bot cannot start; the message is one line for the operator, without secrets."""


def build_app(settings: Settings) -> App:
    # Listeners only validate, hand the slow work to BackgroundWork and ack, so they run inline:
    # Bolt's default (a 5-thread pool, polling every 10 ms for the ack) adds latency to every ack in a burst.
    signing_secret = settings.slack_signing_secret
    app = App(
        token=settings.slack_bot_token.get_secret_value(),
        # HTTP requests are verified with it; Socket Mode's need none.
        signing_secret=signing_secret.get_secret_value() if signing_secret is not None else None,
        token_verification_enabled=False,
        process_before_response=True,
    )
    # Every client Bolt derives per request copies these from app.client.
    configure_slack_client(app.client, settings)
    listeners.register(app)
    return app


def configure_slack_client(client: WebClient, settings: Settings, wait_out_rate_limits: bool = True) -> WebClient:
    client.base_url = settings.slack_api_url
    # Bounded, so that a slow Slack cannot hold a request (or a shutdown) for slack_sdk's default 30 s.
    client.timeout = SLACK_TIMEOUT_SECONDS
    if wait_out_rate_limits:
        # Waits out Slack's `ratelimited` answers (their Retry-After) instead of failing the message.
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client


def provide_services(app: App, services: Services) -> None:
    @app.middleware
    def put_services_in_context(context: BoltContext, next) -> None:
        context["services"] = services
        next()


def bot_team_id(client: WebClient) -> str:
    try:
        return client.auth_test()["team_id"]
    except SlackApiError as error:
        raise StartupError(f"SLACK_BOT_TOKEN: Slack refused the token ({error.response.get('error')})") from None
    except OSError as error:
        raise StartupError(f"SLACK_API_URL: cannot reach Slack at {client.base_url} ({error})") from None


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


def open_database(settings: Settings, bot_team: str) -> tuple[Engine, Workspaces]:
    """Connect, migrate, check the encryption key, and seed keys from the environment."""
    engine = storage.connect(settings.database_url)
    try:
        storage.migrate(engine)
        keybox = KeyBox(settings.bot_encryption_key.get_secret_value())
        keybox.check_against(engine)
        workspaces = Workspaces(engine, keybox)
        workspaces.seed_keys(workspace_keys(settings, bot_team))
    except storage.DatabaseError as error:
        engine.dispose()
        raise StartupError(str(error)) from None
    except SQLAlchemyError as error:
        engine.dispose()
        raise StartupError(f"DATABASE_URL: cannot use the database ({type(error).__name__})") from None
    return engine, workspaces
