"""The time picker's modal and what it reads back: its metadata, the picked moment, where it opens."""

from datetime import UTC, datetime

import pytest

from bot import truedy
from bot.slack.blocks import time_picker_blocks as blocks
from tests.fakes import block_kit

FOR_ALERT = blocks.PickedFor("batch_c3d4e5f6", "C0OPS0001", "1700000000.000100", "alert")
NOW = datetime(2026, 12, 7, 14, 7, 30, tzinfo=UTC)
CAMPAIGN = truedy.Campaign("batch_c3d4e5f6", "Q2 <Outreach>", "paused", 500, 312, 300, 12, 188, NOW, None)


def test_the_picker_passes_slacks_rules_in_every_state():
    for summary in (
        blocks.reading_summary(FOR_ALERT.campaign_id),
        blocks.summary(CAMPAIGN),
        blocks.summary(truedy.Campaign(**{**CAMPAIGN.__dict__, "name": "x" * 5000, "status": "active"})),
        blocks.summary_unread(FOR_ALERT.campaign_id, "Truedy did not answer in time"),
    ):
        view = blocks.picker(FOR_ALERT, blocks.initial_moment(NOW), summary)
        assert block_kit.view_problems(view) == []


def test_the_summary_says_whether_it_is_paused_and_escapes_the_name():
    assert "*Q2 &lt;Outreach&gt;*  `batch_c3d4e5f6`" in blocks.summary(CAMPAIGN)
    assert "Paused: 188 contacts wait" in blocks.summary(CAMPAIGN)
    running = truedy.Campaign(**{**CAMPAIGN.__dict__, "status": "active"})
    assert "It is `active` now, not paused" in blocks.summary(running)


def test_it_opens_an_hour_ahead_on_a_quarter_of_an_hour():
    assert blocks.initial_moment(NOW) == datetime(2026, 12, 7, 15, 15, tzinfo=UTC)
    assert blocks.initial_moment(datetime(2026, 12, 7, 14, 0, tzinfo=UTC)) == datetime(2026, 12, 7, 15, 0, tzinfo=UTC)


def test_the_metadata_reads_back_what_was_written_and_nothing_else():
    assert blocks.parse_metadata(blocks.metadata(FOR_ALERT)) == FOR_ALERT
    from_command = blocks.PickedFor("batch_c3d4e5f6", "C0OPS0001", None, "command")
    assert blocks.parse_metadata(blocks.metadata(from_command)) == from_command
    for text in (
        "",
        "not json",
        "[]",
        '{"campaign": "batch_c3d4e5f6", "channel": "C0OPS0001", "thread": null, "via": "workflow"}',
        '{"campaign": "../../admin", "channel": "C0OPS0001", "thread": null, "via": "alert"}',
        '{"campaign": "batch_c3d4e5f6", "channel": "#general", "thread": null, "via": "alert"}',
        '{"campaign": "batch_c3d4e5f6", "channel": "C0OPS0001", "thread": "now", "via": "alert"}',
        '{"campaign": 7, "channel": "C0OPS0001", "thread": null, "via": "alert"}',
    ):
        assert blocks.parse_metadata(text) is None, text


@pytest.mark.parametrize(
    "picked, seconds",
    [
        ({"type": "datetimepicker", "selected_date_time": 1796115600}, 1796115600),
        ({"type": "datetimepicker", "selected_date_time": "1796115600"}, 1796115600),
        ({"type": "datetimepicker", "selected_date_time": None}, None),
        ({"type": "datetimepicker", "selected_date_time": True}, None),
        ({"type": "datetimepicker", "selected_date_time": "tomorrow"}, None),
        ({"type": "datetimepicker", "selected_date_time": 1.5}, None),
        ({"type": "datetimepicker"}, None),
    ],
)
def test_the_picked_moment_is_unix_seconds_or_nothing(picked, seconds):
    view = {"state": {"values": {blocks.WHEN_BLOCK_ID: {blocks.WHEN_ACTION_ID: picked}}}}
    assert blocks.picked_seconds(view) == seconds


def test_a_view_without_the_field_has_no_picked_moment():
    assert blocks.picked_seconds({}) is None
    assert blocks.picked_seconds({"state": {"values": {"other": {}}}}) is None
