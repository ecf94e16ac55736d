"""Offering Pause again under a successful resume (the click that pauses: bot.slack.pause_again)."""

import html
import logging
import re
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from bot.slack.blocks import pause_blocks
from bot.slack.blocks.messages import Message
from bot.storage.pause_again import PauseOffers
from bot.storage.workspace_settings import WorkspaceId

log = logging.getLogger("bot.pause_again")

_SUMMARY_NAME = re.compile(r"^\*(.+?)\*  `")  # the alert's summary line: *<name>*  `<id>`


@dataclass(frozen=True)
class Undo:
    """What the resume surfaces need to offer Pause again under a successful resume."""

    offers: PauseOffers
    minutes: int  # 0: never offered

    def offered(
        self,
        workspace: WorkspaceId,
        campaign_id: str,
        campaign_name: str | None,
        resumed_by: str,
        kind: str,
        where: tuple[str, str, str],
        shown: Message,
    ) -> Message:
        """`shown` (the resume's final message at `where`: channel, ts, thread) with Pause again under it; as it is
        when offers are off, or the database would not keep the offer (nobody can click what is not kept)."""
        if self.minutes <= 0:
            return shown
        try:
            offer = self.offers.offer(
                workspace, campaign_id, campaign_name, resumed_by, kind, where, shown, self.minutes
            )
        except SQLAlchemyError:
            log.exception("pause again not offered", extra={"fields": {"event": "database_error"}})
            return shown
        return pause_blocks.with_offer(shown, offer)


def name_in_alert(blocks: list) -> str | None:
    """The campaign's name as an alert shows it (its summary's first words), for the confirmation."""
    for block in blocks:
        if block.get("block_id") == "campaign_summary":
            found = _SUMMARY_NAME.match(((block.get("text") or {}).get("text")) or "")
            return html.unescape(found.group(1)) if found else None
    return None
