"""Faults in the middle of work: Socket Mode dropped, SIGTERM, the database going away."""

import signal
import time

import psycopg
import pytest
from sqlalchemy import make_url

from tests.e2e.conftest import KEY_BOT_TEAM, start_stack, stop_stack
from tests.fakes.databases import POSTGRES, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.network import can_make_namespaces, cuttable_path_to
from tests.fakes.truedy import campaign


@pytest.fixture
def slow_truedy_stack(loop, tmp_path):
    stack = start_stack(loop, tmp_path)
    stack.truedy.delay = 0.5
    yield stack
    stop_stack(stack)


def burst(stack, prefix: str, count: int, channel: str) -> tuple[list[str], list[str]]:
    ids = [f"batch_{prefix}{n:04d}" for n in range(count)]
    stack.truedy.add(KEY_BOT_TEAM, *(campaign(campaign_id) for campaign_id in ids))
    payloads = [stack.slack.slash_command(campaign_id, channel_id=channel) for campaign_id in ids]
    return ids, stack.slack.push_many([("slash_commands", payload) for payload in payloads])


def results_in(stack, channel: str) -> list[str]:
    return [c.params["text"] for c in stack.slack.posts_in(channel) if c.params.get("thread_ts")]


@pytest.mark.parametrize("how", ["dropped", "refresh_requested"])
def test_a_connection_lost_mid_burst_loses_no_acked_request_and_doubles_none(slow_truedy_stack, how):
    stack = slow_truedy_stack
    first_ids, first = burst(stack, "drop", 20, "C0DROP001")
    if how == "dropped":
        stack.slack.drop_all()
    else:
        stack.slack.disconnect_all("refresh_requested")
    stack.slack.wait_connected(count=2, timeout=30)
    second_ids, second = burst(stack, "after", 20, "C0DROP001")
    assert all(stack.slack.wait_ack(envelope).payload is None for envelope in second)

    acked = [i for i, e in zip(first_ids, first, strict=True) if stack.slack.acks[e].acked_at] + second_ids

    def reported() -> set[str]:
        return {
            campaign_id
            for campaign_id in first_ids + second_ids
            if any(f"`{campaign_id}` is resumed" in text for text in results_in(stack, "C0DROP001"))
        }

    wait_until(lambda: set(acked) <= reported(), 20, "a result for every acked command")
    wait_until(lambda: len(reported()) >= len(stack.truedy.resumes()), 20, "a result for every resume")
    resumed = [r.path.split("/")[-2] for r in stack.truedy.resumes()]
    assert len(resumed) == len(set(resumed))  # nothing resumed twice
    assert set(acked) <= set(resumed)  # nothing acked and forgotten
    for campaign_id in resumed:
        assert sum(f"`{campaign_id}` is resumed" in text for text in results_in(stack, "C0DROP001")) == 1


def test_sigterm_mid_burst_finishes_and_reports_every_acked_request(slow_truedy_stack):
    stack = slow_truedy_stack
    ids, envelopes = burst(stack, "term", 40, "C0TERM002")
    acks = [stack.slack.wait_ack(envelope) for envelope in envelopes]
    assert all(ack.payload is None for ack in acks)  # all accepted

    assert stack.worker.terminate() == 0

    texts = results_in(stack, "C0TERM002")
    for campaign_id in ids:
        assert sum(f"`{campaign_id}` is resumed" in text for text in texts) == 1
    assert stack.worker.logged("stopped")[0]["unfinished"] == 0


@pytest.mark.skipif(not POSTGRES, reason="needs a PostgreSQL server to take away (TEST_DATABASE_URL)")
def test_a_database_briefly_unavailable_is_said_clearly_and_the_worker_carries_on(loop, tmp_path):
    with fresh_database("postgresql", tmp_path) as database_url:
        stack = start_stack(loop, tmp_path, DATABASE_URL=database_url)
        name = make_url(database_url).database
        try:
            stack.truedy.add(KEY_BOT_TEAM, campaign("batch_dbdown01"), campaign("batch_dbback01"))
            with psycopg.connect(POSTGRES, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
            payload, ack = stack.command("batch_dbdown01", channel_id="C0DBDOWN1")
            assert ack.latency < 3
            told = stack.private_reply(payload)
            assert "can't reach my database" in told["text"] and "nothing was resumed" in told["text"]
            assert stack.truedy.resumes() == []

            with psycopg.connect(POSTGRES, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            stack.command("batch_dbback01", channel_id="C0DBBACK1")
            _, reply, _ = stack.result_in_thread("C0DBBACK1", "batch_dbback01")
            assert "is resumed" in reply.params["text"]
            assert stack.worker.process.poll() is None
        finally:
            stop_stack(stack)


def final_states(stack, channel: str) -> dict[str, str]:
    """Each announcement in `channel` (by campaign id) and the last text it was updated to ("" if never)."""
    states = {}
    for post in stack.slack.posts_in(channel):
        if "thread_ts" in post.params or not post.answer.get("ok"):
            continue
        campaign_id = post.params["text"].split("`")[1]
        updates = [c for c in stack.slack.calls_to("chat.update") if c.params.get("ts") == post.answer["ts"]]
        states[campaign_id] = updates[-1].params["text"] if updates else ""
    return states


def test_sigterm_with_truedy_hanging_ends_every_request_within_25_seconds(loop, tmp_path):
    """More resumes than RESUME_CONCURRENCY against a Truedy that never answers; SIGTERM mid-burst, and more
    requests while it stops: exit 0 within 25 s, every acked request with a final answer."""
    stack = start_stack(loop, tmp_path, RESUME_CONCURRENCY="4", TRUEDY_READ_TIMEOUT="20", TRUEDY_CONNECT_TIMEOUT="30")
    try:
        stack.truedy.delay = 3600
        ids, envelopes = burst(stack, "hang", 12, "C0HANG001")
        assert all(stack.slack.wait_ack(envelope).payload is None for envelope in envelopes)
        wait_until(lambda: stack.truedy.in_flight == 4, 10, "four resumes waiting on Truedy")

        late_ids, late = burst(stack, "late", 3, "C0HANG001")  # on their way as SIGTERM arrives
        stack.worker.process.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert stack.worker.process.wait(30) == 0
        assert time.monotonic() - stopping < 25

        assert len(stack.truedy.resumes()) == 4  # the queued ones never reached Truedy
        states = final_states(stack, "C0HANG001")
        sent = {r.path.split("/")[-2] for r in stack.truedy.resumes()}
        for campaign_id in ids:
            if campaign_id in sent:  # still waiting 15 s after SIGTERM (its read timeout is 20 s)
                assert "the bot was restarting before Truedy answered" in states[campaign_id]
            else:
                assert "but the bot was restarting: nothing was resumed" in states[campaign_id]
        for campaign_id, envelope in zip(late_ids, late, strict=True):
            ack = stack.slack.acks[envelope]
            assert ack.acked_at is not None  # received before the connection closed: acked, and answered
            # "Restarting" in the ack (it came after SIGTERM) or in its message (it did not start in time).
            assert "restarting" in ((ack.payload or {}).get("text", "") or states.get(campaign_id, ""))
        assert stack.worker.logged("stopped")[0]["unfinished"] == 0
    finally:
        stop_stack(stack)


@pytest.mark.skipif(not POSTGRES, reason="needs a PostgreSQL server (TEST_DATABASE_URL)")
@pytest.mark.skipif(not can_make_namespaces(), reason="needs root and `ip netns` to cut a network path")
def test_a_database_gone_silent_is_said_within_seconds_and_the_worker_recovers(loop, tmp_path):
    """PostgreSQL unreachable at the network level (packets dropped, nothing refused), pooled connections
    included: the requester hears "database unavailable" within seconds; once the network is back, so is
    the bot."""
    with fresh_database("postgresql", tmp_path) as direct_url:
        url = make_url(direct_url)
        with cuttable_path_to(f"{url.host or '127.0.0.1'}:{url.port or 5432}") as path:
            host, port = path.address.split(":")
            through_path = url.set(host=host, port=int(port)).render_as_string(hide_password=False)
            stack = start_stack(loop, tmp_path, DATABASE_URL=through_path)
            try:
                stack.truedy.add(KEY_BOT_TEAM, *(campaign(f"batch_silent{n:02d}") for n in range(3)))
                stack.command("batch_silent00", channel_id="C0SILENT1")
                stack.result_in_thread("C0SILENT1", "batch_silent00")  # pooled connections exist now

                path.cut()
                payload, ack = stack.command("batch_silent01", channel_id="C0SILENT1")
                assert ack.latency < 3
                told = stack.private_reply(payload)  # waits at most 10 s
                assert "can't reach my database" in told["text"] and "nothing was resumed" in told["text"]
                assert not [r for r in stack.truedy.resumes() if "batch_silent01" in r.path]

                path.restore()

                def serves_again() -> bool:  # the link is back; new connections may fail for a moment more
                    payload, _ = stack.command("status")
                    return "Truedy API key: saved" in stack.private_reply(payload)["text"]

                wait_until(serves_again, 30, "the worker to serve again")
                stack.command("batch_silent02", channel_id="C0SILENT2")
                _, reply, _ = stack.result_in_thread("C0SILENT2", "batch_silent02")
                assert "is resumed" in reply.params["text"]
                assert stack.worker.process.poll() is None
            finally:
                stop_stack(stack)
