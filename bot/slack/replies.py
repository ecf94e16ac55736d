"""Posting results to Slack so that a refusal from Slack never swallows a result."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from slack_bolt import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.background import BackgroundWork
from bot.resume import ResumeOutcome
from bot.slack.blocks import messages

log = logging.getLogger("bot.replies")


def reply_in_thread(
    client: WebClient, respond: Respond, channel: str, thread_ts: str, campaign_id: str, outcome: ResumeOutcome
) -> str | None:
    """The result under `thread_ts`, and its ts; if Slack refuses, to the requester privately instead (None)."""
    try:
        posted = client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, **messages.result_details(campaign_id, outcome)
        )
    except SlackApiError as error:
        log_refusal("thread_reply", error)
        respond(**messages.private_result(campaign_id, outcome))
        return None
    return posted["ts"]


def update_message(client: WebClient, channel: str, ts: str, text: str, blocks: list) -> bool:
    """Edit a message the bot posted; a deleted or uneditable message is logged, not fatal."""
    try:
        client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        return True
    except SlackApiError as error:
        log_refusal("update", error)
        return False


def answer_safely(respond: Respond, job: Callable[..., None], *args: object) -> None:
    """Run one of the quick answers to a request; whatever goes wrong, the requester hears about it."""
    try:
        job(*args)
    except SQLAlchemyError:
        log.exception("database unavailable", extra={"fields": {"event": "database_error"}})
        respond(**messages.database_unavailable())
    except Exception:
        respond(**messages.bot_failure())
        raise


def answer_later(pool: BackgroundWork, answer: Respond | Callable[..., None], job: Callable[[], None]) -> None:
    """Run `job` after the ack on `pool`, answered safely; once the worker is stopping, say so at once."""
    if not pool.submit(answer_safely, answer, job):
        answer(**messages.shutting_down())


def log_refusal(step: str, error: SlackApiError) -> None:
    log.warning(
        "slack refused a message",
        extra={"fields": {"event": "slack_error", "step": step, "error": error.response.get("error")}},
    )


@dataclass(frozen=True)
class DirectMessage:
    """Answers to a click in the Home tab, which comes with no response URL: a DM from the bot instead."""

    client: WebClient
    user_id: str

    def __call__(self, text: str = "", blocks: list | None = None, **_ignored: object) -> None:
        self.client.chat_postMessage(channel=self.user_id, text=text, blocks=blocks)


def private_answers(body: dict, respond: Respond, client: WebClient) -> Respond | DirectMessage:
    """Where to answer the person who clicked: through the click's response URL, or by DM if it has none."""
    return respond if body.get("response_url") else DirectMessage(client, body["user"]["id"])
