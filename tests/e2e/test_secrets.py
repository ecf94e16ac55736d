"""Every path with recognisable secrets, then a scan of everything the bot wrote or sent for any of them."""

import hashlib
import hmac
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

from sqlalchemy import select

from bot import storage
from tests.e2e.conftest import start_installations_stack, stop_stack
from tests.e2e.test_http_mode import send
from tests.e2e.test_installations import connect
from tests.fakes.browser import come_back, get, open_install_page
from tests.fakes.loop import wait_until
from tests.fakes.slack import FakeSlack
from tests.fakes.truedy import FakeTruedy, Scripted, campaign
from tests.fakes.worker import ENCRYPTION_KEY, WorkerProcess, run_bot, worker_env

BOT_TOKEN = "xoxb-LEAKCANARY-bot-token-0001"
APP_TOKEN = "xapp-LEAKCANARY-app-token-0001"
ENV_KEY = "truedy_LEAKCANARYenvKey000000001"
ODD_KEY = "LeakCanaryKeyWithoutAPrefix0002"  # not shaped like a Truedy key: only known-value redaction hides it
SETUP_KEY = "truedy_LEAKCANARYsetupKey00000003"
REJECTED_KEY = "truedy_LEAKCANARYrejectedKey00004"
WEBHOOK_SECRET = "whsec_LEAKCANARY_0005"
SIGNING_SECRET = "LEAKCANARYsigningSecret00000006"


def resume_path(campaign_id: str) -> str:
    return f"/api/public/v1/batch-calls/{campaign_id}/resume"


SECRETS = [
    BOT_TOKEN,
    APP_TOKEN,
    ENV_KEY,
    ODD_KEY,
    SETUP_KEY,
    REJECTED_KEY,
    WEBHOOK_SECRET,
    SIGNING_SECRET,
    ENCRYPTION_KEY,
]


def test_no_secret_reaches_a_log_a_message_or_an_error(loop, tmp_path):
    # An org-wide install of a Grid organisation: one token for all its workspaces, each with its own key.
    slack = FakeSlack(loop, bot_token=BOT_TOKEN, app_token=APP_TOKEN, enterprise_id="E0LEAK001").start()
    truedy = FakeTruedy(loop).start()
    slack.admins.add("U0ADMIN01")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = worker_env(
        slack,
        truedy,
        TRUEDY_API_KEY=ENV_KEY,
        TRUEDY_API_KEYS=json.dumps({"T0ODD0001": ODD_KEY}),
        TRUEDY_WEBHOOK_SECRET=WEBHOOK_SECRET,
        TRUEDY_READ_TIMEOUT="1",
        ALERT_CHANNEL="C0ALERTS1",
        PAUSED_POLL_SECONDS="1",
        PORT=str(port),
        LOG_LEVEL="DEBUG",
    )
    (tmp_path / "web").mkdir()
    worker = WorkerProcess(env, tmp_path)
    web_env = {**env, "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3", "SLACK_SIGNING_SECRET": SIGNING_SECRET}
    web = WorkerProcess(web_env, tmp_path / "web", "web")  # HTTP mode too
    outputs: list[str] = []
    try:
        worker.wait_started(slack)
        truedy.add(ENV_KEY, campaign("batch_leak0001"), campaign("batch_leak0002"), campaign("batch_leak0003"))
        truedy.add(ODD_KEY, campaign("batch_leak0004"))
        truedy.add(SETUP_KEY, campaign("batch_leak0005"))

        def command(text, **fields):
            payload = slack.slash_command(text, **fields)
            slack.wait_ack(slack.push("slash_commands", payload))
            return payload

        command("batch_leak0001", channel_id="C0LEAK001")  # resumed
        echo = {"error": {"code": "unauthorized", "message": f"Key {ENV_KEY} revoked"}}
        truedy.script(Scripted(401, echo, path=resume_path("batch_leak0002")))
        command("batch_leak0002", channel_id="C0LEAK002")  # Truedy echoes the key
        truedy.script(Scripted(hang=True, path=resume_path("batch_leak0003")))
        command("batch_leak0003", channel_id="C0LEAK003")  # timeout
        billing = {"error": {"code": "payment_required", "message": f"Key {ODD_KEY} has no credits"}}
        truedy.script(Scripted(402, billing, path=resume_path("batch_leak0004")))
        command("batch_leak0004", channel_id="C0LEAK004", team_id="T0ODD0001")
        command("status")
        command("history")
        # Resume all, with a failure whose message echoes the key: the summary names it, never the key.
        truedy.add(ODD_KEY, campaign("batch_leak0007"))
        echoed = {"error": {"code": "internal_error", "message": f"{ODD_KEY} broke"}}
        truedy.script(Scripted(500, echoed, path=resume_path("batch_leak0007")))
        counted = command("resume-all", channel_id="C0LEAK007", team_id="T0ODD0001")
        offer = wait_until(lambda: slack.responses_to(counted), 10, "the count")[0].params
        click = slack.click_private(offer, "resume_all", "C0LEAK007", team_id="T0ODD0001")
        slack.wait_ack(slack.push("interactive", click))
        summary = wait_until(
            lambda: [c for c in slack.posts_in("C0LEAK007") if c.params.get("thread_ts")], 20, "the summary"
        )
        assert "`batch_leak0007`: may have resumed" in json.dumps(summary[0].params)

        # Setup with a key Truedy rejects (echoing it), then a good one.
        for key in (REJECTED_KEY, SETUP_KEY):
            if key == REJECTED_KEY:
                unknown = {"error": {"code": "unauthorized", "message": f"{key} unknown"}}
                truedy.script(Scripted(401, unknown, api_key=key))
            opened = len(slack.opened_views())
            command("setup", team_id="T0SETUP01", user_id="U0ADMIN01")
            view = wait_until(lambda o=opened: slack.opened_views()[o:], 10, "the modal")[0]["view"]
            values = {"api_key": {"value": {"type": "plain_text_input", "value": key}}}
            slack.wait_ack(slack.push("view_submission", slack.view_submission(view, values, team_id="T0SETUP01")))
        command("batch_leak0005", channel_id="C0LEAK005", team_id="T0SETUP01")

        alert = run_bot(env, tmp_path, "alert", "batch_leak0001", "--channel", "C0LEAK006")
        outputs += [alert.stdout, alert.stderr]
        wait_until(lambda: [c for c in slack.posts_in("C0ALERTS1") if c.answer.get("ok")], 15, "a watcher alert")

        wait_until(lambda: web.logged("web_started"), 20, "the web process")
        for signature in ("0" * 64, None):
            body = json.dumps({"event": "batch.status.changed", "data": {"batch_id": "x"}}).encode()
            stamp = str(int(time.time()))
            digest = signature or hmac.new(WEBHOOK_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256)
            headers = {"X-Truedy-Timestamp": stamp, "X-Truedy-Signature": digest if signature else digest.hexdigest()}
            request = urllib.request.Request(f"http://127.0.0.1:{port}/truedy/webhook", body, headers, method="POST")
            try:
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError as refused:
                assert refused.code == 401

        for secret in (SIGNING_SECRET, "not-the-secret"):  # a command over HTTP, signed and badly signed
            body = urllib.parse.urlencode(slack.slash_command("status")).encode()
            stamp = str(int(time.time()))
            digest = hmac.new(secret.encode(), f"v0:{stamp}:".encode() + body, hashlib.sha256).hexdigest()
            headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}"}
            request = urllib.request.Request(f"http://127.0.0.1:{port}/slack/events", body, headers, method="POST")
            try:
                urllib.request.urlopen(request, timeout=5)
            except urllib.error.HTTPError as refused:
                assert refused.code == 401 and secret != SIGNING_SECRET

        wait_until(lambda: len([line for line in worker.logged("resume_attempt")]) >= 5, 15, "the attempts")
    finally:
        assert worker.terminate() == 0
        web.terminate()
        slack.stop()
        truedy.stop()

    outputs += [worker.stdout(), worker.stderr(), web.stdout(), web.stderr()]
    outputs += [json.dumps(call.params) for call in slack.calls + slack.responses]
    everything = "\n".join(outputs)
    assert "resume_attempt" in everything and "[redacted]" in everything  # the scan read real output
    for secret in SECRETS:
        assert secret not in everything, f"{secret} leaked"


def test_no_secret_in_a_path_or_a_query_reaches_any_log_line_even_at_debug(loop, tmp_path):
    """Webhook tokens in paths, OAuth codes and states in queries, a step's own token: sent to the web process
    (two of gunicorn's processes) and the worker, both at DEBUG, and found in none of their output."""
    stack = start_installations_stack(
        loop, tmp_path, LOG_LEVEL="DEBUG", WEB_CONCURRENCY="2", PUBLIC_URL="https://bot.example.com"
    )
    base = stack.site
    assert base is not None and stack.web is not None
    canaries = {
        "webhook token": "LEAKCANARYwebhookPathToken0001",
        "query": "LEAKCANARYqueryValue0002",
        "path": "LEAKCANARYpathPart0003",
        "code": "LEAKCANARYoauthCode0004",
        "state": "LEAKCANARYoauthState0005",
        "step token": "xwfp-T0LEAK001-LEAKCANARYstep0006",
        "socket step token": "xwfp-T0LEAK001-LEAKCANARYstep0007",
    }
    try:
        # A real install: its code and state travel in the redirect's query.
        start = open_install_page(base)
        code = stack.slack.approve_install("T0LEAK001", "U0INSTALL")
        assert come_back(base, start.cookie, code=code, state=start.state).status == 200
        canaries |= {"real code": code, "real state": start.state}
        stack.truedy.add("truedy_LeakTeamKey00000000000001")
        connect(stack, base, "T0LEAK001", "U0INSTALL", "truedy_LeakTeamKey00000000000001")
        token = wait_until(lambda: webhook_token_of(stack, "T0LEAK001"), 10, "the workspace's webhook token")
        canaries["real webhook token"] = token

        for _ in range(2):  # each of gunicorn's processes, most likely
            assert post(f"{base}/truedy/webhook/{token}", b"{}").code == 401
            assert post(f"{base}/truedy/webhook/{canaries['webhook token']}", b"{}").code == 404
            assert get(f"{base}/slack/oauth_redirect?code={canaries['code']}&state={canaries['state']}").status == 400
            assert get(f"{base}/slack/install?ref={canaries['query']}").status == 200
            assert get(f"{base}/healthz?{canaries['query']}").status == 200
            assert get(f"{base}/{canaries['path']}/x?token={canaries['query']}").status == 404
        run, event = stack.slack.step_event("list_paused_campaigns", {}, team_id="T0LEAK001")
        event["event"]["bot_access_token"] = canaries["step token"]
        stack.slack.tokens[canaries["step token"]] = stack.slack.tokens[run.token]
        status, _, _ = send(
            f"{base}/slack/events?{canaries['query']}", json.dumps(event).encode(), content_type="application/json"
        )
        assert status == 200
        socket_run, socket_event = stack.slack.step_event("list_paused_campaigns", {}, team_id="T0LEAK001")
        socket_event["event"]["bot_access_token"] = canaries["socket step token"]
        stack.slack.tokens[canaries["socket step token"]] = stack.slack.tokens[socket_run.token]
        stack.slack.push("events_api", socket_event)
        stack.slack.step_ending(run)
        stack.slack.step_ending(socket_run)
    finally:
        stop_stack(stack)
    everything = "\n".join([stack.worker.stdout(), stack.worker.stderr(), stack.web.stdout(), stack.web.stderr()])
    assert '"level": "debug"' in everything  # the scan read DEBUG output
    for what, secret in canaries.items():
        assert secret not in everything, f"the {what} was logged"


def webhook_token_of(stack, team_id: str) -> str | None:
    engine = storage.connect(stack.database_url)
    try:
        with engine.connect() as connection:
            table = storage.workspaces
            return connection.execute(select(table.c.webhook_token).where(table.c.team_id == team_id)).scalar()
    finally:
        engine.dispose()


def post(url: str, body: bytes) -> urllib.error.HTTPError | urllib.request.addinfourl:
    try:
        return urllib.request.urlopen(urllib.request.Request(url, body, method="POST"), timeout=5)
    except urllib.error.HTTPError as refused:
        return refused
