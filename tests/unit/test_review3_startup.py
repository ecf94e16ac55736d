"""Review 3, start-up: what `python -m bot` does when something between it and Slack answers with what is not
Slack's API, when a setting that can never work is accepted, and the settings gunicorn reads itself."""

import http.server
import logging
import socket
import subprocess
import sys
import threading
import traceback

import pytest

from bot import __main__ as bot_main
from bot.log import configure_logging
from bot.settings import Settings, SettingsError, load_settings
from bot.slack import reach
from tests.fakes.worker import ENCRYPTION_KEY, REPO

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1-review3-bot",
    "SLACK_APP_TOKEN": "xapp-1-review3-app",
    "BOT_ENCRYPTION_KEY": ENCRYPTION_KEY,
}


class _Answers(http.server.BaseHTTPRequestHandler):
    status = 200
    content_type = "application/json"
    body = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(self.status)
        self.send_header("content-type", self.content_type)
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def not_slack():
    """An HTTP server on loopback that answers every Slack call as told: (status, content type, body)."""
    servers = []

    def start(status: int, content_type: str, body: bytes) -> str:
        handler = type("Answers", (_Answers,), {"status": status, "content_type": content_type, "body": body})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/api/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def run_main(monkeypatch, tmp_path, capsys):
    """`python -m bot <args>` in process, Slack waited for 3 s instead of 5 minutes: (exit code, stdout, stderr)."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setattr(reach, "WAIT_SECONDS", 3)
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    # sys.stdout as capsys has it when main runs.
    monkeypatch.setattr(bot_main, "configure_logging", lambda *args, **_: configure_logging(*args, stream=sys.stdout))

    def run(*args: str, **env: str) -> tuple[int, str, str]:
        for name, value in {**GOOD, "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3", **env}.items():
            monkeypatch.setenv(name, value)
        try:
            code = bot_main.main(list(args))
        except BaseException as error:  # what would reach the interpreter: a traceback
            print("uncaught: " + "".join(traceback.format_exception(error)), file=sys.stdout)
            code = 1
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_an_html_page_where_slack_should_answer_is_not_said_to_be_slack_refusing_the_token(run_main, not_slack):
    """A captive portal, a proxy's error page, or SLACK_API_URL pointing at a web site: an HTML page answered with
    200 is not Slack refusing the token (exit 2, "rotate the token"); Slack was not reached: waited for like any
    other trouble on the way (exit 1, one line), and the page's text is not quoted back."""
    api_url = not_slack(200, "text/html", b"<html><body>Please log in to the hotel wifi</body></html>")
    code, out, err = run_main(SLACK_API_URL=api_url)
    assert "refused the token" not in err, err
    assert "hotel wifi" not in err + out
    assert code == 1 and len(err.splitlines()) == 1 and err.startswith("cannot start: cannot reach Slack"), err


def test_a_truncated_json_answer_at_start_is_one_cannot_start_line_not_a_traceback(run_main, not_slack):
    """A body cut short ('{"ok": tru'), as a proxy dropping the connection mid-answer leaves it: one line, no
    traceback (today slack_sdk's JSONDecodeError goes uncaught: a traceback in the log, exit 1, nothing on
    stderr)."""
    api_url = not_slack(200, "application/json", b'{"ok": tru')
    code, out, err = run_main(SLACK_API_URL=api_url)
    assert "Traceback" not in out + err, out[-2000:]
    assert len(err.splitlines()) == 1 and err.startswith("cannot start: "), (err, out[-2000:])
    assert code in (1, 2)


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1/api/",  # today: ValueError (Invalid IPv6 URL) uncaught in reach.unreachable: a traceback
        "http://127.0.0.1:abc/api/",  # today: 5 minutes of "InvalidURL", then exit 1
        "http://127.0.0.1:99999/api/",  # today: 5 minutes of "connection refused", then exit 1
        "https://user:s3cret@slack.proxy.internal/api/",  # urllib cannot send it: 5 minutes of "does not resolve"
    ],
)
def test_a_slack_api_url_that_can_never_be_called_is_a_configuration_error(monkeypatch, tmp_path, url):
    """SLACK_API_URL is checked to be an http(s) URL, but one whose port is not a port, whose brackets do not
    close or that carries credentials (slack_sdk's urllib takes `user:s3cret@host` for the host name) can never
    be called: refused at once (exit 2, one line naming SLACK_API_URL), not waited for as if Slack were down."""
    monkeypatch.chdir(tmp_path)
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in {**GOOD, "SLACK_API_URL": url}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings()
    (line,) = refused.value.problems
    assert line.startswith("SLACK_API_URL: ") and "s3cret" not in line


def test_a_slack_api_url_with_brackets_that_do_not_close_is_no_traceback(run_main):
    code, out, err = run_main(SLACK_API_URL="http://[::1/api/")
    assert "Traceback" not in out + err, out[-2000:]
    assert code == 2 and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("name", ["SLACK_SIGNING_SECRET", "SLACK_CLIENT_SECRET"])
@pytest.mark.parametrize("placeholder", ["…", "..."])
def test_the_readmes_placeholders_for_the_secrets_are_refused_too(monkeypatch, tmp_path, name, placeholder):
    """README's `heroku config:set SLACK_CLIENT_ID=… SLACK_CLIENT_SECRET=… SLACK_SIGNING_SECRET=…` (and
    `SLACK_BOT_TOKEN=xoxb-… SLACK_SIGNING_SECRET=…`): `xoxb-…` and `…` as the client id are refused as placeholders,
    but `…` as the signing secret (every request Slack signs is then refused, 401, with no word why) or the
    client secret is taken as the secret."""
    monkeypatch.chdir(tmp_path)
    for field in Settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    env = {"BOT_ENCRYPTION_KEY": ENCRYPTION_KEY, name: placeholder}
    if name == "SLACK_CLIENT_SECRET":
        env |= {"SLACK_CLIENT_ID": "2468013579.1357924680", "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5"}
    else:
        env |= {"SLACK_BOT_TOKEN": "xoxb-1-review3-bot"}
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings(worker=False)
    assert [line for line in refused.value.problems if line.startswith(f"{name}: still holds the placeholder")], (
        refused.value.problems
    )


@pytest.mark.parametrize(
    "uri", ["https://bot.example.com/oauth/callback", "https://bot.example.com/", "https://bot.example.com/install"]
)
def test_a_redirect_uri_the_web_process_does_not_serve_is_refused(monkeypatch, tmp_path, uri):
    """The web process answers the end of an install on /slack/oauth_redirect only (web.SLACK_PATHS): a
    SLACK_REDIRECT_URI elsewhere sends every installer to a 404 after Slack's approval, though the setting's own
    message says it "must be the public https URL of /slack/oauth_redirect"."""
    monkeypatch.chdir(tmp_path)
    for field in Settings.model_fields:
        monkeypatch.delenv(field.upper(), raising=False)
    for variable, value in {
        "BOT_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "SLACK_CLIENT_ID": "2468013579.1357924680",
        "SLACK_CLIENT_SECRET": "client-secret",
        "SLACK_SIGNING_SECRET": "8f742231b10e8888abcd99yyyzzz85a5",
        "SLACK_REDIRECT_URI": uri,
    }.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as refused:
        load_settings(worker=False)
    assert [line for line in refused.value.problems if line.startswith("SLACK_REDIRECT_URI: ")]


def test_a_taken_metrics_port_stops_the_worker_at_once_even_while_slack_is_out_of_reach(run_main):
    """A taken METRICS_PORT is a setting to change (exit 2, one line), like a taken PORT for the web process;
    today it is found only once Socket Mode is open: with Slack out of reach, the worker waits (here 3 s, in
    production 5 minutes) and exits 1 saying only that Slack cannot be reached."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        unreachable = closed.getsockname()[1]
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, _, err = run_main(METRICS_PORT=str(port), SLACK_API_URL=f"http://127.0.0.1:{unreachable}/api/")
    said = f"cannot start: METRICS_PORT: cannot listen on {port} (Address already in use)"
    assert (code, err.splitlines()) == (2, [said])


def _bot(*args: str, timeout: float = 20, **env: str) -> subprocess.CompletedProcess:
    environment = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(REPO),
        **GOOD,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=environment, capture_output=True, text=True, timeout=timeout
    )


def test_a_malformed_web_concurrency_breaks_no_command_with_a_traceback(tmp_path):
    """WEB_CONCURRENCY (docs/settings.md; Heroku sets it, an operator may too) is read by gunicorn when bot.web is
    imported, which `python -m bot` always does: `WEB_CONCURRENCY=abc` makes every command, `--version` and the
    worker included, a Python traceback (exit 1)."""
    version = _bot("--version", WEB_CONCURRENCY="abc")
    assert "Traceback" not in version.stderr and version.returncode == 0, version.stderr
    worker = _bot(WEB_CONCURRENCY="abc", DATABASE_URL=f"sqlite:///{tmp_path}/bot.sqlite3")
    assert "Traceback" not in worker.stderr, worker.stderr


@pytest.mark.parametrize("value", ["abc", "0", "-1"])
def test_a_web_concurrency_that_starts_no_process_stops_the_web_process_in_one_line_exit_2(tmp_path, value):
    """`abc`: a traceback; `-1`: gunicorn's "Error: Value must be positive", exit 1; `0`: gunicorn starts no
    process at all, binds PORT and leaves every request (/healthz included) unanswered, forever, without a word.
    Each is a setting to change: one `configuration error:` (or `cannot start:`) line naming it, exit 2."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    try:
        web = _bot(
            "web", timeout=15, WEB_CONCURRENCY=value, PORT=str(port), DATABASE_URL=f"sqlite:///{tmp_path}/bot.sqlite3"
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"WEB_CONCURRENCY={value}: the web process was still running after 15 s, serving nothing")
    lines = web.stderr.splitlines()
    assert web.returncode == 2 and len(lines) == 1 and "WEB_CONCURRENCY" in lines[0], web.stderr[-2000:]


def test_a_dotenv_saved_in_latin_1_is_one_line_not_a_traceback(tmp_path):
    """`.env` written by an editor in Latin-1 (or cp1252: a pasted non-breaking space is byte 0xA0), e.g.
    `OPERATOR_NAME=Société Générale`: pydantic-settings' UnicodeDecodeError goes uncaught, a traceback, exit 1.
    It is a setting to change: one `configuration error:` line naming .env, exit 2."""
    (tmp_path / ".env").write_bytes(
        "OPERATOR_NAME=Société Générale\nSLACK_BOT_TOKEN=xoxb-1-review3-bot\nSLACK_APP_TOKEN=xapp-1-review3-app\n"
        f"BOT_ENCRYPTION_KEY={ENCRYPTION_KEY}\n".encode("latin-1")
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "SLACK_API_URL": "http://127.0.0.1:9/api/"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert "Traceback" not in done.stderr, done.stderr[-1500:]
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1 and ".env" in done.stderr, done.stderr
