"""Pause all again through the real worker: a finished resume all offers it under its summary for UNDO_MINUTES;
a confirmed click pauses again, paced, once, what it resumed (and only that), with the workspace's key, in a
progress message of its own with a summary; a second click (even at once, on two workers) starts nothing more; a
click after its minutes, or by someone not allowed, changes nothing; the button goes when its minutes end. On
SQLite and PostgreSQL."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot import storage
from bot.slack.blocks import resume_all_blocks
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.e2e.test_two_workers import two_workers_on
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign

CHANNEL = "C0UNDOALL"
SETTINGS = {"RESUME_ALL_PER_MINUTE": "6000"}
_runs = iter(range(1, 10_000))


@pytest.fixture(scope="module", params=KINDS)
def stack(request, loop, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"pause-all-{request.param}")
    with fresh_database(request.param, folder) as database_url:
        running = start_stack(loop, folder, DATABASE_URL=database_url, **SETTINGS)
        yield running
        stop_stack(running)


def resumed_all(stack, count: int = 4, running: int = 1) -> tuple[list[str], list[str], str]:
    """`count` paused campaigns (and `running` that are not), resumed by `resume-all`: their ids, the running ones'
    ids, and the summary's ts once it offers Pause all again."""
    run = next(_runs)
    paused = [f"batch_undo{run:03d}p{n:02d}" for n in range(count)]
    others = [f"batch_undo{run:03d}r{n:02d}" for n in range(running)]
    stack.truedy.add(KEY_BOT_TEAM, *(campaign(c, name=f"Wave {c[-2:]}") for c in paused))
    stack.truedy.add(KEY_BOT_TEAM, *(campaign(c, status="running") for c in others))
    known = set(stack.slack.messages)
    payload, _ = stack.command("resume-all", channel_id=CHANNEL, user_id="U0ALICE01")
    offer = stack.private_reply(payload)
    # Everything paused in the account: earlier tests' campaigns paused again too.
    (button,) = [e for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    count = int(button["text"]["text"].split()[2])
    click = stack.slack.click_private(offer, "resume_all", CHANNEL, user_id="U0ALICE01")
    stack.slack.wait_ack(stack.slack.push("interactive", click))

    def summary() -> str | None:
        for (channel, ts), message in list(stack.slack.messages.items()):
            if (channel, ts) not in known and f"Pause all {count} again" in json.dumps(message.get("blocks")):
                return ts
        return None

    return paused, others, wait_until(summary, 30, "the summary with Pause all again")


def pause_button(stack, ts: str) -> dict | None:
    for block in stack.slack.messages[(CHANNEL, ts)].get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == resume_all_blocks.PAUSE_ALL_AGAIN_ACTION_ID:
                return element
    return None


def pauses_of(stack, campaign_ids: list[str]) -> list:
    return [r for r in stack.truedy.pauses() if r.path.split("/")[-2] in campaign_ids]


def pausing_summary(stack) -> list:
    return [c for c in stack.slack.posts_in(CHANNEL) if "Pause all again finished" in c.params["text"]]


def test_pause_all_again_pauses_what_resume_all_resumed_once_with_the_workspaces_key(stack):
    paused, others, summary_ts = resumed_all(stack)
    button = pause_button(stack, summary_ts)
    assert button["text"]["text"] == "Pause all 4 again"
    assert button["confirm"]["title"]["text"] == "Pause 4 campaigns again?"
    assert "calls already placed finish" in button["confirm"]["text"]["text"]
    before = len(pausing_summary(stack))

    click = stack.slack.click(CHANNEL, summary_ts, user_id="U0BOB0001", action_id="pause_all_again")
    # Carol's screen still shows the button when she clicks it, later.
    again = stack.slack.click(CHANNEL, summary_ts, user_id="U0CAROL01", action_id="pause_all_again")
    stack.slack.wait_ack(stack.slack.push("interactive", click))

    wait_until(lambda: len(pausing_summary(stack)) > before, 30, "Pause all again's summary")
    done = pausing_summary(stack)[-1].params["text"]
    assert done == "Pause all again finished: Paused 4 of 4 · 0 failed."
    requests = pauses_of(stack, paused + others)
    assert sorted(r.path.split("/")[-2] for r in requests) == sorted(paused)  # what it resumed, each once
    assert {r.authorization for r in requests} == {f"Bearer {KEY_BOT_TEAM}"}
    assert all(stack.truedy.status_of(KEY_BOT_TEAM, c) == "paused" for c in paused)
    # The summary no longer offers it, and says who asked.
    wait_until(lambda: pause_button(stack, summary_ts) is None, 10, "the button gone")
    assert "<@U0BOB0001> asked to pause them again" in json.dumps(stack.slack.messages[(CHANNEL, summary_ts)])
    progress = [
        c
        for c in stack.slack.posts_in(CHANNEL)
        if "thread_ts" not in c.params and "Pausing again what resume all resumed" in c.params["text"]
    ]
    assert len(progress) == 1 and "(started by <@U0BOB0001>)" in progress[0].params["text"]
    history, _ = stack.command("history", channel_id=CHANNEL, user_id="U0BOB0001")
    assert "paused again by <@U0BOB0001>" in stack.private_reply(history)["text"]

    # The second click: nothing more.
    stack.slack.wait_ack(stack.slack.push("interactive", again))
    told = wait_until(lambda: stack.slack.responses_to(again), 10, "the second clicker told")[0].params
    assert "<@U0BOB0001> already asked to pause them again" in told["text"]
    assert len(pauses_of(stack, paused)) == 4


def test_a_click_after_its_minutes_changes_nothing_and_the_button_goes(stack):
    paused, _, summary_ts = resumed_all(stack, count=2, running=0)
    button = pause_button(stack, summary_ts)
    engine = storage.connect(stack.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(storage.resume_all_jobs_table)
                .where(storage.resume_all_jobs_table.c.id == int(button["value"]))
                .values(undo_until=datetime.now(UTC) - timedelta(seconds=1))
            )
    finally:
        engine.dispose()
    click = stack.slack.click(CHANNEL, summary_ts, user_id="U0BOB0001", action_id="pause_all_again")
    stack.slack.wait_ack(stack.slack.push("interactive", click))
    told = wait_until(lambda: stack.slack.responses_to(click), 10, "the clicker told")[0].params
    assert "no longer offered" in told["text"]
    wait_until(lambda: pause_button(stack, summary_ts) is None, 15, "the button gone")
    assert pauses_of(stack, paused) == []


def test_someone_not_allowed_to_resume_cannot_pause_all_again(stack):
    paused, _, summary_ts = resumed_all(stack, count=2, running=0)
    engine = storage.connect(stack.database_url)
    try:
        with engine.begin() as connection:
            workspaces = storage.workspaces
            connection.execute(
                update(workspaces).where(workspaces.c.team_id == BOT_TEAM).values(allowed_users='["U0ALICE01"]')
            )
        click = stack.slack.click(CHANNEL, summary_ts, user_id="U0MALLORY", action_id="pause_all_again")
        stack.slack.wait_ack(stack.slack.push("interactive", click))
        told = wait_until(lambda: stack.slack.responses_to(click), 10, "the refusal")[0].params
        assert told["response_type"] == "ephemeral"
        assert pause_button(stack, summary_ts) is not None and pauses_of(stack, paused) == []
    finally:
        with engine.begin() as connection:
            connection.execute(update(workspaces).where(workspaces.c.team_id == BOT_TEAM).values(allowed_users="[]"))
        engine.dispose()


@pytest.mark.parametrize("kind", KINDS)
def test_two_clicks_at_once_on_two_workers_make_one_job(loop, tmp_path, kind):
    with two_workers_on(loop, tmp_path, kind, **SETTINGS) as (stack, _second):
        paused, _, summary_ts = resumed_all(stack, count=3, running=0)
        clicks = [
            stack.slack.click(CHANNEL, summary_ts, user_id=user, action_id="pause_all_again")
            for user in ("U0BOB0001", "U0CAROL01")
        ]
        first = stack.slack.push("interactive", clicks[0], connection=0)
        second = stack.slack.push("interactive", clicks[1], connection=1)
        stack.slack.wait_ack(first), stack.slack.wait_ack(second)
        wait_until(lambda: pausing_summary(stack), 30, "Pause all again's summary")
        told = wait_until(lambda: [r for c in clicks for r in stack.slack.responses_to(c)], 10, "one told")
        assert any("already asked to pause them again" in r.params["text"] for r in told), [r.params for r in told]
        assert sorted(r.path.split("/")[-2] for r in pauses_of(stack, paused)) == sorted(paused)


def test_undo_minutes_zero_offers_no_pause_all_again(loop, tmp_path):
    with fresh_database("sqlite", tmp_path) as database_url:
        stack = start_stack(loop, tmp_path, DATABASE_URL=database_url, UNDO_MINUTES="0", **SETTINGS)
        try:
            stack.truedy.add(KEY_BOT_TEAM, campaign("batch_noundo01"))
            payload, _ = stack.command("resume-all", channel_id=CHANNEL, user_id="U0ALICE01")
            offer = stack.private_reply(payload)
            click = stack.slack.click_private(offer, "resume_all", CHANNEL, user_id="U0ALICE01")
            stack.slack.wait_ack(stack.slack.push("interactive", click))
            summary = wait_until(
                lambda: [c for c in stack.slack.posts_in(CHANNEL) if "Resume all finished" in c.params["text"]],
                30,
                "the summary",
            )[0]
            assert "pause_all_again" not in json.dumps(summary.params["blocks"])
        finally:
            stop_stack(stack)


def test_a_workspace_without_its_key_keeps_the_offer_for_when_it_is_back(stack):
    paused, _, summary_ts = resumed_all(stack, count=2, running=0)
    engine = storage.connect(stack.database_url)
    workspaces = storage.workspaces
    try:
        with engine.begin() as connection:
            (sealed,) = connection.execute(
                select(workspaces.c.api_key_encrypted).where(workspaces.c.team_id == BOT_TEAM)
            ).one()
            connection.execute(
                update(workspaces).where(workspaces.c.team_id == BOT_TEAM).values(api_key_encrypted=None)
            )
        click = stack.slack.click(CHANNEL, summary_ts, user_id="U0BOB0001", action_id="pause_all_again")
        stack.slack.wait_ack(stack.slack.push("interactive", click))
        told = wait_until(lambda: stack.slack.responses_to(click), 10, "the clicker told")[0].params
        assert "not connected to Truedy" in told["text"]
        assert pause_button(stack, summary_ts) is not None and pauses_of(stack, paused) == []
    finally:
        with engine.begin() as connection:
            connection.execute(
                update(workspaces).where(workspaces.c.team_id == BOT_TEAM).values(api_key_encrypted=sealed)
            )
        engine.dispose()
    again = stack.slack.click(CHANNEL, summary_ts, user_id="U0BOB0001", action_id="pause_all_again")
    stack.slack.wait_ack(stack.slack.push("interactive", again))
    wait_until(lambda: len(pauses_of(stack, paused)) == 2, 30, "both paused once the key is back")
