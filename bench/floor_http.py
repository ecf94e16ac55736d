"""The HTTP floor: a bare Bolt app that only acks `/resume-campaign`, inline, behind the same server as the
web process (gunicorn's processes, each a uvicorn event loop), through Bolt's own ASGI adapter.
`bench/http.py` compares the web process's ack latency with it. Reads SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET
and SLACK_API_URL.

    gunicorn bench.floor_http:api -k uvicorn_worker.UvicornWorker -w 2 -b 127.0.0.1:PORT
"""

import os

from slack_bolt import App
from slack_bolt.adapter.asgi import SlackRequestHandler

app = App(
    token=os.environ["SLACK_BOT_TOKEN"],
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    token_verification_enabled=False,
    process_before_response=True,
)
app.client.base_url = os.environ["SLACK_API_URL"]
app.command("/resume-campaign")(lambda ack: ack())
api = SlackRequestHandler(app)
