"""Pause again, as pure functions: the offer under a successful resume (a button behind a confirmation, for
UNDO_MINUTES), the message while the pause is under way, its ending in the thread, and the private answers to a
click that changes nothing."""

from datetime import datetime
from typing import Any

from bot import truedy
from bot.slack.blocks.messages import Message, context, escape, explain, private, requester, section, slack_date
from bot.storage.inflight import AlreadyResuming
from bot.storage.pause_again import NotTaken, PauseOffer

PAUSE_AGAIN_ACTION_ID = "pause_again"
OFFER_BLOCK_ID = "pause_again"
_NOTE_BLOCK_ID = "pause_again_note"

Block = dict[str, Any]


def with_offer(shown: Message, offer: PauseOffer) -> Message:
    """The message with Pause again under it, and until when it is offered."""
    name = escape(offer.campaign_name or offer.campaign_id, 80)
    button = {
        "type": "button",
        "action_id": PAUSE_AGAIN_ACTION_ID,
        "text": {"type": "plain_text", "text": "Pause again"},
        "style": "danger",
        "value": str(offer.id),
        "confirm": {
            "title": {"type": "plain_text", "text": "Pause again?"},
            "text": {"type": "mrkdwn", "text": f"Pause *{name}* again? Calls already placed finish."},
            "confirm": {"type": "plain_text", "text": "Pause calling"},
            "deny": {"type": "plain_text", "text": "Keep calling"},
            "style": "danger",
        },
    }
    until = context(f"Resumed by mistake? *Pause again* is offered until {slack_date(offer.offered_until)}.")
    return {
        "text": shown["text"],
        "blocks": [
            *_without_offer(shown["blocks"]),
            {"type": "actions", "block_id": OFFER_BLOCK_ID, "elements": [button]},
            {**until, "block_id": _NOTE_BLOCK_ID},
        ],
    }


def pausing(shown: Message, user_id: str) -> Message:
    """While the pause is under way: the button gone, so that nobody clicks twice."""
    note = context(f":hourglass_flowing_sand: Pausing again… requested by {requester(user_id)}")
    return {"text": shown["text"], "blocks": [*_without_offer(shown["blocks"]), {**note, "block_id": _NOTE_BLOCK_ID}]}


def paused_again_state(user_id: str, now: datetime) -> str:
    """An alert's status line once paused again: it offers Resume again."""
    return (
        f":double_vertical_bar: *Paused again* by {requester(user_id)} {slack_date(now)}. Calls already placed "
        "finish; Resume starts calling again."
    )


def paused_again_summary(shown: Message, user_id: str, now: datetime) -> Message:
    """A message other than an alert (an announcement, a schedule's), once paused again from it."""
    note = context(f":double_vertical_bar: Paused again by {requester(user_id)} {slack_date(now)}.")
    return {"text": shown["text"], "blocks": [*_without_offer(shown["blocks"]), {**note, "block_id": _NOTE_BLOCK_ID}]}


def result(offer: PauseOffer, user_id: str, outcome: truedy.Paused | truedy.TruedyError) -> Message:
    """The thread reply: what happened to the pause, and what to do next."""
    campaign = f"`{offer.campaign_id}`"
    if isinstance(outcome, truedy.Paused):
        text = (
            f":double_vertical_bar: {requester(user_id)} paused {campaign} again. Calls already placed finish; "
            "no new ones start until it is resumed."
        )
    else:
        headline, next_step = explain_pause(outcome)
        asked = f"({requester(user_id)} asked): {headline}.\n{next_step}"
        if outcome.outcome_unknown:
            text = f":grey_question: {campaign} *may have been paused again* {asked}"
        else:
            text = f":warning: {campaign} was not paused again {asked}"
    blocks = [section(text)]
    if outcome.request_id:
        blocks.append(context(f"Truedy request id: `{escape(outcome.request_id, 100)}`"))
    return {"text": text, "blocks": blocks}


def stopped_while_pausing(offer: PauseOffer) -> Message:
    """Its process stopped once the pause may have reached Truedy, before the answer: unknown, never sent again."""
    who = requester(offer.taken_by or "")
    text = (
        f":grey_question: The bot stopped while pausing `{offer.campaign_id}` again, as {who} asked, after the "
        "request may have reached Truedy: it *may have been paused*. Check it in the Truedy dashboard; it will not "
        "be tried again by itself."
    )
    return {"text": text, "blocks": [section(text)]}


def explain_pause(error: truedy.TruedyError) -> tuple[str, str]:
    """(what happened, what to do) for a pause, in the words of bot.slack.blocks.messages.explain where a resume's
    would fit, and a pause's own where they would not."""
    check = "Check the campaign in the Truedy dashboard before trying again."
    match error:
        case truedy.NotPausable():
            return _not_pausable(error.status)
        case truedy.RequestRefused():
            return (
                f"Truedy refused the request (HTTP {error.http_status}) although the campaign is running",
                "Pause it in the Truedy dashboard; if this keeps happening, contact Truedy support.",
            )
        case truedy.RateLimited():
            when = f"after {slack_date(error.retry_at)}" if error.retry_at else "in a minute"
            return ("Truedy's rate limit for this workspace's key is reached", f"Nothing was paused. Try again {when}.")
        case truedy.TruedyUnreachable():
            return ("the bot could not connect to Truedy", "Nothing was sent, so nothing was paused. Try again.")
        case truedy.TruedyServerError():
            return (
                f"Truedy had an internal error (HTTP {error.http_status})",
                f"It most likely did not pause. {check}",
            )
        case truedy.UnreadableAnswer() if error.http_status < 300:
            return (
                f"Truedy accepted the request (HTTP {error.http_status}) but its answer could not be read",
                f"It has probably paused. {check}",
            )
        case truedy.NoAnswer():
            return (explain(error)[0], check)
    headline, next_step = explain(error)
    return headline, next_step.replace("resumed", "paused").replace("resume", "pause")


def _not_pausable(status: str | None) -> tuple[str, str]:
    known = {
        "paused": ("it is already paused", "Someone paused it meanwhile: nothing is calling. Resume it when ready."),
        "completed": ("it has completed", "Every contact has been handled; nothing is calling."),
        "cancelled": ("it was cancelled", "Nothing is calling."),
        "failed": ("it has failed", "Nothing is calling; open it in the Truedy dashboard to see what went wrong."),
        "draft": ("it is a draft that was never started", "Nothing is calling."),
    }
    if status in known:
        return known[status]
    return (
        "Truedy says it cannot be paused in its current state",
        "Only running or scheduled campaigns can be paused; check its status in the Truedy dashboard.",
    )


def not_taken(refused: NotTaken) -> Message:
    """A click that changed nothing: too late, someone else's pause, or over."""
    offer = refused.offer
    if offer is None:
        return private(":warning: That Pause again button is not one of this workspace's. Nothing was changed.")
    campaign = f"`{offer.campaign_id}`"
    if offer.state in ("taken", "sending"):
        return private(
            f":hourglass_flowing_sand: {requester(offer.taken_by or '')} is pausing {campaign} again right now: "
            "nothing more was sent. The result shows in the thread in a moment."
        )
    if offer.state == "paused":
        return private(f":double_vertical_bar: {campaign} was paused again already. Nothing more was sent.")
    if offer.state in ("refused", "unknown"):
        return private(
            f":information_source: Pause again of {campaign} was tried already: its result is in the thread."
        )
    return private(
        f":information_source: Pause again of {campaign} is no longer offered: it is offered only for a few minutes "
        "after a resume. Nothing was changed. To pause it now, use the Truedy dashboard."
    )


def someone_else_is_changing_it(holder: AlreadyResuming, campaign_id: str) -> Message:
    return private(
        f":hourglass_flowing_sand: {requester(holder.user_id)} is resuming or pausing `{campaign_id}` right now: "
        "nothing was sent. Try again once their result shows."
    )


def not_sent(offer: PauseOffer, error: truedy.TruedyError) -> Message:
    headline, next_step = explain_pause(error)
    return private(f":warning: `{offer.campaign_id}` was not paused again: {headline}. {next_step}")


def _without_offer(blocks: list[Block]) -> list[Block]:
    return [block for block in blocks if block.get("block_id") not in (OFFER_BLOCK_ID, _NOTE_BLOCK_ID)]
