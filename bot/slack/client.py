from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot.settings import Settings

SLACK_TIMEOUT_SECONDS = 10


def bot_user_id(client: WebClient) -> str | None:
    """The bot's own user id (auth.test), for a mention that Slack shows with the app's current name; None
    when Slack does not say. Asked only on the rare paths that need it, not on the way to an ack."""
    try:
        return client.auth_test().get("user_id")
    except (SlackApiError, SlackClientError, OSError):
        return None


def configure_slack_client(client: WebClient, settings: Settings, wait_out_rate_limits: bool = True) -> WebClient:
    client.base_url = settings.slack_api_url
    # Bounded, so that a slow Slack cannot hold a request (or a shutdown) for slack_sdk's default 30 s.
    client.timeout = SLACK_TIMEOUT_SECONDS
    if wait_out_rate_limits:
        # Waits out Slack's `ratelimited` answers (their Retry-After) instead of failing the message.
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    else:
        # The background's clients (alerts, reminders) post each message once: tried again only when the request
        # never left (urllib's URLError: no connection); a connection lost after it left may have posted it, and
        # the caller counts it as maybe posted rather than post it twice.
        client.retry_handlers[:] = [ConnectionErrorRetryHandler(error_types=[URLError])]
    return client
