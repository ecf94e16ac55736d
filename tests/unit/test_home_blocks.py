"""The Home tab, as pure functions."""

import json
from datetime import UTC, datetime

from bot import truedy
from bot.slack.blocks import home_blocks
from bot.storage.audit import AuditEntry
from bot.storage.workspace_settings import WorkspaceId, WorkspaceSettings

CONNECTED = WorkspaceSettings(WorkspaceId("", "T0HOME001"), "truedy_k", "y_k1", "slack", None, None, (), (), "U1", None)
NOTHING_PAUSED = truedy.CampaignPage([], False, 0, None)


def test_a_workspace_not_connected_offers_admins_the_connect_button_and_tells_others_whom_to_ask():
    admin = json.dumps(home_blocks.home(None, NOTHING_PAUSED, [], may_set_up=True))
    member = json.dumps(home_blocks.home(None, NOTHING_PAUSED, [], may_set_up=False))
    assert "Connect Truedy" in admin and "open_setup" in admin
    assert "Ask a workspace admin" in member and "open_setup" not in member


def test_a_list_truedy_would_not_give_is_said_and_the_rest_still_shows():
    entry = AuditEntry(datetime(2026, 11, 1, tzinfo=UTC), "U0BOB0001", "batch_x0001", "button", "resumed", None, 1)
    view = home_blocks.home(CONNECTED, "Truedy rejected this workspace's API key. Create a new one.", [entry], False)
    text = json.dumps(view, ensure_ascii=False)
    assert ":warning: I could not read the paused campaigns: Truedy rejected" in text
    assert "`batch_x0001` · button · resumed" in text and view["type"] == "home"


def test_the_home_tab_stays_within_slacks_100_blocks():
    page = truedy.CampaignPage(
        [truedy.Campaign(f"batch_h{n:04d}", "x", "paused", 1, 1, 1, 0, 0, None, None) for n in range(200)],
        True,
        200,
        None,
    )
    assert len(home_blocks.home(CONNECTED, page, [], may_set_up=True)["blocks"]) <= 100
