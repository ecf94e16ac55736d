"""The private list of paused campaigns, as pure functions."""

import json

import pytest

from bot import truedy
from bot.slack.blocks import list_blocks
from bot.slack.listing import is_name_query, named


def paused(n: int, name: str = "Outreach") -> truedy.Campaign:
    return truedy.Campaign(f"batch_p{n:05d}", name, "paused", 500, 312, 298, 14, 188, None, None)


def page(campaigns: list[truedy.Campaign], has_more: bool, total: int | None) -> truedy.CampaignPage:
    return truedy.CampaignPage(campaigns, has_more, total, None)


def test_a_page_fits_slacks_limits_and_offers_the_next_and_previous_pages():
    message = list_blocks.paused_list(page([paused(n) for n in range(20, 40)], True, 130), offset=20)
    blocks = message["blocks"]
    assert len(blocks) <= 50 and len(json.dumps(blocks)) < 40_000
    assert blocks[0]["text"]["text"].startswith("*Paused campaigns* (21 to 40 of 130)")
    (pages,) = [b for b in blocks if b.get("block_id") == "list_pages"]
    assert [(e["text"]["text"], e["value"]) for e in pages["elements"]] == [("Previous", "0"), ("Show more", "40")]
    values = [b["accessory"]["value"] for b in blocks if "accessory" in b]
    assert [list_blocks.parse_listed_value(v) for v in values] == [(f"batch_p{n:05d}", 20) for n in range(20, 40)]


def test_names_are_shown_as_typed_never_as_markup():
    message = list_blocks.paused_list(page([paused(1, "<!channel> *bold* & <https://x|y>")], False, 1), 0)
    row = message["blocks"][1]["text"]["text"]
    assert "<!channel>" not in row and "&lt;!channel&gt;" in row and "&amp;" in row


def test_an_empty_list_says_so():
    first = list_blocks.paused_list(page([], False, 0), 0)
    assert "Nothing is paused" in first["text"]
    later = list_blocks.paused_list(page([], False, 20), 40)
    assert "No more paused campaigns" in later["text"] and "Back to the first page" in json.dumps(later["blocks"])


@pytest.mark.parametrize(
    "value",
    [
        "batch_p00001",
        '{"id": "../../api-keys", "offset": 0}',
        '{"id": "batch_p00001", "offset": -1}',
        '{"id": "batch_p00001", "offset": 99999999}',
        '{"id": "batch_p00001", "offset": "0"}',
        '{"id": "batch_p00001", "offset": true}',
        '["batch_p00001", 0]',
        "",
    ],
)
def test_a_forged_list_button_is_refused(value):
    assert list_blocks.parse_listed_value(value) is None


@pytest.mark.parametrize("value, offset", [("40", 40), ("0", 0), ("-20", None), ("²", None), ("99999999", None)])
def test_page_buttons_take_only_plain_offsets(value, offset):
    assert list_blocks.parse_page_value(value) == offset


def test_a_name_matches_by_its_words_in_any_order_whatever_the_case():
    campaigns = [paused(1, "Q2 Outreach Campaign"), paused(2, "Outreach Q3"), paused(3, None), paused(4, "Q2-Outreach")]
    assert [c.id for c in named("outreach q2", campaigns)] == ["batch_p00001", "batch_p00004"]
    assert [c.id for c in named("OUTREACH", campaigns)] == ["batch_p00001", "batch_p00002", "batch_p00004"]
    assert named("q2 outreach campaign extra", campaigns) == []
    assert named("   ", campaigns) == []


@pytest.mark.parametrize(
    "text, is_name",
    [
        ("Q2 Outreach", True),
        ("renewals (west), 2026", True),
        ("batch 1", True),
        ("../admin", False),
        ("batch_1/../x", False),
        ("<@U0BOB0001>", False),
        ("x" * 101, False),
        ("a\nb", False),
        ("b", False),
    ],
)
def test_what_counts_as_a_name_to_look_up(text, is_name):
    assert is_name_query(text) is is_name


def test_more_matches_than_a_page_ask_for_more_of_the_name():
    message = list_blocks.name_matches("outreach", [paused(n) for n in range(30)], most=20)
    assert message["text"].startswith("30 paused campaigns are named “outreach” (the first 20; type more")
    assert len([b for b in message["blocks"] if "accessory" in b]) == 20
