"""Scheduled resumes through the real worker: `/resume-campaign <id> at 9:00`, Cancel, `scheduled`, and the
schedule running at its time as a click would, once, across restarts and processes."""

import itertools
import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from bot import storage
from bot.storage import scheduled_resumes
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.e2e.test_two_workers import two_workers_on
from tests.fakes.databases import KINDS
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign
from tests.fakes.worker import WorkerProcess

_numbers = itertools.count(1)


def new_campaign(stack) -> str:
    campaign_id = f"batch_sched{next(_numbers):05d}"
    stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
    return campaign_id


def scheduled_message(stack, channel: str, campaign_id: str):
    said = f"scheduled `{campaign_id}` to resume"
    return wait_until(
        lambda: [c for c in stack.slack.posts_in(channel) if said in c.params["text"]], 10, "the scheduled message"
    )[0]


def make_due(stack, campaign_id: str, ago: timedelta = timedelta(0)) -> None:
    """As if its time had come `ago` ago (the worker is not told: it finds it due by itself)."""
    engine = storage.connect(stack.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                update(scheduled_resumes)
                .where(scheduled_resumes.c.campaign_id == campaign_id)
                .values(due_at=datetime.now(UTC) - ago, try_at=datetime.now(UTC) - ago)
            )
    finally:
        engine.dispose()


def resumes_of(stack, campaign_id: str) -> list:
    return [r for r in stack.truedy.resumes() if f"/{campaign_id}/" in r.path]


def final_text(stack, channel: str, ts: str) -> str:
    return stack.slack.messages[(channel, ts)]["text"]


@pytest.fixture(scope="module")
def stack(loop, tmp_path_factory):
    running = start_stack(loop, tmp_path_factory.mktemp("schedules"))
    yield running
    stop_stack(running)


def test_a_schedule_in_another_time_zone_runs_at_that_instant_as_a_click_would(stack):
    """`at HH:MM` read in the requester's own time zone (Tokyo here), resumed at that instant: announced,
    the result in the message's thread, audited as scheduled."""
    stack.slack.time_zones["U0TOKYO01"] = "Asia/Tokyo"
    campaign_id, channel = new_campaign(stack), "C0SCHED01"
    now = datetime.now(ZoneInfo("Asia/Tokyo"))
    due = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if due - now < timedelta(seconds=8):  # time to schedule it before it comes
        due += timedelta(minutes=1)
    _, ack = stack.command(f"{campaign_id} at {due:%H:%M}", channel_id=channel, user_id="U0TOKYO01")
    assert ack.payload in (None, {})

    message = scheduled_message(stack, channel, campaign_id)
    assert f"<!date^{int(due.timestamp())}^" in message.params["text"]  # the instant, shown in each reader's zone
    assert message.params["blocks"][0]["accessory"]["text"]["text"] == "Cancel"
    assert resumes_of(stack, campaign_id) == []

    (resume,) = wait_until(lambda: resumes_of(stack, campaign_id), 90, "the scheduled resume")
    sent_at = resume.at + (time.time() - time.monotonic())
    assert due.timestamp() <= sent_at < due.timestamp() + 3
    ts = message.answer["ts"]
    reply = wait_until(
        lambda: [c for c in stack.slack.posts_in(channel) if c.params.get("thread_ts") == ts], 10, "the result"
    )[0]
    assert f"`{campaign_id}` is resumed" in reply.params["text"]
    wait_until(lambda: "it was resumed" in final_text(stack, channel, ts), 10, "the final state")
    assert "Cancel" not in str(stack.slack.messages[(channel, ts)]["blocks"])
    history, _ = stack.command(f"history {campaign_id}")
    assert "schedule" in stack.private_reply(history)["text"]


def test_a_schedule_for_a_campaign_no_longer_paused_ends_saying_so(stack):
    campaign_id, channel = new_campaign(stack), "C0SCHED02"
    stack.command(f"{campaign_id} in 2h", channel_id=channel)
    ts = scheduled_message(stack, channel, campaign_id).answer["ts"]
    stack.truedy.set_status(KEY_BOT_TEAM, campaign_id, "active")  # resumed in the dashboard meanwhile
    make_due(stack, campaign_id)
    wait_until(lambda: "nothing was resumed" in final_text(stack, channel, ts), 15, "the ending")
    assert "but it is already running: nothing was resumed" in final_text(stack, channel, ts)


def test_cancel_stops_it_and_only_for_who_may_resume(stack):
    campaign_id, channel = new_campaign(stack), "C0SCHED03"
    stack.command(f"{campaign_id} tomorrow 9:00", channel_id=channel, user_id="U0BOB0001")
    message = scheduled_message(stack, channel, campaign_id)
    ts = message.answer["ts"]

    listed, _ = stack.command("scheduled", channel_id=channel)
    listing = stack.private_reply(listed)
    assert f"`{campaign_id}`" in str(listing["blocks"]) and "scheduled by <@U0BOB0001>" in str(listing["blocks"])

    stack.slack.admins.add("U0ADMIN01")
    values = {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": ["U0BOB0001"]}}}
    stack.run_setup(BOT_TEAM, values)
    try:
        mallory = stack.slack.click(channel, ts, user_id="U0MALLORY", action_id="cancel_scheduled_resume")
        stack.slack.wait_ack(stack.slack.push("interactive", mallory))
        refused = wait_until(lambda: stack.slack.responses_to(mallory), 10, "the refusal")[0]
        assert refused.params["text"].startswith(":lock: Only <@U0BOB0001> may resume")
        assert "Cancel" in str(stack.slack.messages[(channel, ts)]["blocks"])  # still scheduled

        bob = stack.slack.click(channel, ts, user_id="U0BOB0001", action_id="cancel_scheduled_resume")
        stack.slack.wait_ack(stack.slack.push("interactive", bob))
        wait_until(lambda: "cancelled the resume" in final_text(stack, channel, ts), 10, "the cancelled state")
    finally:
        values = {"allowed_users": {"value": {"type": "multi_users_select", "selected_users": []}}}
        stack.run_setup(BOT_TEAM, values)
    assert f"<@U0BOB0001> cancelled the resume of `{campaign_id}`" in final_text(stack, channel, ts)
    listed, _ = stack.command("scheduled", channel_id=channel)
    assert f"`{campaign_id}`" not in str(stack.private_reply(listed).get("blocks"))
    # Its time comes with another's: once the other ran, the cancelled one would have too.
    witness = new_campaign(stack)
    stack.command(f"{witness} in 2h", channel_id=channel)
    scheduled_message(stack, channel, witness)
    make_due(stack, campaign_id)
    make_due(stack, witness)
    wait_until(lambda: resumes_of(stack, witness), 15, "the other schedule")
    assert resumes_of(stack, campaign_id) == []


@pytest.mark.parametrize(
    "typed, said",
    [
        ("at 25:00", "`25:00` is not a time of day"),
        ("2020-01-01 9:00", "that time has already passed"),
        ("in 2 fortnights", "`fortnights` is not a unit"),
    ],
)
def test_a_time_that_cannot_be_scheduled_is_refused_and_nothing_is_kept(stack, typed, said):
    campaign_id = new_campaign(stack)
    payload, _ = stack.command(f"{campaign_id} {typed}", channel_id="C0SCHED04")
    reply = stack.private_reply(payload)["text"]
    assert said in reply and "Nothing was scheduled" in reply
    listed, _ = stack.command("scheduled")
    assert campaign_id not in str(stack.private_reply(listed))


def test_a_schedule_due_while_the_bot_was_down_runs_once_at_the_next_start_and_says_it_is_late(loop, tmp_path):
    stack = start_stack(loop, tmp_path)
    try:
        campaign_id, channel = new_campaign(stack), "C0SCHED05"
        stack.command(f"{campaign_id} in 2h", channel_id=channel)
        ts = scheduled_message(stack, channel, campaign_id).answer["ts"]
        stack.worker.terminate()
        make_due(stack, campaign_id, ago=timedelta(minutes=12))
        stack.worker = WorkerProcess(stack.env, tmp_path)
        stack.worker.wait_started(stack.slack)
        wait_until(lambda: "it was resumed" in final_text(stack, channel, ts), 15, "the late resume")
        assert re.search(r"It ran about 1[12] min late: the bot was not running", final_text(stack, channel, ts))
        assert len(resumes_of(stack, campaign_id)) == 1
    finally:
        stop_stack(stack)


@pytest.mark.parametrize("kind", KINDS)
def test_two_processes_run_each_schedule_once(loop, tmp_path, kind):
    with two_workers_on(loop, tmp_path, kind) as (stack, _second):
        campaigns = [new_campaign(stack) for _ in range(12)]
        for campaign_id in campaigns:
            stack.command(f"{campaign_id} in 2h", channel_id="C0SCHED06")
        for campaign_id in campaigns:
            scheduled_message(stack, "C0SCHED06", campaign_id)
        for campaign_id in campaigns:
            make_due(stack, campaign_id)
        wait_until(lambda: len(stack.truedy.resumes()) >= len(campaigns), 20, "every scheduled resume")
        assert sorted(r.path.split("/")[-2] for r in stack.truedy.resumes()) == sorted(campaigns)


def test_an_alerts_later_menu_schedules_it_in_the_alerts_thread_in_the_clickers_time_zone(stack):
    stack.slack.time_zones["U0BOB0001"] = "Europe/Paris"
    campaign_id, channel = new_campaign(stack), "C0SCHED07"
    alert_ts = stack.post_alert(campaign_id, channel)
    tomorrow = datetime.now(ZoneInfo("Europe/Paris")) + timedelta(days=1)
    due = tomorrow.replace(hour=9, minute=0, second=0, microsecond=0)

    click = stack.slack.click(channel, alert_ts, user_id="U0BOB0001", action_id="resume_later", option=0)
    assert stack.slack.wait_ack(stack.slack.push("interactive", click)).payload in (None, {})
    message = scheduled_message(stack, channel, campaign_id)
    assert message.params["thread_ts"] == alert_ts
    assert f"<!date^{int(due.timestamp())}^" in message.params["text"]

    make_due(stack, campaign_id)
    reply = wait_until(
        lambda: [c for c in stack.slack.posts_in(channel) if "is resumed" in c.params.get("text", "")], 15, "the result"
    )[0]
    assert reply.params["thread_ts"] == alert_ts
    assert len(resumes_of(stack, campaign_id)) == 1


def test_schedules_that_meet_truedys_rate_limit_wait_for_it_and_then_resume(loop, tmp_path):
    stack = start_stack(loop, tmp_path)
    try:
        stack.truedy.rate_limit, stack.truedy.rate_window = 1, 3.0  # one resume per key every 3 s
        campaigns = [new_campaign(stack) for _ in range(2)]
        for campaign_id in campaigns:
            stack.command(f"{campaign_id} in 2h", channel_id="C0SCHED08")
        messages = {c: scheduled_message(stack, "C0SCHED08", c).answer["ts"] for c in campaigns}
        for campaign_id in campaigns:
            make_due(stack, campaign_id)
        waited = wait_until(
            lambda: [c for c, ts in messages.items() if "tried again" in final_text(stack, "C0SCHED08", ts)],
            15,
            "a schedule waiting for the rate limit",
        )
        assert "limit of requests for this workspace's key was reached" in final_text(
            stack, "C0SCHED08", messages[waited[0]]
        )
        for ts in messages.values():
            wait_until(lambda ts=ts: "it was resumed" in final_text(stack, "C0SCHED08", ts), 20, "both resumed")
        assert len(stack.truedy.rate_limited()) >= 1
    finally:
        stop_stack(stack)


def test_a_restart_at_a_busy_minute_loses_no_schedule_and_calls_unknown_only_what_was_sent(loop, tmp_path):
    """30 schedules due at once; Truedy works on two resumes at a time, 3 s each; Slack takes 1.5 s to post or
    update; SIGTERM 2 s after their time, then a restart. Each campaign gets exactly one resume request within
    30 s of the restart, and none that was never sent is said to be unknown."""
    stack = start_stack(loop, tmp_path, TRUEDY_READ_TIMEOUT="20")  # a queue at Truedy is slow, not silent
    try:
        campaigns = [new_campaign(stack) for _ in range(30)]
        for campaign_id in campaigns:
            stack.command(f"{campaign_id} in 2h", channel_id="C0BUSY001")
        for campaign_id in campaigns:
            scheduled_message(stack, "C0BUSY001", campaign_id)
        stack.truedy.delay, stack.truedy.resumes_at_once = 3.0, 2  # two at a time, each 3 s
        stack.slack.slow = {"chat.postMessage": 1.5, "chat.update": 1.5}
        due = time.monotonic() + 2
        for campaign_id in campaigns:
            make_due(stack, campaign_id, ago=timedelta(seconds=-2))
        wait_until(lambda: time.monotonic() >= due + 2, 10, "2 s after their time")  # the scenario's moment
        assert stack.worker.terminate() == 0
        sent_before = {r.path.split("/")[-2] for r in stack.truedy.resumes()}
        assert len(sent_before) < len(campaigns)  # the point: most were still waiting their turn

        stack.worker = WorkerProcess(stack.env, tmp_path)
        stack.worker.wait_started(stack.slack)
        restarted = time.monotonic()
        wait_until(
            lambda: {r.path.split("/")[-2] for r in stack.truedy.resumes()} >= set(campaigns),
            30,
            "every campaign's resume request",
        )
        assert time.monotonic() - restarted < 30
        requests = sorted(r.path.split("/")[-2] for r in stack.truedy.resumes())
        assert requests == sorted(campaigns)  # exactly one each: nothing lost, nothing sent twice
        for campaign_id in set(campaigns) - sent_before:
            shown = [
                c.params.get("text") or ""
                for c in stack.slack.calls
                if c.params.get("channel") == "C0BUSY001" and f"`{campaign_id}`" in (c.params.get("text") or "")
            ]
            assert not any("may have resumed" in text or "unknown" in text for text in shown), shown
    finally:
        stop_stack(stack)


@pytest.mark.parametrize("kind", KINDS)
def test_two_people_scheduling_one_campaign_at_the_same_instant_on_two_workers_make_one_schedule(loop, tmp_path, kind):
    with two_workers_on(loop, tmp_path, kind) as (stack, _second):
        for round_number in range(20):
            campaign_id = new_campaign(stack)
            alice = stack.slack.slash_command(f"{campaign_id} in 2h", user_id="U0ALICE01", channel_id="C0RACE001")
            bob = stack.slack.slash_command(f"{campaign_id} in 3h", user_id="U0BOB0001", channel_id="C0RACE001")
            first = stack.slack.push("slash_commands", alice, connection=0)
            second = stack.slack.push("slash_commands", bob, connection=1)
            stack.slack.wait_ack(first), stack.slack.wait_ack(second)
            told = wait_until(
                lambda a=alice, b=bob: stack.slack.responses_to(a) + stack.slack.responses_to(b), 10, "the second told"
            )
            assert len(told) == 1 and "already scheduled to resume" in told[0].params["text"], round_number
            assert "To change the time, cancel that one first" in told[0].params["text"]
            scheduled_message(stack, "C0RACE001", campaign_id)
        listed, _ = stack.command("scheduled")
        assert stack.private_reply(listed)["text"].startswith(":calendar: 20 scheduled resumes")
        announced = [c for c in stack.slack.posts_in("C0RACE001") if "scheduled `" in c.params["text"]]
        assert len(announced) == 20
