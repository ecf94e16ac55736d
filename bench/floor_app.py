"""The floor: a bare Bolt app over Socket Mode that only acks, inline (`process_before_response=True`, the
fastest Bolt acks; its default 5-thread pool with 10 ms polling is slower). `bench/load.py` compares the
bot's ack latency with it. Reads SLACK_BOT_TOKEN, SLACK_APP_TOKEN and SLACK_API_URL."""

import os
import signal
import threading

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

app = App(token=os.environ["SLACK_BOT_TOKEN"], token_verification_enabled=False, process_before_response=True)
app.client.base_url = os.environ["SLACK_API_URL"]


@app.command("/resume-campaign")
def command(ack):
    ack()


@app.action("resume_campaign")
def click(ack):
    ack()


if __name__ == "__main__":
    handler = SocketModeHandler(app, os.environ["SLACK_APP_TOKEN"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    handler.connect()
    print('{"event": "started"}', flush=True)
    stop.wait()
    handler.close()
