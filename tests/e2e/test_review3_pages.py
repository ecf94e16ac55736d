"""Review 3, the web pages: `/`, the install page and the pages at the end of an install, as served by the web
process (headers, what is logged) and as Chromium shows them."""

import http.server
import threading

import pytest

from tests.e2e.conftest import free_port, installations_env, start_web_process
from tests.e2e.test_installations import needs_chromium
from tests.fakes.browser import come_back, get, open_install_page
from tests.fakes.chromium import Chromium
from tests.fakes.slack import FakeSlack
from tests.fakes.truedy import FakeTruedy

# A real operator's legal name (German runs words together): one line, under OPERATOR_NAME's 100 characters.
LONG_NAME = "Telekommunikationsdienstleistungsgesellschaft Nordrhein-Westfalen mbH"


@pytest.fixture(scope="module")
def site(loop, tmp_path_factory):
    """A web process that workspaces install from: (web process, base URL)."""
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    workdir, port = tmp_path_factory.mktemp("review3-pages"), free_port()
    env = installations_env(
        slack,
        truedy,
        port,
        HOME=str(workdir / "home"),
        PUBLIC_URL="https://bot.example.com",
        OPERATOR_NAME=LONG_NAME,
        PRIVACY_URL="https://example.com/privacy",
    )
    web = start_web_process(env, workdir)
    yield web, f"http://127.0.0.1:{port}"
    web.terminate()
    slack.stop()
    truedy.stop()


def test_the_install_page_which_carries_a_state_and_sets_its_cookie_is_not_cached(site):
    """The pages at the end of an install say `Cache-Control: no-store` (install_pages._page); the install page,
    whose Add to Slack link carries a fresh state and whose answer sets the state cookie, says nothing: a shared
    cache (a corporate proxy, a CDN in front of the web process) or the browser may keep it and hand the same
    state and cookie to another visit, whose install then fails ("expired or already used")."""
    _, base = site
    page = open_install_page(base).page
    assert page.headers.get("cache-control") == "no-store", dict(page.headers)


@pytest.mark.parametrize("path", ["/", "/slack/install", "/slack/oauth_redirect?error=access_denied"])
def test_no_page_can_be_framed_by_another_site(site, path):
    """No page says X-Frame-Options or a Content-Security-Policy frame-ancestors: any site can show the install
    page (and its Add to Slack button, with a state cookie set for this browser) inside a frame of its own."""
    _, base = site
    headers = get(base + path).headers
    csp = headers.get("content-security-policy") or ""
    assert headers.get("x-frame-options") in ("DENY", "SAMEORIGIN") or "frame-ancestors" in csp, dict(headers)


def test_an_error_sent_back_to_the_redirect_page_is_not_logged_whole(site):
    """`/slack/oauth_redirect?error=<anything>` is Bolt's failure with `reason` = the query's value, logged as it
    came: anyone can write 20 kB of their choosing into one log line per request (log shipping bills by the byte,
    and a line that long is cut or dropped by most collectors). Slack's own reasons are a few words."""
    web, base = site
    page = come_back(base, None, error="x" * 20000)
    assert page.status in (200, 400)
    (line,) = [line for line in web.logged("install_failed") if "x" * 100 in str(line)] or [None]
    assert line is None or len(line["reason"]) <= 200, f"logged a reason of {len(line['reason'])} characters"


@needs_chromium
@pytest.mark.parametrize("path", ["/", "/slack/install", "/slack/oauth_redirect?error=access_denied"])
def test_a_long_operator_name_does_not_make_the_pages_scroll_sideways(site, loop, tmp_path, path):
    """OPERATOR_NAME may be 100 characters, on one line; the header's "Run by …" has no overflow-wrap (h1 and
    code do), so a name with a long word makes every page wider than a phone: it scrolls sideways at 375 px."""
    _, base = site
    with Chromium(loop, tmp_path / "profile") as chromium:
        shown = chromium.show(base + path, tmp_path, "long-operator")
    for width, page in shown.items():
        assert f"Run by {LONG_NAME}" in page.text
        assert not page.scrolls_sideways, f"{page.screenshot}: {page.scroll_width} px wide at {width} px"


def test_a_cut_short_answer_to_the_code_exchange_gives_the_start_again_page_not_a_bare_500(loop, tmp_path):
    """The code exchange (oauth.v2.access) answered with JSON cut short, as a proxy dropping the connection
    mid-answer leaves it: slack_sdk's JSONDecodeError is neither OSError nor HTTPException (what
    web._install_page turns into the failure page), so the installer gets uvicorn's bare "Internal Server
    Error" (text/plain, the state cookie left set) and the log a traceback."""

    class CutShort(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", "10")
            self.end_headers()
            self.wfile.write(b'{"ok": tru')

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), CutShort)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    slack, truedy = FakeSlack(loop), FakeTruedy(loop).start()  # this Slack's credentials, never started
    port = free_port()
    env = installations_env(slack, truedy, port, HOME=str(tmp_path / "home"))
    env["SLACK_API_URL"] = f"http://127.0.0.1:{server.server_address[1]}/api/"
    web = start_web_process(env, tmp_path)
    try:
        start = open_install_page(f"http://127.0.0.1:{port}")
        page = come_back(f"http://127.0.0.1:{port}", start.cookie, code="1234.5678.cutshort", state=start.state)
    finally:
        web.terminate()
        truedy.stop()
        server.shutdown()
        server.server_close()
    assert page.headers.get("content-type", "").startswith("text/html"), (page.status, page.body[:200])
    assert "Nothing was saved" in page.body and 'href="./install"' in page.body
    assert not [line for line in web.log_lines() if "Traceback" in str(line)]
