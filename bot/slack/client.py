from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.settings import Settings

SLACK_TIMEOUT_SECONDS = 10


def configure_slack_client(client: WebClient, settings: Settings, wait_out_rate_limits: bool = True) -> WebClient:
    client.base_url = settings.slack_api_url
    # Bounded, so that a slow Slack cannot hold a request (or a shutdown) for slack_sdk's default 30 s.
    client.timeout = SLACK_TIMEOUT_SECONDS
    if wait_out_rate_limits:
        # Waits out Slack's `ratelimited` answers (their Retry-After) instead of failing the message.
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    return client
