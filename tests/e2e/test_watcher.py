"""The worker notices paused campaigns by itself: one alert per pause, kept up to date."""

from urllib.parse import parse_qs

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, KEY_OTHER_TEAM, start_installations_stack, start_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_USER
from tests.fakes.truedy import Scripted, campaign
from tests.fakes.worker import WorkerProcess

CHANNEL = "C0WATCH01"
WATCHED = {"ALERT_CHANNEL": CHANNEL, "PAUSED_POLL_SECONDS": "1", "TRUEDY_DASHBOARD_URL": "https://t.test/c/{id}"}
LIST = "/api/public/v1/batch-calls"


@pytest.fixture
def watching(loop, tmp_path):
    stack = start_stack(loop, tmp_path, **WATCHED)
    yield stack
    stop_stack(stack)


def alerts_in(stack, channel=CHANNEL):
    return [c for c in stack.slack.posts_in(channel) if c.answer.get("ok") and "thread_ts" not in c.params]


def alerted_ids(stack) -> list[str]:
    return [
        e["value"]
        for c in alerts_in(stack)
        for b in c.params["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == "resume_campaign"
    ]


def wait_polls(stack, count: int) -> None:
    """Until `count` more complete polls (first pages) have reached Truedy."""
    start = len([r for r in stack.truedy.lists() if "offset=0" in r.query])
    wait_until(
        lambda: len([r for r in stack.truedy.lists() if "offset=0" in r.query]) >= start + count,
        15,
        f"{count} more polls",
    )


def test_every_paused_campaign_is_alerted_once_across_pages_polls_and_restarts(loop, tmp_path):
    stack = start_stack(loop, tmp_path, **{**WATCHED, "PAUSED_POLL_SECONDS": "3600"})
    try:
        paused = [campaign(f"batch_page{n:04d}") for n in range(150)]
        running = [campaign(f"batch_run{n:05d}", status="running") for n in range(20)]
        stack.truedy.add(KEY_BOT_TEAM, *paused, *running)
        stack.worker.terminate()
        stack.worker = WorkerProcess({**stack.env, "PAUSED_POLL_SECONDS": "1"}, tmp_path)
        stack.worker.wait_started(stack.slack)

        # So many at once make one digest (tests/e2e/test_digests.py), which counts them all.
        digest = wait_until(lambda: alerts_in(stack), 30, "the digest")[0]
        wait_polls(stack, 3)
        assert len(alerts_in(stack)) == 1
        assert digest.params["blocks"][0]["text"]["text"].startswith(":double_vertical_bar: *150 campaigns paused*")
        queries = [parse_qs(r.query) for r in stack.truedy.lists()]
        assert all(q["status"] == ["paused"] and q["limit"] == ["100"] for q in queries)
        assert {q["offset"][0] for q in queries} == {"0", "100"}
        assert {r.authorization for r in stack.truedy.lists()} == {f"Bearer {KEY_BOT_TEAM}"}

        stack.worker.terminate()
        stack.worker = WorkerProcess({**stack.env, "PAUSED_POLL_SECONDS": "1"}, tmp_path)
        stack.worker.wait_started(stack.slack)
        wait_polls(stack, 2)
        assert len(alerts_in(stack)) == 1
    finally:
        stop_stack(stack)


def test_an_alert_follows_its_campaign_and_a_new_pause_gets_a_new_alert(watching):
    stack = watching
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_life0001"), campaign("batch_gone0001"))
    wait_until(lambda: len(alerts_in(stack)) == 2, 10, "the alerts")
    first = next(c for c in alerts_in(stack) if "batch_life0001" in c.params["text"])

    stack.truedy.set_status(KEY_BOT_TEAM, "batch_life0001", "running")  # resumed from the dashboard
    stack.truedy.remove(KEY_BOT_TEAM, "batch_gone0001")
    updates = wait_until(
        lambda: [c.params for c in stack.slack.calls_to("chat.update") if c.params["ts"] == first.answer["ts"]],
        10,
        "the alert's update",
    )
    state = next(b["text"]["text"] for b in updates[0]["blocks"] if b.get("block_id") == "campaign_state")
    assert state.startswith(":information_source: *Not paused any more:* it is running again (seen <!date^")
    buttons = [e["action_id"] for b in updates[0]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons == ["open_in_truedy"]
    gone = wait_until(
        lambda: [
            c.params for c in stack.slack.calls_to("chat.update") if "no longer exists in Truedy" in c.params["text"]
        ],
        10,
        "the gone alert",
    )
    assert len(gone) == 1

    wait_polls(stack, 2)
    assert len(updates) == 1 and len(alerts_in(stack)) == 2  # once each

    stack.truedy.set_status(KEY_BOT_TEAM, "batch_life0001", "paused")  # paused again
    wait_until(lambda: len(alerts_in(stack)) == 3, 10, "a new alert for the new pause")
    assert alerted_ids(stack).count("batch_life0001") == 2

    # A poll logs a line of its own only when it changed something; a summary counts them all.
    def poll_lines_once_three_posted():
        lines = stack.worker.logged("polled")
        return lines if sum(line["alerts_posted"] for line in lines) == 3 else None

    # The poll that posted the third alert writes its line once it is posted.
    changed = wait_until(poll_lines_once_three_posted, 10, "the poll lines of three alerts")
    assert sum(line["alerts_closed"] for line in changed) == 2
    assert all(line["alerts_posted"] or line["alerts_closed"] for line in changed)
    summaries = wait_until(lambda: stack.worker.logged("polls_summary"), 10, "a summary of the polls")
    assert sum(line.get("polls", 0) for line in summaries) > len(changed)


def test_an_alert_resumed_with_its_button_is_not_rewritten_by_the_watcher(watching):
    stack = watching
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_click001"))
    alert = wait_until(lambda: alerts_in(stack), 10, "the alert")[0]
    click = stack.slack.click(CHANNEL, alert.answer["ts"], user_id="U0BOB0001")
    stack.slack.wait_ack(stack.slack.push("interactive", click))
    wait_until(
        lambda: len([c for c in stack.slack.calls_to("chat.update") if c.params["ts"] == alert.answer["ts"]]) >= 2,
        10,
        "the click's updates",
    )
    wait_polls(stack, 3)
    updates = [c.params for c in stack.slack.calls_to("chat.update") if c.params["ts"] == alert.answer["ts"]]
    assert len(updates) == 2
    assert "*Resumed* by <@U0BOB0001>" in updates[-1]["text"]


def test_a_rate_limited_list_waits_for_the_reset_while_resumes_still_work(watching):
    stack = watching
    wait_polls(stack, 1)
    stack.truedy.script(
        Scripted(
            429,
            {"error": {"code": "rate_limit_exceeded", "message": "Too many requests"}},
            headers={"Retry-After": "4"},
            path=LIST,
        )
    )
    limited = wait_until(lambda: [r for r in stack.truedy.lists() if r.scripted], 5, "the 429")
    limited_at = limited[0].at
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_after429"), campaign("batch_user0429"))

    stack.command("batch_user0429", channel_id="C0USER429")
    _, reply, _ = stack.result_in_thread("C0USER429", "batch_user0429")
    assert "is resumed" in reply.params["text"]

    wait_until(lambda: "batch_after429" in alerted_ids(stack), 15, "the alert after the reset")
    next_list = next(r for r in stack.truedy.lists() if r.at > limited_at)
    assert next_list.at - limited_at >= 3.5


def test_polling_waits_while_someone_is_resuming(watching):
    stack = watching
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_slow0001"))
    wait_until(lambda: alerts_in(stack), 10, "the alert")
    stack.truedy.script(Scripted(delay=3, contract=True, path=f"{LIST}/batch_slow0001/resume"))
    stack.command("batch_slow0001", channel_id="C0SLOW001")
    started = wait_until(lambda: [r for r in stack.truedy.resumes() if "batch_slow0001" in r.path], 5, "the resume")
    stack.result_in_thread("C0SLOW001", "batch_slow0001")
    finished = stack.slack.posts_in("C0SLOW001")[-1].at
    # A poll that had already started may still send its list just after; none starts during the resume.
    assert [r for r in stack.truedy.lists() if started[0].at + 0.2 < r.at < finished - 0.1] == []
    wait_polls(stack, 1)  # and polling goes on afterwards


def channel_choice(channel: str) -> dict:
    return {"alert_channel": {"value": {"type": "conversations_select", "selected_conversation": channel}}}


def test_a_channel_slack_refuses_costs_one_post_the_admin_is_told_and_a_new_setup_resumes_alerts(loop, tmp_path):
    stack = start_stack(loop, tmp_path, PAUSED_POLL_SECONDS="1")
    try:
        stack.slack.admins.add("U0ADMIN01")
        stack.slack.fail("chat.postMessage", "not_in_channel", channel="G0PRIVATE1", times=1000)
        stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_held{n:04d}") for n in range(3)))
        _, ack = stack.run_setup("T0BOT0001", channel_choice("G0PRIVATE1"))
        assert ack.payload in (None, {})

        told = wait_until(lambda: stack.slack.posts_in("U0ADMIN01"), 15, "a DM to the admin who set it up")
        assert "can't post paused-campaign alerts in <#G0PRIVATE1>" in told[0].params["text"]
        assert "`not_in_channel`" in told[0].params["text"]
        assert f"Invite <@{BOT_USER}> to the channel" in told[0].params["text"]
        wait_until(lambda: len(stack.worker.logged("alerts_on_hold")) >= 3, 15, "three polls on hold")
        assert len(stack.slack.posts_in("G0PRIVATE1")) == 1  # one refusal, not one per campaign per poll
        assert len(stack.slack.posts_in("U0ADMIN01")) == 1

        payload, _ = stack.command("status")
        assert (
            "Alerts are on hold: Slack refused them in <#G0PRIVATE1> (`not_in_channel`)"
            in (stack.private_reply(payload)["text"])
        )

        stack.run_setup("T0BOT0001", channel_choice("C0PUBLIC01"))
        wait_until(lambda: len(alerts_in(stack, "C0PUBLIC01")) == 3, 15, "the alerts in the new channel")
        assert len(stack.slack.posts_in("G0PRIVATE1")) == 1
    finally:
        stop_stack(stack)


def test_one_workspace_waiting_on_truedy_does_not_delay_another_workspaces_alerts(loop, tmp_path):
    """Two installed workspaces, each with its own key, alert channel and bot token."""
    stack = start_installations_stack(loop, tmp_path, PAUSED_POLL_SECONDS="1", TRUEDY_READ_TIMEOUT="20")
    try:
        stack.slack.admins.add("U0ADMIN01")
        for team, key, channel in (("T0SLOW001", KEY_BOT_TEAM, CHANNEL), ("T0QUICK01", KEY_OTHER_TEAM, "C0OTHER01")):
            stack.install(team)
            stack.truedy.add(key)  # an account with no campaign yet
            values = {
                "api_key": {"value": {"type": "plain_text_input", "value": key}},
                "alert_channel": {"value": {"type": "conversations_select", "selected_conversation": channel}},
            }
            _, ack = stack.run_setup(team, values)
            assert ack.payload in (None, {})
        stack.truedy.script(Scripted(hang=True, path=LIST, api_key=KEY_BOT_TEAM))
        wait_until(lambda: stack.truedy.in_flight_by_key.get(f"Bearer {KEY_BOT_TEAM}"), 15, "the slow team's poll")
        stack.truedy.add(KEY_OTHER_TEAM, campaign("batch_other001"))
        (alert,) = wait_until(lambda: alerts_in(stack, "C0OTHER01"), 10, "the other workspace's alert")
        assert alert.token in stack.slack.tokens_of("T0QUICK01")
        assert stack.truedy.in_flight_by_key[f"Bearer {KEY_BOT_TEAM}"] == 1  # still waiting on Truedy meanwhile
    finally:
        stop_stack(stack)


def test_slack_asking_the_watcher_to_slow_down_does_not_stall_it(watching):
    stack = watching
    stack.slack.fail("chat.postMessage", "ratelimited", channel=CHANNEL, retry_after=60)
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_slow0001"), campaign("batch_slow0002"))
    # Not a 60 s sleep in the watcher: the next poll posts both alerts.
    wait_until(lambda: len(alerts_in(stack)) == 2, 15, "both alerts")
    assert stack.slack.posts_in(CHANNEL)[0].answer.get("error") == "ratelimited"
