import json
import threading
import time

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult

from bot.background import BackgroundWork
from bot.slack import ack_first
from bot.slack.ack_first import MAX_WAIT_SECONDS, AckFirst, AckFirstSocketModeHandler
from tests.fakes.loop import wait_until


def test_jobs_start_only_once_received_requests_are_acked():
    gate = AckFirst()
    started = threading.Event()
    work = BackgroundWork("test", 1, gate.wait_until_acked)
    gate.received('{"envelope_id": "e1", "type": "slash_commands"}')
    gate.received('{"type": "hello"}')  # not a request: nothing to ack
    work.submit(started.set)
    assert not started.wait(0.2)
    gate.acked("e1")
    assert started.wait(2)
    assert work.drain(2) == 0


def test_jobs_wait_for_the_end_of_a_burst_not_only_for_a_moment_with_no_request_waiting():
    gate = AckFirst()
    events: list[str] = []
    work = BackgroundWork("test", 1, gate.wait_until_acked)
    gate.arrived("r0")
    work.submit(events.append, "job")
    for n in range(1, 20):
        gate.acked(f"r{n - 1}")  # none waiting for a moment…
        time.sleep(0.002)  # …the time it takes to read the next request of the burst
        gate.arrived(f"r{n}")
        events.append(f"r{n}")
    gate.acked("r19")
    wait_until(lambda: "job" in events, 2, "the job")
    assert events[-1] == "job"
    assert work.drain(2) == 0


def test_a_job_waits_at_most_a_second_for_a_quiet_moment():
    gate = AckFirst()
    gate.received('{"envelope_id": "never-acked"}')
    began = time.monotonic()
    gate.wait_until_acked()
    assert MAX_WAIT_SECONDS - 0.1 <= time.monotonic() - began < MAX_WAIT_SECONDS + 0.5


def test_a_request_never_acked_stops_counting_once_slack_gave_up_on_it(monkeypatch):
    monkeypatch.setattr(ack_first, "FORGET_AFTER_SECONDS", 0.05)
    gate = AckFirst()
    gate.received('{"envelope_id": "unreadable"}')
    assert gate.waiting() == 1
    wait_until(lambda: gate.waiting() == 0, 2, "the request to be forgotten")


def test_an_ack_for_another_request_does_not_count_twice():
    gate = AckFirst()
    gate.received('{"envelope_id": "a"}')
    gate.acked("b")  # not a request this gate saw: changes nothing
    gate.acked("b")
    assert gate.waiting() == 1
    gate.acked("a")
    assert gate.waiting() == 0


def test_closing_the_connection_releases_waiting_jobs():
    gate = AckFirst()
    gate.received('{"envelope_id": "left-behind"}')
    threading.Timer(0.1, gate.close).start()
    began = time.monotonic()
    gate.wait_until_acked()
    assert time.monotonic() - began < 0.5


def test_after_a_long_run_of_requests_through_bolt_nothing_is_left_waiting():
    """500 requests through Bolt's real Socket Mode pipeline (queue, message workers, listener, ack): once
    all are handled, jobs start at once; no request leaves a count behind."""
    gate = AckFirst()
    # Authorized locally: no Slack to ask (auth.test) in a unit test.
    authorized = AuthorizeResult(enterprise_id=None, team_id="T1", bot_token="xoxb-test", bot_user_id="U0BOT")
    app = App(authorize=lambda **_: authorized, signing_secret="unused", process_before_response=True)
    handled = []
    app.command("/resume-campaign")(lambda ack, command: (ack(), handled.append(command["text"])))
    handler = AckFirstSocketModeHandler(app, "xapp-test", gate)
    handler.client.send_message = lambda message: None  # no WebSocket here: the ack goes nowhere
    try:
        for n in range(500):
            envelope = {
                "envelope_id": f"env-{n}",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {"command": "/resume-campaign", "text": str(n), "team_id": "T1", "user_id": "U1"},
            }
            handler.client.enqueue_message(json.dumps(envelope))
        wait_until(lambda: len(handled) == 500, 30, "every request handled")
        wait_until(lambda: gate.waiting() == 0, 2, "every ack counted")
    finally:
        handler.client.close()


def test_at_shutdown_requests_still_arriving_are_waited_for():
    gate = AckFirst()
    gate.received('{"envelope_id": "e1"}')
    gate.acked("e1")
    arrived = []

    def arrive() -> None:
        gate.received('{"envelope_id": "e2"}')
        arrived.append("e2")
        gate.acked("e2")

    threading.Timer(0.1, arrive).start()
    assert gate.wait_until_all_acked(timeout=2, quiet=0.3)
    assert arrived == ["e2"]  # nothing pending at first, but one more came in the quiet period and was acked
