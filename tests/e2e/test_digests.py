"""Many campaigns paused at once: one digest message instead of an alert each, whose rows follow their
campaigns, with a Resume button each for the first ones and Resume all for the lot."""

import pytest

from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.loop import wait_until
from tests.fakes.truedy import campaign

CHANNEL = "C0DIGEST1"
WATCHED = {"ALERT_CHANNEL": CHANNEL, "PAUSED_POLL_SECONDS": "1"}


@pytest.fixture
def watching(loop, tmp_path):
    stack = start_stack(loop, tmp_path, **WATCHED)
    yield stack
    stop_stack(stack)


def top_level_posts(stack):
    return [c for c in stack.slack.posts_in(CHANNEL) if c.answer.get("ok") and "thread_ts" not in c.params]


def polls(stack) -> int:
    return len([r for r in stack.truedy.lists() if "offset=0" in r.query])


def digest_now(stack, ts: str) -> dict:
    return stack.slack.messages[(CHANNEL, ts)]


def buttons(message: dict, action_id: str) -> list[dict]:
    return [
        element
        for block in message["blocks"]
        for element in (block.get("elements", []) if block["type"] == "actions" else [block.get("accessory")])
        if element and element.get("action_id") == action_id
    ]


def test_forty_new_pauses_make_one_digest_whose_rows_follow_their_campaigns(watching):
    stack = watching
    names = [f"Wave *{n}* <east>" for n in range(40)]
    stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_dig{n:05d}", name=names[n]) for n in range(40)))
    posted = wait_until(lambda: top_level_posts(stack), 15, "the digest")[0]
    ts = posted.answer["ts"]
    message = posted.params
    assert len(message["blocks"]) <= 50
    assert message["blocks"][0]["text"]["text"].startswith(":double_vertical_bar: *40 campaigns paused*")
    rows = buttons(message, "resume_digested")
    assert [b["value"] for b in rows] == [f"batch_dig{n:05d}" for n in range(10)]
    assert "…and 30 more: `/resume-campaign list`" in str(message["blocks"])
    assert "&lt;east&gt;" in str(message["blocks"])
    assert "<east>" not in str(message["blocks"])
    (resume_all,) = buttons(message, "resume_all")
    assert resume_all["text"]["text"] == "Resume all 40"
    assert resume_all["confirm"]["title"]["text"] == "Resume 40 campaigns?"

    # Alerted once: later polls post nothing more for the same pauses.
    seen = polls(stack)
    wait_until(lambda: polls(stack) >= seen + 2, 15, "two more polls")
    assert len(top_level_posts(stack)) == 1

    # One resumed from the dashboard (and not among the rows shown): the digest's counts say so.
    stack.truedy.set_status(KEY_BOT_TEAM, "batch_dig00039", "running")
    wait_until(
        lambda: "39 still paused · 1 not paused any more" in str(digest_now(stack, ts)["blocks"]),
        15,
        "the digest to count it",
    )

    # One resumed from its row: the result in the digest's thread, the row says who.
    click = stack.slack.click(
        CHANNEL, ts, user_id="U0BOB0001", action_id="resume_digested", button_value="batch_dig00003"
    )
    stack.slack.wait_ack(stack.slack.push("interactive", click))
    reply = wait_until(
        lambda: [c for c in stack.slack.posts_in(CHANNEL) if c.params.get("thread_ts") == ts], 15, "the result"
    )[0]
    assert "batch_dig00003" in reply.params["text"] and "is resumed" in reply.params["text"]
    wait_until(
        lambda: "38 still paused · 1 resumed · 1 not paused any more" in str(digest_now(stack, ts)["blocks"]),
        15,
        "the row's new state",
    )
    now = digest_now(stack, ts)
    row = next(b for b in now["blocks"] if "`batch_dig00003`" in b.get("text", {}).get("text", ""))
    assert "*Resumed* by <@U0BOB0001>" in row["text"]["text"] and "accessory" not in row
    assert [b["value"] for b in buttons(now, "resume_digested")] == [f"batch_dig{n:05d}" for n in range(10) if n != 3]
    assert buttons(now, "resume_all")[0]["text"]["text"] == "Resume all 38"
    assert [r.authorization for r in stack.truedy.resumes()] == [f"Bearer {KEY_BOT_TEAM}"]

    # A few new pauses later: alerts of their own again.
    stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_few{n:05d}") for n in range(3)))
    wait_until(lambda: len(top_level_posts(stack)) == 4, 15, "three alerts")
    assert all("resume_campaign" in str(c.params["blocks"]) for c in top_level_posts(stack)[1:])


def test_a_digest_rows_later_menu_schedules_that_campaign_in_the_digests_thread(watching):
    stack = watching
    stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_dlt{n:05d}", name=f"Later {n}") for n in range(8)))
    ts = wait_until(lambda: top_level_posts(stack), 15, "the digest")[0].answer["ts"]
    (menu, *_) = buttons(digest_now(stack, ts), "resume_later")
    assert [o["text"]["text"] for o in menu["options"]] == [
        "Resume at 9:00 tomorrow",
        "Resume in 1 hour",
        "Pick a time…",
    ]
    click = stack.slack.click(CHANNEL, ts, user_id="U0BOB0001", action_id="resume_later", option=1)
    stack.slack.wait_ack(stack.slack.push("interactive", click))
    scheduled = wait_until(
        lambda: [
            c for c in stack.slack.posts_in(CHANNEL) if "scheduled `batch_dlt00000` to resume" in c.params["text"]
        ],
        10,
        "the scheduled message",
    )[0]
    assert scheduled.params["thread_ts"] == ts
    listed, _ = stack.command("scheduled", channel_id=CHANNEL)
    assert "`batch_dlt00000`" in str(stack.private_reply(listed)["blocks"])


def test_a_digest_rows_resume_offers_pause_again_in_the_thread_and_the_row_is_paused_again(watching):
    stack = watching
    stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_dpa{n:05d}", name=f"Undo {n}") for n in range(8)))
    ts = wait_until(lambda: top_level_posts(stack), 15, "the digest")[0].answer["ts"]
    click = stack.slack.click(
        CHANNEL, ts, user_id="U0BOB0001", action_id="resume_digested", button_value="batch_dpa00002"
    )
    stack.slack.wait_ack(stack.slack.push("interactive", click))
    reply = wait_until(
        lambda: [c for c in stack.slack.posts_in(CHANNEL) if c.params.get("thread_ts") == ts], 15, "the result"
    )[0]
    reply_ts = reply.answer["ts"]
    offer = wait_until(lambda: buttons(stack.slack.messages[(CHANNEL, reply_ts)], "pause_again"), 10, "the offer")[0]
    assert offer["confirm"]["text"]["text"] == "Pause *Undo 2* again? Calls already placed finish."

    pause = stack.slack.click(CHANNEL, reply_ts, user_id="U0ALICE01", action_id="pause_again")
    stack.slack.wait_ack(stack.slack.push("interactive", pause))

    def row_paused_again():
        row = next(
            b for b in digest_now(stack, ts)["blocks"] if "`batch_dpa00002`" in b.get("text", {}).get("text", "")
        )
        return "*Paused again* by <@U0ALICE01>" in row["text"]["text"]

    wait_until(row_paused_again, 15, "the row paused again")
    assert "batch_dpa00002" in [b["value"] for b in buttons(digest_now(stack, ts), "resume_digested")]
    assert len([r for r in stack.truedy.pauses() if "/batch_dpa00002/" in r.path]) == 1
    assert buttons(stack.slack.messages[(CHANNEL, reply_ts)], "pause_again") == []
    # Still this pause's alert: the watcher posts nothing new for it.
    seen = polls(stack)
    wait_until(lambda: polls(stack) >= seen + 2, 15, "two more polls")
    assert len(top_level_posts(stack)) == 1
