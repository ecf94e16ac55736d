"""A browser going through the install: the bot's install page, Slack's approval (the fake's), and the bot's
redirect page, carrying the state cookie as a browser would."""

import html
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message

from tests.fakes.slack import FakeSlack


@dataclass
class Page:
    status: int
    headers: Message
    body: str

    @property
    def cookies(self) -> list[str]:
        return self.headers.get_all("Set-Cookie") or []


def get(url: str, cookie: str | None = None) -> Page:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return Page(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as error:
        return Page(error.code, error.headers, error.read().decode())


@dataclass
class InstallStart:
    page: Page
    authorize_url: str
    state: str
    cookie: str  # what the browser sends back: name=value


def open_install_page(base_url: str) -> InstallStart:
    page = get(f"{base_url}/slack/install")
    assert page.status == 200, page.body
    link = html.unescape(re.search(r'href="(https://slack\.com/oauth/v2/authorize\?[^"]+)"', page.body).group(1))
    state = urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["state"][0]
    (set_cookie,) = page.cookies
    return InstallStart(page, link, state, set_cookie.split(";")[0])


def come_back(base_url: str, cookie: str | None, **query: str) -> Page:
    """The browser, sent back by Slack to the redirect page with `query` (code and state, or error)."""
    return get(f"{base_url}/slack/oauth_redirect?{urllib.parse.urlencode(query)}", cookie)


def install(base_url: str, slack: FakeSlack, team_id: str, user_id: str, **approval) -> Page:
    start = open_install_page(base_url)
    code = slack.approve_install(team_id, user_id, **approval)
    return come_back(base_url, start.cookie, code=code, state=start.state)
