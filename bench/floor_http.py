"""The HTTP floor: a bare Bolt app that only acks `/resume-campaign`, inline, behind the same server as the
web process (gunicorn's processes, each a uvicorn event loop), through Bolt's own ASGI adapter.
`bench/http.py` compares the web process's ack latency with it. Reads SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET
and SLACK_API_URL.

    gunicorn bench.floor_http:api -k uvicorn_worker.UvicornWorker -w 2 -b 127.0.0.1:PORT

Each process answers one signed command of its own as it starts: a warm floor has asked auth.test about
its token already (Bolt does on a process's first request), as every process of the bot has.
"""

import hashlib
import hmac
import os
import time
import urllib.parse

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.asgi import SlackRequestHandler

app = App(
    token=os.environ["SLACK_BOT_TOKEN"],
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    token_verification_enabled=False,
    process_before_response=True,
)
app.client.base_url = os.environ["SLACK_API_URL"]
app.command("/resume-campaign")(lambda ack: ack())


def _warm_up() -> None:
    body = urllib.parse.urlencode({"command": "/resume-campaign", "text": "warm-up", "team_id": "T0BOT0001"})
    stamp = str(int(time.time()))
    secret = os.environ["SLACK_SIGNING_SECRET"].encode()
    signature = "v0=" + hmac.new(secret, f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    headers = {"x-slack-request-timestamp": stamp, "x-slack-signature": signature}
    assert app.dispatch(BoltRequest(body=body, headers=headers)).status == 200


_warm_up()
api = SlackRequestHandler(app)
