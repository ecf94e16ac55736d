"""Turning what a person typed into a Truedy campaign id, or a reason it is not one.

Truedy ids are opaque (`batch_c3d4e5f6`, `camp_ccaaff66-6`); the accepted alphabet is what keeps
every request on `/batch-calls/<id>/resume`: no `/`, `.`, `%`, `?` or `#` can reach a URL path.
"""

import re
from dataclasses import dataclass

MAX_LENGTH = 64
_CAMPAIGN_ID = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_-]{{2,{MAX_LENGTH - 1}}}$")
# Slack clients turn quotes into curly ones; people paste ids from code spans.
_WRAPPERS = "`'\"\u201c\u201d\u2018\u2019"
_SLACK_REFERENCE = re.compile(r"^<([@#!])")


class CampaignId(str):
    """A string that passed `parse_campaign_id`; safe to put in a URL path as it is."""


@dataclass(frozen=True)
class InvalidCampaignId:
    reason: str


def is_campaign_id(text: str) -> bool:
    return bool(_CAMPAIGN_ID.match(text))


def parse_campaign_id(text: str) -> CampaignId | InvalidCampaignId:
    candidate = text.strip()
    while len(candidate) >= 2 and candidate[0] in _WRAPPERS and candidate[-1] in _WRAPPERS:
        candidate = candidate[1:-1].strip()
    if not candidate:
        return InvalidCampaignId("there is no campaign id in what you typed")
    if reference := _SLACK_REFERENCE.match(candidate):
        kind = {"@": "a mention of a person", "#": "a channel", "!": "a special mention"}[reference.group(1)]
        return InvalidCampaignId(f"that is {kind}, not a campaign id")
    if len(candidate.split()) > 1:
        return InvalidCampaignId("that is more than one word; give one campaign id at a time")
    if len(candidate) > MAX_LENGTH:
        return InvalidCampaignId(f"it is {len(candidate)} characters long; campaign ids are at most {MAX_LENGTH}")
    if is_campaign_id(candidate):
        return CampaignId(candidate)
    if len(candidate) < 3:
        return InvalidCampaignId("it is too short to be a campaign id")
    return InvalidCampaignId("campaign ids contain only letters, digits, `_` and `-`")
