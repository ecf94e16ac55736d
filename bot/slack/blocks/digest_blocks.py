"""The digest: one message for the many campaigns one poll found newly paused, as pure functions over Block
Kit. Its first rows have a Resume button each, the rest are counted (and listed by `list`), and Resume all
resumes those still paused; every row says where its campaign stands."""

import json
from typing import Any

from bot.slack.blocks import alert_blocks, resume_all_blocks
from bot.slack.blocks.messages import COMMAND, Message, context, escape, section, slack_date
from bot.storage.digests import STILL_PAUSED, Digest, DigestRow

# More new pauses than this in one poll make a digest instead of an alert each.
DIGEST_OVER = 5
# Rows shown with their own buttons (two blocks each): the message stays short, far under Slack's 50 blocks.
SHOWN_ROWS = 10
RESUME_DIGESTED_ACTION_ID = "resume_digested"

Block = dict[str, Any]


def digest(digest: Digest, per_minute: int) -> Message:
    total, still_paused = len(digest.rows), len(digest.still_paused)
    found = slack_date(digest.created_at)
    heading = f":double_vertical_bar: *{total} campaigns paused* in this workspace's Truedy account (found {found})."
    blocks: list[Block] = [section(heading), context(_counts(digest.rows))]
    blocks += [block for row in digest.rows[:SHOWN_ROWS] for block in _row(row)]
    if total > SHOWN_ROWS:
        blocks.append(
            context(
                f"…and {total - SHOWN_ROWS} more: `{COMMAND} list` shows every paused campaign with a Resume button."
            )
        )
    if still_paused:
        blocks.append(
            {
                "type": "actions",
                "block_id": "digest_actions",
                "elements": [resume_all_blocks.resume_all_button(still_paused, per_minute, digest_value(digest.id))],
            }
        )
    text = f"{total} campaigns paused ({_counts(digest.rows)}). Resume them here, or with {COMMAND} list."
    return {"text": text, "blocks": blocks}


def digest_value(digest_id: int) -> str:
    return json.dumps({"digest": digest_id}, separators=(",", ":"))


def _counts(rows: list[DigestRow]) -> str:
    still = sum(row.kind in STILL_PAUSED for row in rows)
    parts = [f"{still} still paused"]
    for kind, said in (("resuming", "being resumed"), ("resumed", "resumed"), ("over", "not paused any more")):
        if count := sum(row.kind == kind for row in rows):
            parts.append(f"{count} {said}")
    return " · ".join(parts)


def _row(row: DigestRow) -> list[Block]:
    """The row's text; while its campaign is paused, Resume and the later menu beneath it."""
    name = escape(row.name or "Unnamed campaign", 120)
    state = row.line or ":double_vertical_bar: Paused."
    text: Block = {"type": "section", "text": {"type": "mrkdwn", "text": f"*{name}*  `{row.campaign_id}`\n{state}"}}
    if row.kind not in STILL_PAUSED:
        return [text]
    resume = {
        "type": "button",
        "action_id": RESUME_DIGESTED_ACTION_ID,
        "text": {"type": "plain_text", "text": "Resume"},
        "value": row.campaign_id,
        "confirm": alert_blocks.resume_confirmation(row.name),
    }
    return [text, {"type": "actions", "elements": [resume, alert_blocks.later_menu(row.campaign_id)]}]
