"""Resume all: from a digest or `/resume-campaign resume-all`, one progress message updated in place, paced
to Truedy's rate limit, going on after a restart, cancellable, with a summary naming every failure."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from bot import storage
from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.truedy import Scripted, campaign
from tests.fakes.worker import WorkerProcess

CHANNEL = "C0RESALL1"
RESUME = "/api/public/v1/batch-calls/{}/resume"


def ids(count: int) -> list[str]:
    return [f"batch_ra{n:05d}" for n in range(count)]


def progress_message(stack, channel: str = CHANNEL):
    return wait_until(
        lambda: [
            c
            for c in stack.slack.posts_in(channel)
            if c.answer.get("ok")
            and "thread_ts" not in c.params
            and "Resuming all paused campaigns" in c.params["text"]
        ],
        15,
        "the progress message",
    )[0]


def summary_of(stack, ts: str, channel: str = CHANNEL, timeout: float = 60):
    return wait_until(
        lambda: [c.params for c in stack.slack.posts_in(channel) if c.params.get("thread_ts") == ts],
        timeout,
        "the summary",
    )


def resumes_of(stack) -> dict[str, list[int | None]]:
    """Each campaign's resume requests, by the status Truedy answered."""
    answered: dict[str, list[int | None]] = {}
    for request in stack.truedy.resumes():
        answered.setdefault(request.path.split("/")[-2], []).append(request.status)
    return answered


def resume_all_by_command(stack, user_id: str = "U0ALICE01", count: int = 130) -> str:
    """`resume-all`, then its confirmed button: the progress message's ts."""
    payload, ack = stack.command("resume-all", channel_id=CHANNEL, user_id=user_id)
    assert ack.payload is None  # counted after the ack
    offer = stack.private_reply(payload)
    (button,) = [e for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == f"Resume all {count}"
    assert button["confirm"]["title"]["text"] == f"Resume {count} campaigns?"
    click = stack.slack.click_private(offer, "resume_all", CHANNEL, user_id=user_id)
    stack.slack.wait_ack(stack.slack.push("interactive", click))
    started = wait_until(lambda: stack.slack.responses_to(click), 10, "the proposal's update")[0].params
    assert started["replace_original"] is True and f"<#{CHANNEL}>" in started["text"]
    return progress_message(stack).answer["ts"]


def test_resume_all_from_a_digest_paces_to_the_rate_limit_and_names_every_failure(loop, tmp_path):
    stack = start_stack(loop, tmp_path, ALERT_CHANNEL=CHANNEL, PAUSED_POLL_SECONDS="1", RESUME_ALL_PER_MINUTE="6000")
    try:
        stack.truedy.add(KEY_BOT_TEAM, *(campaign(c, name=f"Renewals {c[-3:]}") for c in ids(130)))
        digest = wait_until(lambda: stack.slack.posts_in(CHANNEL), 15, "the digest")[0]
        # Truedy's limit is hit midway (40 requests per 1.5 s here); two resumes fail; one campaign is being
        # resumed by someone else when its turn comes.
        stack.truedy.rate_limit, stack.truedy.rate_window = 40, 1.5
        failing = {"batch_ra00007", "batch_ra00008"}
        stack.truedy.script(
            *(
                Scripted(
                    500, {"error": {"code": "internal_error", "message": "Upstream exploded"}}, path=RESUME.format(c)
                )
                for c in failing
            )
        )
        engine = storage.connect(stack.database_url)
        now = datetime.now(UTC)
        with engine.begin() as connection:
            connection.execute(
                insert(storage.resume_locks).values(
                    enterprise_id="",
                    team_id="T0BOT0001",
                    campaign_id="batch_ra00011",
                    user_id="U0CAROL01",
                    owner="another-worker",
                    started_at=now,
                    expires_at=now + timedelta(minutes=5),
                )
            )
        engine.dispose()

        click = stack.slack.click(CHANNEL, digest.answer["ts"], action_id="resume_all", user_id="U0BOB0001")
        assert stack.slack.wait_ack(stack.slack.push("interactive", click)).payload is None
        ts = progress_message(stack).answer["ts"]
        summary = summary_of(stack, ts)
        assert len(summary) == 1
        text = str(summary[0]["blocks"])
        # A 500 is no clear answer: each may have resumed, and is neither counted nor named as failed.
        headline = "Resume all finished: Resumed 127 of 130 · 1 skipped · 0 failed · 2 may have resumed."
        assert summary[0]["text"] == headline
        for campaign_id in failing:
            assert f"`{campaign_id}`: may have resumed: Truedy had an internal error (HTTP 500)" in text, text
        assert "`batch_ra00011`: skipped: <@U0CAROL01> was resuming it at that moment" in text

        final = stack.slack.messages[(CHANNEL, ts)]
        assert final["text"].startswith(":white_check_mark: *Resume all finished* (started by <@U0BOB0001>)")
        assert "cancel_resume_all" not in str(final["blocks"])
        assert len([c for c in stack.slack.calls_to("chat.update") if c.params["ts"] == ts]) >= 2  # in place
        top_level = [c for c in stack.slack.posts_in(CHANNEL) if "thread_ts" not in c.params]
        assert [c.answer["ts"] for c in top_level] == [digest.answer["ts"], ts]

        answered = resumes_of(stack)
        assert "batch_ra00011" not in answered
        for campaign_id in ids(130):
            if campaign_id != "batch_ra00011":
                assert answered[campaign_id][-1] == (500 if campaign_id in failing else 201), campaign_id
                assert answered[campaign_id].count(201) <= 1
        # Every 429 was waited out: no resume left before the key's window reset.
        sent = stack.truedy.resumes()
        limited = [(i, r) for i, r in enumerate(sent) if r.status == 429]
        assert limited, "the rate limit was never reached"
        for i, refused in limited:
            if i + 1 < len(sent):
                assert sent[i + 1].at >= refused.window_resets_at - 0.01
        assert {r.authorization for r in sent} == {f"Bearer {KEY_BOT_TEAM}"}

        digest_now = stack.slack.messages[(CHANNEL, digest.answer["ts"])]
        assert "3 still paused · 127 resumed" in str(digest_now["blocks"])
        history, _ = stack.command("history", channel_id=CHANNEL)
        assert "resume_all · resumed" in stack.private_reply(history)["text"]
    finally:
        stop_stack(stack)


@pytest.fixture(params=KINDS)
def hundred_thirty(request, loop, tmp_path):
    """130 paused campaigns, resume all at 10 a second; on SQLite, and PostgreSQL when the tests have one."""
    with fresh_database(request.param, tmp_path) as database_url:
        stack = start_stack(loop, tmp_path, RESUME_ALL_PER_MINUTE="600", DATABASE_URL=database_url)
        stack.truedy.add(KEY_BOT_TEAM, *(campaign(c) for c in ids(130)))
        yield stack
        stop_stack(stack)


def test_resume_all_goes_on_after_a_restart_where_it_stopped(hundred_thirty, tmp_path):
    stack = hundred_thirty
    ts = resume_all_by_command(stack)
    wait_until(lambda: len(stack.truedy.resumes()) >= 30, 30, "30 resumes")
    assert stack.worker.terminate() == 0
    assert "restarting" in str(stack.slack.messages[(CHANNEL, ts)]["blocks"])
    stack.worker = WorkerProcess(stack.env, tmp_path)
    stack.worker.wait_started(stack.slack)

    summary = summary_of(stack, ts)
    assert [s["text"] for s in summary] == ["Resume all finished: Resumed 130 of 130 · 0 failed."]
    answered = resumes_of(stack)
    assert sorted(answered) == ids(130) and all(statuses == [201] for statuses in answered.values())
    assert stack.slack.messages[(CHANNEL, ts)]["text"].startswith(":white_check_mark: *Resume all finished*")


def test_resume_all_can_be_cancelled_and_says_what_was_not_tried(hundred_thirty):
    stack = hundred_thirty
    ts = resume_all_by_command(stack)
    wait_until(lambda: len(stack.truedy.resumes()) >= 5, 30, "5 resumes")
    click = stack.slack.click(CHANNEL, ts, action_id="cancel_resume_all", user_id="U0CAROL01")
    stack.slack.wait_ack(stack.slack.push("interactive", click))

    summary = summary_of(stack, ts)
    resumed = len(stack.truedy.resumes())
    assert resumed < 130
    assert summary[0]["text"] == (
        f"Resume all was cancelled: Resumed {resumed} of 130 · 0 failed · {130 - resumed} not tried."
    )
    assert f"The {130 - resumed} not tried are still paused" in str(summary[0]["blocks"])
    named = str(summary[0]["blocks"])
    assert all(f"`{c}`: not tried" in named for c in ids(130)[resumed:]), "every campaign not tried is named"
    final = stack.slack.messages[(CHANNEL, ts)]
    assert final["text"].startswith(":black_square_for_stop: *Resume all cancelled* by <@U0CAROL01>")
    # A second resume-all may start now that this one ended.
    payload, _ = stack.command("resume-all", channel_id=CHANNEL)
    assert f"*{130 - resumed} campaigns paused*" in stack.private_reply(payload)["text"]


def test_resume_all_by_command_shows_in_the_digest_and_the_alerts_of_what_it_resumed(loop, tmp_path):
    stack = start_stack(loop, tmp_path, ALERT_CHANNEL=CHANNEL, PAUSED_POLL_SECONDS="1", RESUME_ALL_PER_MINUTE="6000")
    try:
        stack.truedy.add(KEY_BOT_TEAM, campaign("batch_single01"))
        alert = wait_until(lambda: stack.slack.posts_in(CHANNEL), 15, "the alert")[0]
        stack.truedy.add(KEY_BOT_TEAM, *(campaign(c) for c in ids(8)))
        digest = wait_until(lambda: stack.slack.posts_in(CHANNEL)[1:], 15, "the digest")[0]
        assert digest.params["text"].startswith("8 campaigns paused")

        payload, _ = stack.command("resume-all", channel_id=CHANNEL, user_id="U0ALICE01")
        offer = stack.private_reply(payload)
        click = stack.slack.click_private(offer, "resume_all", CHANNEL, user_id="U0ALICE01")
        stack.slack.wait_ack(stack.slack.push("interactive", click))
        ts = progress_message(stack).answer["ts"]
        assert summary_of(stack, ts)[0]["text"] == "Resume all finished: Resumed 9 of 9 · 0 failed."

        wait_until(
            lambda: "0 still paused · 8 resumed" in stack.slack.messages[(CHANNEL, digest.answer["ts"])]["text"],
            15,
            "the digest's rows",
        )
        assert "*Resumed* by <@U0ALICE01>" in str(stack.slack.messages[(CHANNEL, digest.answer["ts"])]["blocks"])
        wait_until(
            lambda: (
                "Not paused any more:* it is running again"
                in stack.slack.messages[(CHANNEL, alert.answer["ts"])]["text"]
            ),
            15,
            "the alert's update",
        )
    finally:
        stop_stack(stack)


def test_a_key_truedy_rejects_stops_resume_all_at_the_first_campaign(loop, tmp_path):
    stack = start_stack(loop, tmp_path, RESUME_ALL_PER_MINUTE="6000")
    try:
        stack.truedy.add(KEY_BOT_TEAM, *(campaign(c) for c in ids(10)))
        revoked = {"error": {"code": "unauthorized", "message": "API key revoked"}}
        stack.truedy.script(Scripted(401, revoked, path=RESUME.format("batch_ra00000")))
        payload, _ = stack.command("resume-all", channel_id=CHANNEL)
        offer = stack.private_reply(payload)
        click = stack.slack.click_private(offer, "resume_all", CHANNEL)
        stack.slack.wait_ack(stack.slack.push("interactive", click))
        ts = progress_message(stack).answer["ts"]
        summary = summary_of(stack, ts)
        assert summary[0]["text"] == "Resume all stopped: Resumed 0 of 10 · 1 failed · 9 not tried."
        assert "`batch_ra00000`: failed: Truedy rejected this workspace's API key" in str(summary[0]["blocks"])
        assert stack.slack.messages[(CHANNEL, ts)]["text"].startswith(":octagonal_sign: *Resume all stopped*")
        assert len(stack.truedy.resumes()) == 1  # the other 9 would have failed the same way
    finally:
        stop_stack(stack)


def lease_of(engine) -> datetime:
    jobs = storage.metadata.tables["resume_all_jobs"]
    with engine.connect() as connection:
        return storage.utc(
            connection.execute(select(jobs.c.lease_expires_at).where(jobs.c.state == "running")).scalar()
        )


@pytest.mark.parametrize("kind", KINDS)
def test_a_pace_slower_than_the_lease_still_sends_each_campaign_once(kind, loop, tmp_path):
    """One resume a minute and a 2 s lease: the run waits a minute between campaigns, 30 leases long. Its
    lease is kept alive through the wait, so nobody (its own worker included) starts a second run."""
    with fresh_database(kind, tmp_path) as database_url:
        stack = start_stack(
            loop, tmp_path, RESUME_ALL_PER_MINUTE="1", RESUME_ALL_LEASE_SECONDS="2", DATABASE_URL=database_url
        )
        engine = storage.connect(database_url)
        try:
            stack.truedy.add(KEY_BOT_TEAM, *(campaign(c) for c in ids(3)))
            ts = resume_all_by_command(stack, count=3)
            wait_until(lambda: stack.truedy.resumes(), 10, "the first resume")
            first = lease_of(engine)
            wait_until(lambda: lease_of(engine) > first + timedelta(seconds=6), 20, "the lease renewed past 3 leases")
            assert len(stack.truedy.resumes()) == 1  # at 1 a minute, a second request now means a second runner
            assert len(stack.worker.logged("resume_all_running")) == 1

            click = stack.slack.click(CHANNEL, ts, action_id="cancel_resume_all", user_id="U0CAROL01")
            stack.slack.wait_ack(stack.slack.push("interactive", click))
            summary = summary_of(stack, ts, timeout=15)  # the minute's wait is cut short by Cancel
            assert summary[0]["text"] == "Resume all was cancelled: Resumed 1 of 3 · 0 failed · 2 not tried."
            assert all(len(statuses) == 1 for statuses in resumes_of(stack).values())
            assert len(stack.truedy.resumes()) == 1
        finally:
            engine.dispose()
            stop_stack(stack)
