import threading
import time

from bot.ack_first import MAX_WAIT_SECONDS, AckFirst
from bot.background import BackgroundWork


def test_jobs_start_only_once_received_requests_are_acked():
    gate = AckFirst()
    started = threading.Event()
    work = BackgroundWork("test", 1, gate.wait_until_acked)
    gate.received('{"envelope_id": "e1", "type": "slash_commands"}')
    gate.received('{"type": "hello"}')  # not a request: nothing to ack
    work.submit(started.set)
    assert not started.wait(0.2)
    gate.acked()
    assert started.wait(2)
    assert work.drain(2) == 0


def test_a_job_waits_at_most_a_second_for_a_quiet_moment():
    gate = AckFirst()
    gate.received('{"envelope_id": "never-acked"}')
    began = time.monotonic()
    gate.wait_until_acked()
    assert MAX_WAIT_SECONDS - 0.1 <= time.monotonic() - began < MAX_WAIT_SECONDS + 0.5


def test_closing_the_connection_releases_waiting_jobs():
    gate = AckFirst()
    gate.received('{"envelope_id": "left-behind"}')
    threading.Timer(0.1, gate.close).start()
    began = time.monotonic()
    gate.wait_until_acked()
    assert time.monotonic() - began < 0.5
