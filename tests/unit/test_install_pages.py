"""The web pages an admin sees (`/`, the install page, the end of an install): one frame, the operator named
only when set, nothing loaded from elsewhere, the app's icon shipped, and what they promise true to the code.
How a browser shows them: tests/e2e/test_installations.py (Chromium)."""

import fnmatch
import re
import struct
import tomllib
from pathlib import Path

import pytest

from bot.slack import install_pages
from bot.slack.install_pages import Operator, install_page, landing
from bot.slack.manifest import BOT_EVENTS, BOT_SCOPES

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "bot" / "slack" / "static"
AUTHORIZE = "https://slack.com/oauth/v2/authorize?client_id=1.2&scope=commands&state=s-1"
FULL = Operator("Acme <Ops> & Co", "https://acme.example/privacy?x=1&y=2", "https://acme.example/help")


def pages(operator: Operator) -> dict[str, str]:
    return {
        "install": install_page(AUTHORIZE, operator),
        "root": landing("/slack/install", operator),
        "root of the web process": landing(None, operator),
    }


@pytest.mark.parametrize("name", ["install", "root", "root of the web process"])
def test_with_no_operator_set_nothing_unset_shows(name):
    page = pages(Operator())[name]
    assert "None" not in page and 'href=""' not in page
    assert "Run by" not in page and "<footer>" not in page and "Privacy" not in page and "Support" not in page


@pytest.mark.parametrize("name", ["install", "root", "root of the web process"])
def test_the_operator_is_named_and_linked_as_set_and_escaped(name):
    page = pages(FULL)[name]
    assert '<span class="by">Run by Acme &lt;Ops&gt; &amp; Co</span>' in page
    assert '<a href="https://acme.example/privacy?x=1&amp;y=2" rel="privacy-policy">Privacy</a>' in page
    assert '<a href="https://acme.example/help">Support</a>' in page


def test_only_the_privacy_page_set_shows_only_its_link():
    page = install_page(AUTHORIZE, Operator(privacy_url="https://acme.example/privacy"))
    assert "<footer><a" in page and "Support" not in page and " · " not in page.split("<footer>")[1]


@pytest.mark.parametrize("name", ["install", "root", "root of the web process"])
def test_every_page_is_one_frame_that_loads_nothing_from_elsewhere(name):
    page = pages(FULL)[name]
    assert page.count(f"<style>{install_pages.STYLE}</style>") == 1
    assert install_pages.ICON in page and '<link rel="icon" href="data:image/svg+xml,' in page
    # No image, script, stylesheet or font to fetch: only links a person follows.
    assert not re.search(r"<(img|script|iframe)\b|\bsrc=|\bsrcset=", page, re.IGNORECASE)
    assert "url(" not in install_pages.STYLE and "@import" not in install_pages.STYLE


def test_the_buttons_to_slack_are_slacks_own_with_the_logo_inline():
    install, root = install_page(AUTHORIZE, Operator()), landing("/slack/install", Operator())
    assert f'<a class="add-to-slack" href="{AUTHORIZE.replace("&", "&amp;")}"' in install
    assert '<a class="add-to-slack" href="/slack/install"' in root
    for page in (install, root):
        assert f"{install_pages.SLACK_LOGO}Add to Slack</a>" in page
    assert "Add to Slack" not in landing(None, Operator())


def test_the_pages_promise_what_the_scopes_and_events_allow():
    """ "It has no scope to read channels": no history or channel-reading scope, and no message event."""
    reading = ("channels:", "groups:", "im:", "mpim:", "reactions:", "files:", "search:")
    assert not [scope for scope in BOT_SCOPES if scope.endswith(":history") or scope.startswith(reading)]
    assert not [event for event in BOT_EVENTS if event.startswith(("message", "app_mention", "reaction"))]
    assert "It has no scope to read channels" in install_page(AUTHORIZE, Operator())


def test_the_pages_promise_what_the_truedy_client_can_do():
    """ "It never creates or edits a campaign": the requests that change anything are the resume and the pause
    (Pause again)."""
    source = (REPO / "bot" / "truedy" / "__init__.py").read_text()
    sent = set(re.findall(r'self\._send\(\s*"\w+",\s*"(\w+)",\s*f?"([^"]+)"', source))
    one = "/batch-calls/{_path_segment(campaign_id)}"
    assert sent == {("POST", f"{one}/resume"), ("POST", f"{one}/pause"), ("GET", one), ("GET", "/batch-calls")}
    assert "never creates or edits a campaign" in landing(None, Operator())
    assert "pauses one only when someone clicks Pause again" in landing(None, Operator())


def test_only_installations_store_a_bot_token_and_welcome_an_installer():
    with_installs, web_process = landing("/slack/install", Operator()), landing(None, Operator())
    assert "bot token Slack gives the app" in with_installs and "whoever installed it" in with_installs
    assert "bot token" not in web_process and "installed it" not in web_process


def test_the_icon_is_a_512_px_png_as_slack_asks_and_a_non_editable_install_ships_it():
    png = (STATIC / "icon.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert 512 <= width == height <= 2000  # Slack: Display Information, 512 to 2000 px, square
    shipped = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["bot.slack"]
    for name in ("icon.png", "icon.svg"):
        assert any(fnmatch.fnmatch(f"static/{name}", pattern) for pattern in shipped), name
    assert (STATIC / "icon.svg").read_text().strip().split("<svg ", 1)[1] in install_pages.ICON  # the pages draw it


def test_readme_tells_to_upload_the_icon_where_slack_asks_for_it():
    readme = (REPO / "README.md").read_text()
    told = readme[readme.index("## Create the Slack app") : readme.index("## Run it")]
    assert told.count("**Basic Information → Display Information → App icon**") >= 1
    assert "bot/slack/static/icon.png" in told
