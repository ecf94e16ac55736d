"""The bot's Home tab: published when opened, with the paused campaigns (Resume buttons), the latest
resumes, and for admins the connection with a button that opens setup; published again after a resume."""

import json

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign


@pytest.fixture(scope="module")
def home(loop, tmp_path_factory):
    stack = start_stack(loop, tmp_path_factory.mktemp("home"))
    stack.slack.admins.add("U0ADMIN01")
    stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_home{n:04d}", name=f"Home wave {n}") for n in range(25)))
    yield stack
    stop_stack(stack)


def open_home(stack, user_id: str, count: int = 1) -> dict:
    view = json.loads(json.dumps(stack.slack.event("app_home_opened", BOT_TEAM, user=user_id, tab="home")))
    stack.slack.wait_ack(stack.slack.push("events_api", view))
    return wait_until(lambda: stack.slack.published_homes(user_id)[count - 1 :], 10, "the Home tab")[-1]


def resume_buttons(view: dict) -> list[str]:
    return [
        json.loads(b["accessory"]["value"])["id"]
        for b in view["blocks"]
        if b.get("accessory", {}).get("action_id") == "resume_listed"
    ]


def test_the_home_tab_shows_the_paused_campaigns_and_the_latest_resumes(home):
    view = open_home(home, "U0ALICE01")
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert resume_buttons(view) == [f"batch_home{n:04d}" for n in range(20)]
    text = json.dumps(view)
    assert "/resume-campaign list` shows them all" in text and "*Latest resumes*" in text
    assert "home_setup" not in text  # not an admin
    published = home.slack.calls_to("views.publish")[-1]
    assert published.token == home.slack.bot_token


def test_admins_see_the_connection_and_open_setup_from_home(home):
    view = open_home(home, "U0ADMIN01")
    assert "*Connection* (you may change it)" in json.dumps(view)
    opened = len(home.slack.opened_views())
    click = home.slack.click_in_home(view, "open_setup", "U0ADMIN01")
    home.slack.wait_ack(home.slack.push("interactive", click))
    modal = wait_until(lambda: home.slack.opened_views()[opened:], 10, "the setup modal")[0]
    assert modal["trigger_id"] == click["trigger_id"]


def test_a_resume_from_home_is_announced_and_the_tab_shows_it_after(home):
    view = open_home(home, "U0BOB0001")
    first = resume_buttons(view)[0]
    homes = len(home.slack.published_homes("U0BOB0001"))
    click = home.slack.click_in_home(view, "resume_listed", "U0BOB0001")
    home.slack.wait_ack(home.slack.push("interactive", click))
    # No alert channel set up: announced in the person's DM with the bot, the result in its thread.
    _, reply, _ = home.result_in_thread("U0BOB0001", first)
    assert "is resumed" in reply.params["text"]
    refreshed = wait_until(lambda: home.slack.published_homes("U0BOB0001")[homes:], 10, "the Home tab again")[-1]
    assert first not in resume_buttons(refreshed)
    assert f"<@U0BOB0001> · `{first}` · list · resumed" in json.dumps(refreshed, ensure_ascii=False)
