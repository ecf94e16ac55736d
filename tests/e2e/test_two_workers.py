"""Two real workers on one database, each with its own Socket Mode connection, as on two dynos."""

import time
from contextlib import contextmanager

import pytest
from cryptography.fernet import Fernet

from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM
from tests.fakes.truedy import campaign
from tests.fakes.worker import ENCRYPTION_KEY, WorkerProcess, worker_env


@contextmanager
def two_workers_on(loop, tmp_path, kind: str, **settings: str):
    with fresh_database(kind, tmp_path) as database_url:
        first_folder, second_folder = tmp_path / "first", tmp_path / "second"
        first_folder.mkdir()
        second_folder.mkdir()
        stack = start_stack(loop, first_folder, DATABASE_URL=database_url, **settings)
        second = WorkerProcess(stack.env, second_folder)
        second.wait_started(stack.slack)
        stack.slack.wait_connected(count=2)
        try:
            yield stack, second
        finally:
            second.terminate()
            stop_stack(stack)


@pytest.fixture(params=KINDS)
def two_workers(request, loop, tmp_path):
    with two_workers_on(loop, tmp_path, request.param) as workers:
        yield workers


def test_a_double_click_landing_on_two_workers_makes_one_truedy_request(two_workers):
    stack, second_worker = two_workers
    stack.truedy.add(KEY_BOT_TEAM, campaign("batch_twoworkers1"))
    ts = stack.post_alert("batch_twoworkers1", "C0TWO0001")
    stack.truedy.delay = 0.5
    bob, carol = (stack.slack.click("C0TWO0001", ts, user_id=user) for user in ("U0BOB0001", "U0CAROL01"))
    first = stack.slack.push("interactive", bob, connection=0)
    second = stack.slack.push("interactive", carol, connection=1)
    stack.slack.wait_ack(first), stack.slack.wait_ack(second)

    told = wait_until(lambda: stack.slack.responses_to(bob) + stack.slack.responses_to(carol), 10, "a refusal")
    wait_until(
        lambda: [c for c in stack.slack.posts_in("C0TWO0001") if c.params.get("thread_ts") == ts], 10, "the result"
    )
    assert len(stack.truedy.resumes()) == 1
    assert len(told) == 1 and "is already resuming `batch_twoworkers1`" in told[0].params["text"]
    outcomes = [
        [line["outcome"] for line in worker.logged("resume_attempt")] for worker in (stack.worker, second_worker)
    ]
    assert sorted(outcomes) == [["already_in_flight"], ["resumed"]]  # one click on each worker


def test_settings_saved_through_one_worker_are_used_by_the_other_at_once(two_workers):
    stack, _ = two_workers
    stack.slack.admins.add("U0ADMIN01")
    stack.truedy.add("truedy_SharedKey00000000000001", campaign("batch_shared01"))
    payload = stack.slack.slash_command("setup", team_id=BOT_TEAM, user_id="U0ADMIN01")
    stack.slack.wait_ack(stack.slack.push("slash_commands", payload, connection=0))
    view = wait_until(stack.slack.opened_views, 10, "the setup modal")[0]["view"]
    values = {"api_key": {"value": {"type": "plain_text_input", "value": "truedy_SharedKey00000000000001"}}}
    submission = stack.slack.view_submission(view, values, user_id="U0ADMIN01", team_id=BOT_TEAM)
    assert stack.slack.wait_ack(stack.slack.push("view_submission", submission, connection=0)).payload in (None, {})

    command = stack.slack.slash_command("batch_shared01", channel_id="C0SHARED1")
    stack.slack.wait_ack(stack.slack.push("slash_commands", command, connection=1))
    _, reply, _ = stack.result_in_thread("C0SHARED1", "batch_shared01")
    assert "is resumed" in reply.params["text"]
    assert [r.authorization for r in stack.truedy.resumes()] == ["Bearer truedy_SharedKey00000000000001"]


@pytest.mark.parametrize("kind", KINDS)
def test_two_watching_workers_poll_in_turn_and_alert_each_pause_once(loop, tmp_path, kind):
    with two_workers_on(loop, tmp_path, kind, ALERT_CHANNEL="C0WATCH02", PAUSED_POLL_SECONDS="1") as (stack, _):
        stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_both{n:04d}") for n in range(30)))
        wait_until(lambda: stack.slack.posts_in("C0WATCH02"), 20, "the digest of 30")
        stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_late{n:04d}") for n in range(5)))
        wait_until(lambda: len(stack.slack.posts_in("C0WATCH02")) >= 6, 20, "5 alerts")
        polls_before, started = len(stack.truedy.lists()), time.monotonic()
        wait_until(lambda: len(stack.truedy.lists()) >= polls_before + 6, 15, "six more polls")
        # One turn per interval for both workers together: six polls take five intervals at least
        # (two uncoordinated pollers would make them in about three).
        assert time.monotonic() - started > 4.5
        alerted = [c.params["text"] for c in stack.slack.posts_in("C0WATCH02")]
        assert len(alerted) == 6 and len(set(alerted)) == 6
        assert alerted[0].startswith("30 campaigns paused")


@pytest.mark.parametrize("kind", KINDS)
def test_workers_starting_together_on_an_empty_database_all_come_up(loop, tmp_path, kind, slack, truedy):
    with fresh_database(kind, tmp_path) as database_url:
        env = worker_env(slack, truedy, DATABASE_URL=database_url, TRUEDY_API_KEY=KEY_BOT_TEAM)
        folders = [tmp_path / f"worker{n}" for n in range(4)]
        for folder in folders:
            folder.mkdir()
        workers = [WorkerProcess(env, folder) for folder in folders]  # started at once, no waiting in between
        try:
            for worker in workers:
                worker.wait_started(slack)
            slack.wait_connected(count=4)
            assert all(worker.process.poll() is None for worker in workers)
        finally:
            for worker in workers:
                worker.terminate()


@pytest.mark.parametrize("kind", KINDS)
def test_the_encryption_key_can_be_rotated(loop, tmp_path, kind):
    old, new = ENCRYPTION_KEY, Fernet.generate_key().decode()
    with fresh_database(kind, tmp_path) as database_url:
        stack = start_stack(loop, tmp_path, DATABASE_URL=database_url)  # keys sealed with the old key
        try:
            for keys in (f"{new},{old}", new):  # during the rotation, then the new key alone
                stack.worker.terminate()
                stack.worker = WorkerProcess({**stack.env, "BOT_ENCRYPTION_KEY": keys}, tmp_path)
                stack.worker.wait_started(stack.slack)
                campaign_id = f"batch_rotate{len(keys):04d}"
                stack.truedy.add(KEY_BOT_TEAM, campaign(campaign_id))
                stack.command(campaign_id, channel_id="C0ROTATE1")
                _, reply, _ = stack.result_in_thread("C0ROTATE1", campaign_id)
                assert "is resumed" in reply.params["text"]
            stack.worker.terminate()
            refused = stack.run_bot()  # the old key alone no longer opens anything
            assert refused.returncode == 2 and "BOT_ENCRYPTION_KEY: not the key" in refused.stderr
        finally:
            stop_stack(stack)
