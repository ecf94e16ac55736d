"""Review 3, the web pages: `/`, the install page and the pages at the end of an install, as served by the web
process (headers, what is logged) and as Chromium shows them."""

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


