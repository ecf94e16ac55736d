"""Workspaces install the app themselves (OAuth through the web process's pages), each then served with its
own bot token and its own Truedy key, over HTTP; uninstalled, they are forgotten."""

import hashlib
import hmac
import html
import json
import re
import sqlite3
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.slack.manifest import BOT_SCOPES
from tests.e2e.conftest import (
    KEY_BOT_TEAM,
    Stack,
    free_port,
    installations_env,
    start_stack,
    start_web_process,
    stop_stack,
)
from tests.e2e.test_http_mode import command_body, send
from tests.fakes.browser import come_back, install, open_install_page
from tests.fakes.chromium import CHROMIUM, Chromium, Shown
from tests.fakes.databases import KINDS, fresh_database
from tests.fakes.loop import wait_until
from tests.fakes.slack import BOT_TEAM, CLIENT_ID, FakeSlack
from tests.fakes.truedy import FakeTruedy, campaign
from tests.fakes.worker import WorkerProcess

TEAM_A, INSTALLER_A, KEY_A = "T0AAA0001", "U0INSTA01", "truedy_TeamAKey00000000000000001"
TEAM_B, INSTALLER_B, KEY_B = "T0BBB0002", "U0INSTB01", "truedy_TeamBKey00000000000000002"
# Who runs the bot, as its pages name them.
OPERATOR = {
    "OPERATOR_NAME": "Example Operations Ltd",
    "PRIVACY_URL": "https://example.com/privacy",
    "SUPPORT_URL": "https://example.com/support",
}


@pytest.fixture(scope="module")
def site(loop, tmp_path_factory):
    """One web process that workspaces install from: (stack, base URL)."""
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    workdir, port = tmp_path_factory.mktemp("installs"), free_port()
    # HOME: where Bolt would put its per-host file stores, had it been left to its defaults.
    env = installations_env(
        slack,
        truedy,
        port,
        TRUEDY_READ_TIMEOUT="1",
        HOME=str(workdir / "home"),
        PUBLIC_URL="https://bot.example.com",
        **OPERATOR,
    )
    stack = Stack(slack, truedy, start_web_process(env, workdir), env, workdir)
    yield stack, f"http://127.0.0.1:{port}"
    stack.worker.terminate()
    slack.stop()
    truedy.stop()


def events_url(base: str) -> str:
    return f"{base}/slack/events"


def installations(stack: Stack) -> list[tuple]:
    with sqlite3.connect(stack.workdir / "bot.sqlite3") as database:
        return database.execute("SELECT team_id, user_id FROM slack_installations ORDER BY id").fetchall()


def dm_invitation(stack: Stack, installer: str):
    return wait_until(lambda: stack.slack.posts_in(installer), 10, f"the DM to {installer}")[-1]


def connect(stack: Stack, base: str, team_id: str, installer: str, key: str, user_id: str | None = None, **more_values):
    """Click Connect Truedy in the installer's DM (as `user_id`, by default the installer), then save the key
    (and `more_values`, block id -> element state)."""
    invitation = dm_invitation(stack, installer)
    opened = len(stack.slack.opened_views())
    click = stack.slack.click(
        installer, invitation.answer["ts"], user_id=user_id or installer, team_id=team_id, action_id="open_setup"
    )
    status, _, _ = send(events_url(base), urllib.parse.urlencode({"payload": json.dumps(click)}).encode())
    assert status == 200
    if user_id not in (None, installer):
        return click
    view = wait_until(lambda: stack.slack.opened_views()[opened:], 10, "the setup modal")[0]
    values = {"api_key": {"value": {"type": "plain_text_input", "value": key}}}
    values |= {block: {"value": state} for block, state in more_values.items()}
    submission = stack.slack.view_submission(view["view"], values, user_id=installer, team_id=team_id)
    status, answer, _ = send(events_url(base), urllib.parse.urlencode({"payload": json.dumps(submission)}).encode())
    assert (status, answer) == (200, b""), answer
    return view


@pytest.fixture(scope="module")
def two_workspaces(site):
    """Workspaces A and B installed through the pages and connected with the Connect Truedy button."""
    stack, base = site
    stack.truedy.add(KEY_A, campaign("batch_teama0001"))
    stack.truedy.add(KEY_B, campaign("batch_teamb0001"))
    for team, installer, key in ((TEAM_A, INSTALLER_A, KEY_A), (TEAM_B, INSTALLER_B, KEY_B)):
        page = install(base, stack.slack, team, installer)
        assert page.status == 200, page.body
        connect(stack, base, team, installer, key)
    return stack, base


def test_the_install_page_links_to_slack_with_the_scopes_and_a_state_bound_to_the_browser(site):
    _, base = site
    start = open_install_page(base)
    query = urllib.parse.parse_qs(urllib.parse.urlparse(start.authorize_url).query)
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == ["commands,chat:write,chat:write.public,users:read,usergroups:read"]
    (cookie,) = start.page.cookies
    assert cookie.startswith(f"slack-app-oauth-state={start.state};")
    assert "Secure" in cookie and "HttpOnly" in cookie


def test_the_install_page_is_ours_naming_the_app_what_it_does_and_each_scope_with_why(site):
    _, base = site
    page = open_install_page(base).page.body
    assert "<title>Install Truedy Campaigns</title>" in page and "Slack App Installation" not in page
    assert "/resume-campaign" in page and "Finish in this browser" in page
    for scope, why in BOT_SCOPES.items():
        assert f"<li><code>{scope}</code>: {html.escape(why)}</li>" in page


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here (Debian: apt-get install chromium; .ci/run does)"
)


@pytest.fixture
def browser(loop, tmp_path):
    """Headless Chromium, for one test; its cookies kept from page to page."""
    with Chromium(loop, tmp_path / "profile") as chromium:
        yield chromium
    # Every page loads from the bot alone: nothing from Slack's CDN, no font, no stylesheet from elsewhere.
    assert [url for url in chromium.requested if not url.startswith(("http://127.0.0.1:", "data:", "file:"))] == []


def as_people_see_it(shown: dict[int, Shown], installations: bool = True) -> None:
    """At a phone's width and a desktop's: nothing to scroll sideways, the app's icon and name, who runs it,
    what it stores and never does, and the operator's privacy and support pages."""
    for width, page in shown.items():
        assert not page.scrolls_sideways, f"{page.screenshot}: {page.scroll_width} px wide at {width} px"
        assert page.icon_width == 48, page.screenshot
        assert page.text.startswith(f"Truedy Campaigns\nRun by {OPERATOR['OPERATOR_NAME']}\n"), page.text[:200]
        for told in ("What it stores", "Truedy API key, encrypted at rest", "An audit trail", "Alert records"):
            assert told in page.text, told
        assert ("bot token Slack gives the app at the install, encrypted at rest" in page.text) is installations
        for never in ("Read your messages.", "Post where nobody asked.", "Share a workspace's Truedy key."):
            assert never in page.text, never
        assert "Start or stop calls on its own." in page.text
        assert page.links["Privacy"] == OPERATOR["PRIVACY_URL"] and page.links["Support"] == OPERATOR["SUPPORT_URL"]


@needs_chromium
def test_the_install_page_as_a_real_browser_shows_it(site, browser, tmp_path):
    """Chromium, headless, at 375 and 1280 px: the page we mean, and Slack's own Add to Slack button to Slack's
    authorize URL with this browser's state."""
    _, base = site
    shown = browser.show(f"{base}/slack/install", tmp_path, "install")
    as_people_see_it(shown)
    for page in shown.values():
        assert page.title == "Install Truedy Campaigns"
        assert "<h1>Install Truedy Campaigns</h1>" in page.html and "Finish in this browser" in page.text
        for scope in BOT_SCOPES:
            assert f"<li><code>{scope}</code>:" in page.html
        authorize = urllib.parse.urlparse(page.links["Add to Slack"])
        assert (authorize.scheme, authorize.netloc, authorize.path) == ("https", "slack.com", "/oauth/v2/authorize")
        query = urllib.parse.parse_qs(authorize.query)
        assert query["client_id"] == [CLIENT_ID] and query["state"][0]


@needs_chromium
def test_the_root_page_as_a_real_browser_shows_it_leads_to_the_install_page(site, browser, tmp_path):
    _, base = site
    shown = browser.show(f"{base}/", tmp_path, "root")
    as_people_see_it(shown)
    for page in shown.values():
        assert page.title == "Truedy Campaigns" and "Resume paused Truedy call campaigns" in page.text
        assert page.links["Add to Slack"] == f"{base}/slack/install"


@needs_chromium
def test_the_root_page_of_a_web_process_without_installations_says_what_it_is(loop, browser, tmp_path):
    """No SLACK_CLIENT_ID, and no operator settings: the page says where health is, and shows nothing unset."""
    from tests.e2e.test_http_mode import start_web as start_token_web
    from tests.e2e.test_http_mode import stop_web

    stack, url = start_token_web(loop, tmp_path)
    base = url.removesuffix("/slack/events")
    try:
        shown = browser.show(f"{base}/", tmp_path, "root-web-process")
    finally:
        stop_web(stack)
    for page in shown.values():
        assert not page.scrolls_sideways and page.icon_width == 48, page.screenshot
        assert page.text.startswith("Truedy Campaigns\nTruedy Campaigns\n"), page.text[:200]
        assert "This is the bot's web process" in page.text and page.links == {"/healthz": f"{base}/healthz"}
        assert "What it never does" in page.text and "bot token" not in page.text
        assert "Run by" not in page.text and "None" not in page.text and 'href=""' not in page.html


@needs_chromium
def test_the_browser_check_sees_a_page_that_would_scroll_sideways(browser, tmp_path):
    """What the tests above rely on: a page wider than a phone is seen so (a phone would zoom out to fit it)."""
    wide = tmp_path / "wide.html"
    wide.write_text('<meta name="viewport" content="width=device-width"><p style="width:600px">wide</p>')
    shown = browser.show(wide.as_uri(), tmp_path, "check-wide")
    assert shown[375].scrolls_sideways and not shown[1280].scrolls_sideways


def test_an_install_says_what_to_do_next_and_sends_the_installer_the_connect_button(two_workspaces):
    stack, _ = two_workspaces
    for team, installer in ((TEAM_A, INSTALLER_A), (TEAM_B, INSTALLER_B)):
        invitation = dm_invitation(stack, installer)
        assert invitation.token in stack.slack.tokens_of(team)
        assert "Connect Truedy" in json.dumps(invitation.params["blocks"])
        bot_user = stack.slack.tokens[invitation.token].bot_user_id  # the workspace's own bot user
        assert invitation.params["text"].startswith(f":wave: <@{bot_user}> is installed in *Team {team}*")
    assert [team for team, _ in installations(stack)] == [TEAM_A, TEAM_B]


def test_each_workspace_is_served_with_its_own_token_and_key(two_workspaces):
    stack, base = two_workspaces
    for team, key, campaign_id, channel in (
        (TEAM_A, KEY_A, "batch_teama0001", "C0TEAMA01"),
        (TEAM_B, KEY_B, "batch_teamb0001", "C0TEAMB01"),
    ):
        payload = stack.slack.slash_command(campaign_id, channel_id=channel, team_id=team)
        status, _, seconds = send(events_url(base), command_body(payload))
        assert status == 200 and seconds < 3
        announcement, reply, final = stack.result_in_thread(channel, campaign_id)
        assert "is resumed" in reply.params["text"]
        assert {announcement.token, reply.token, final.token} <= set(stack.slack.tokens_of(team))
        assert [r.authorization for r in stack.truedy.resumes() if campaign_id in r.path] == [f"Bearer {key}"]


def test_a_workspace_that_has_not_installed_is_refused_without_calling_truedy(two_workspaces):
    stack, base = two_workspaces
    before = len(stack.truedy.received)
    payload = stack.slack.slash_command("batch_teama0001", channel_id="C0NOTINST", team_id="T0NOTINST")
    status, _, _ = send(events_url(base), command_body(payload))
    assert status == 200
    told = stack.private_reply(payload)
    assert "not installed in this workspace" in told["text"]
    assert len(stack.truedy.received) == before and stack.slack.posts_in("C0NOTINST") == []


def test_only_the_installer_and_admins_may_connect(two_workspaces):
    stack, base = two_workspaces
    opened = len(stack.slack.opened_views())
    click = connect(stack, base, TEAM_A, INSTALLER_A, KEY_A, user_id="U0NOBODY1")
    told = stack.private_reply(click)
    assert "Only workspace admins and owners, and whoever installed the app" in told["text"]
    assert stack.slack.opened_views()[opened:] == []


@pytest.mark.parametrize("how", ["no cookie", "another state", "state used before", "cancelled", "no code"])
def test_a_bad_state_or_a_cancelled_install_stores_nothing_and_offers_to_start_again(site, how):
    stack, base = site
    start = open_install_page(base)
    code = stack.slack.approve_install("T0BADSTATE", "U0BAD0001")
    if how == "state used before":
        other = open_install_page(base)
        assert (
            come_back(base, other.cookie, code=stack.slack.approve_install("T0REUSED1", "U1"), state=other.state).status
            == 200
        )
        start = other
    before_installs, before_exchanges = len(installations(stack)), len(stack.slack.calls_to("oauth.v2.access"))
    page = {
        "no cookie": lambda: come_back(base, None, code=code, state=start.state),
        "another state": lambda: come_back(base, start.cookie, code=code, state="00000000-0000-0000-0000-000000000000"),
        "state used before": lambda: come_back(base, start.cookie, code=code, state=start.state),
        "cancelled": lambda: come_back(base, start.cookie, error="access_denied", state=start.state),
        "no code": lambda: come_back(base, start.cookie, state=start.state),
    }[how]()
    assert page.status in (200, 400, 401)
    assert "was not installed" in page.body and 'href="./install"' in page.body
    assert len(stack.slack.calls_to("oauth.v2.access")) == before_exchanges
    assert len(installations(stack)) == before_installs


@needs_chromium
def test_the_end_of_an_install_as_a_real_browser_shows_it(site, browser, tmp_path):
    """Installed, then cancelled, each seen at 375 and 1280 px, the state cookie carried by Chromium itself."""
    stack, base = site

    def state_from_the_install_page(name: str) -> str:
        link = browser.show(f"{base}/slack/install", tmp_path, name, widths=(1280,))[1280].links["Add to Slack"]
        return urllib.parse.parse_qs(urllib.parse.urlparse(link).query)["state"][0]

    state = state_from_the_install_page("before-installed")
    code = stack.slack.approve_install("T0BROWSE1", "U0BROWSE1")
    installed = browser.show(f"{base}/slack/oauth_redirect?code={code}&state={state}", tmp_path, "installed")
    as_people_see_it(installed)
    for page in installed.values():
        assert "Truedy Campaigns is installed in Team T0BROWSE1" in page.text and "Connect Truedy" in page.text
        assert page.links["Open Slack"] == "https://app.slack.com/client/T0BROWSE1"
    assert "T0BROWSE1" in [team for team, _ in installations(stack)]

    state = state_from_the_install_page("before-cancelled")
    cancelled = browser.show(f"{base}/slack/oauth_redirect?error=access_denied&state={state}", tmp_path, "cancelled")
    as_people_see_it(cancelled)
    for page in cancelled.values():
        assert "Truedy Campaigns was not installed" in page.text and "cancelled on Slack's page" in page.text
        assert "Nothing was saved" in page.text
        assert page.links["Start the install again"] == f"{base}/slack/install"


def test_the_root_page_leads_to_the_install_page(site):
    _, base = site
    with urllib.request.urlopen(f"{base}/", timeout=5) as response:
        page = response.read().decode()
    assert response.status == 200 and '<a class="add-to-slack" href="/slack/install"' in page
    assert "</svg>Add to Slack</a>" in page  # Slack's own button, its logo inline


def test_slack_out_of_reach_at_the_code_exchange_gives_the_start_again_page(site):
    stack, base = site
    start = open_install_page(base)
    code = stack.slack.approve_install("T0NOSLACK1", "U0NOSLACK")
    before = len(installations(stack))
    stack.slack.fail("oauth.v2.access", "connection_dropped", times=10)  # every retry too
    try:
        page = come_back(base, start.cookie, code=code, state=start.state)
    finally:
        stack.slack.recover("oauth.v2.access")
    assert page.status == 502
    assert "could not reach Slack" in page.body and "Nothing was saved" in page.body
    assert 'href="./install"' in page.body
    assert len(installations(stack)) == before
    assert not [line for line in stack.worker.log_lines() if "Traceback" in str(line)]


def test_no_bot_token_is_stored_in_plain_text_and_nothing_in_files(two_workspaces):
    stack, _ = two_workspaces
    stored = (stack.workdir / "bot.sqlite3").read_bytes() + (stack.workdir / "bot.sqlite3-wal").read_bytes()
    tokens = stack.slack.tokens_of(TEAM_A) + stack.slack.tokens_of(TEAM_B)
    assert tokens and not any(token.encode() in stored for token in tokens)
    assert not any(key.encode() in stored for key in (KEY_A, KEY_B))
    assert list((stack.workdir / "home").glob(".bolt-app*")) == []  # no per-host file store of installations


def test_the_token_mode_has_no_install_pages(loop, tmp_path):
    from tests.e2e.test_http_mode import start_web as start_token_web
    from tests.e2e.test_http_mode import stop_web

    stack, url = start_token_web(loop, tmp_path)
    try:
        for path in ("/slack/install", "/slack/oauth_redirect?code=x&state=y"):
            with pytest.raises(urllib.error.HTTPError) as raised:
                urllib.request.urlopen(url.replace("/slack/events", path), timeout=10)
            assert raised.value.code == 404
    finally:
        stop_web(stack)


def uninstall_event(stack: Stack, base: str, team_id: str, event_time: float | None = None, kind="app_uninstalled"):
    fields = (
        {"tokens": {"bot": [stack.slack.tokens[stack.slack.tokens_of(team_id)[-1]].bot_user_id]}}
        if kind == "tokens_revoked"
        else {}
    )
    body = json.dumps(stack.slack.event(kind, team_id, event_time, **fields)).encode()
    status, _, _ = send(events_url(base), body, content_type="application/json")
    assert status == 200


@pytest.mark.parametrize("kind", ["app_uninstalled", "tokens_revoked"])
def test_uninstall_forgets_the_workspace_and_a_late_event_does_not_undo_a_reinstall(site, kind):
    stack, base = site
    team, installer = ("T0UNINST1", "U0UNINST1") if kind == "app_uninstalled" else ("T0REVOKE1", "U0REVOKE1")
    key = f"truedy_{team}Key000000000001"
    stack.truedy.add(key, campaign(f"batch_{team.lower()}1"))
    assert install(base, stack.slack, team, installer).status == 200
    connect(stack, base, team, installer, key)
    before = time.time() - 1

    uninstall_event(stack, base, team, kind=kind)
    stack.slack.revoke(team)
    wait_until(lambda: stack.worker.logged("uninstalled"), 10, "the uninstall")
    assert team not in [t for t, _ in installations(stack)]
    with sqlite3.connect(stack.workdir / "bot.sqlite3") as database:
        assert database.execute("SELECT count(*) FROM workspaces WHERE team_id = ?", (team,)).fetchone() == (0,)
    payload = stack.slack.slash_command(f"batch_{team.lower()}1", channel_id="C0GONE001", team_id=team)
    send(events_url(base), command_body(payload))
    assert "not installed in this workspace" in stack.private_reply(payload)["text"]

    assert install(base, stack.slack, team, installer).status == 200
    uninstall_event(stack, base, team, event_time=before, kind=kind)  # a retry of the first, arriving late
    assert team in [t for t, _ in installations(stack)]


def test_after_an_uninstall_and_a_reinstall_the_first_alert_goes_out_with_the_new_token(site):
    """The watcher keeps each workspace's client between polls; a reinstall (setup again) is a new one."""
    stack, base = site
    team, installer, key, channel = "T0REINST1", "U0REINST1", "truedy_T0REINST1Key0000000001", "C0REINST1"
    chosen = {"alert_channel": {"type": "conversations_select", "selected_conversation": channel}}
    stack.truedy.add(key, campaign("batch_reinst0001"))
    assert install(base, stack.slack, team, installer).status == 200
    connect(stack, base, team, installer, key, **chosen)
    (first,) = wait_until(lambda: stack.slack.posts_in(channel), 10, "the first alert")

    uninstalls = len(stack.worker.logged("uninstalled"))
    uninstall_event(stack, base, team)
    stack.slack.revoke(team)
    wait_until(lambda: len(stack.worker.logged("uninstalled")) > uninstalls, 10, "the uninstall")
    stack.truedy.add(key, campaign("batch_reinst0002"))
    assert install(base, stack.slack, team, installer).status == 200
    connect(stack, base, team, installer, key, **chosen)

    # A reinstall starts afresh: both paused campaigns are alerted, each at the first try, with the new token.
    posts = wait_until(lambda: (p := stack.slack.posts_in(channel))[2:] and p, 10, "the alerts after the reinstall")
    assert [call.answer["ok"] for call in posts] == [True, True, True]
    assert {call.token for call in posts[1:]} == set(stack.slack.tokens_of(team)) != {first.token}


GRID, GRID_ADMIN = "E0GRID001", "U0GRIDADM"


def post(stack: Stack, base: str, payload: dict) -> None:
    status, answer, _ = send(events_url(base), urllib.parse.urlencode({"payload": json.dumps(payload)}).encode())
    assert status == 200, answer


def test_an_org_wide_install_serves_each_workspace_of_the_organisation_with_its_own_key(site):
    """Enterprise Grid: one install for the organisation; each workspace (the payload's team) connects its
    own Truedy key; a member of another workspace of the organisation may click, an outsider may not."""
    stack, base = site
    page = install(base, stack.slack, None, GRID_ADMIN, enterprise_id=GRID, org_wide=True)
    assert page.status == 200 and "/workspaces/add" in page.body and "Truedy Campaigns is installed" in page.body
    (org_token,) = stack.slack.tokens_of(None, GRID)
    keys = {"T0GRIDA01": "truedy_GridTeamAKey0000000000001", "T0GRIDB02": "truedy_GridTeamBKey0000000000002"}
    for team, key in keys.items():
        stack.truedy.add(key, campaign(f"batch_{team.lower()}"))
        # The installer connects each workspace with /resume-campaign setup (admins of it could too).
        opened = len(stack.slack.opened_views())
        command = stack.slack.slash_command("setup", user_id=GRID_ADMIN, team_id=team, enterprise_id=GRID)
        send(events_url(base), command_body(command))
        view = wait_until(lambda o=opened: stack.slack.opened_views()[o:], 10, "the setup modal")[0]
        values = {"api_key": {"value": {"type": "plain_text_input", "value": key}}}
        post(stack, base, stack.slack.view_submission(view["view"], values, GRID_ADMIN, team, GRID))

    for team, key in keys.items():
        campaign_id, channel = f"batch_{team.lower()}", f"C0{team[2:]}"
        command = stack.slack.slash_command(campaign_id, channel_id=channel, team_id=team, enterprise_id=GRID)
        send(events_url(base), command_body(command))
        announcement, reply, _ = stack.result_in_thread(channel, campaign_id)
        assert "is resumed" in reply.params["text"] and announcement.token == org_token
        assert [r.authorization for r in stack.truedy.resumes() if campaign_id in r.path] == [f"Bearer {key}"]

    # An alert in workspace A: a member of workspace B of the same organisation may resume it, a guest from
    # another organisation may not.
    stack.truedy.add(keys["T0GRIDA01"], campaign("batch_gridclick1"), campaign("batch_gridclick2"))
    for campaign_id, user, user_team in (
        ("batch_gridclick1", "U0OUTSIDE", "T0ELSEWHR"),
        ("batch_gridclick2", "W0GRIDB01", "T0GRIDB02"),
    ):
        stack.slack.enterprise_users["W0GRIDB01"] = GRID
        ts = stack.slack.add_message(
            "C0GRIDALR", [{"type": "actions", "elements": [_resume_button(campaign_id)]}], "paused"
        )
        click = stack.slack.click("C0GRIDALR", ts, user, user_team, "T0GRIDA01", enterprise_id=GRID)
        post(stack, base, click)
        if user == "U0OUTSIDE":
            assert "guest from another organisation" in stack.private_reply(click)["text"]
            assert stack.truedy.status_of(keys["T0GRIDA01"], campaign_id) == "paused"
        else:
            wait_until(lambda c=campaign_id: stack.truedy.status_of(keys["T0GRIDA01"], c) == "running", 10, "resume")


def test_a_modal_from_a_slack_connect_channel_saves_for_the_workspace_that_installed(two_workspaces):
    """`view.app_installed_team_id` names the workspace; the submitter's own team does not."""
    stack, base = two_workspaces
    opened = len(stack.slack.opened_views())
    command = stack.slack.slash_command("setup", user_id=INSTALLER_A, team_id=TEAM_A)
    send(events_url(base), command_body(command))
    view = wait_until(lambda: stack.slack.opened_views()[opened:], 10, "the setup modal")[0]
    values = {
        "alert_channel": {"value": {"type": "conversations_select", "selected_conversation": "C0CONNECT"}},
    }
    submission = stack.slack.view_submission(view["view"], values, INSTALLER_A, TEAM_B, installed_team_id=TEAM_A)
    post(stack, base, submission)
    for team, channel in ((TEAM_A, "<#C0CONNECT>"), (TEAM_B, "none")):
        status = stack.slack.slash_command("status", team_id=team)
        send(events_url(base), command_body(status))
        assert f"• Alert channel: {channel}" in stack.private_reply(status)["text"]


def _resume_button(campaign_id: str) -> dict:
    return {
        "type": "button",
        "action_id": "resume_campaign",
        "value": campaign_id,
        "text": {"type": "plain_text", "text": "Resume"},
    }


def test_a_reinstall_over_a_live_installation_keeps_everything(two_workspaces):
    stack, base = two_workspaces
    before = stack.slack.tokens_of(TEAM_A)
    assert install(base, stack.slack, TEAM_A, INSTALLER_A).status == 200  # e.g. to grant new scopes
    newest = [token for token in stack.slack.tokens_of(TEAM_A) if token not in before]
    assert len(newest) == 1
    invitation = dm_invitation(stack, INSTALLER_A)
    assert "already connected to Truedy (key ending `0001`)" in invitation.params["text"]
    stack.truedy.add(KEY_A, campaign("batch_teama0002"))
    send(
        events_url(base),
        command_body(stack.slack.slash_command("batch_teama0002", channel_id="C0REINST1", team_id=TEAM_A)),
    )
    announcement, reply, _ = stack.result_in_thread("C0REINST1", "batch_teama0002")
    assert "is resumed" in reply.params["text"] and announcement.token == newest[0]


def test_moving_from_one_bot_token_to_installations_keeps_the_workspaces_key_and_settings(loop, tmp_path):
    stack = start_stack(loop, tmp_path)
    try:
        stack.slack.admins.add("U0ADMIN01")
        values = {
            "alert_channel": {"value": {"type": "conversations_select", "selected_conversation": "C0KEPT001"}},
            "allowed_users": {"value": {"type": "multi_users_select", "selected_users": ["U0ALICE01"]}},
        }
        _, ack = stack.run_setup(BOT_TEAM, values)
        assert ack.payload in (None, {})
        assert stack.worker.terminate() == 0

        port = free_port()
        env = installations_env(stack.slack, stack.truedy, port)
        stack.worker = WorkerProcess(env, tmp_path)
        stack.worker.wait_started(stack.slack)
        stack.web, stack.site = start_web_process(env, tmp_path), f"http://127.0.0.1:{port}"
        stack.install(BOT_TEAM)
        stack.truedy.add(KEY_BOT_TEAM, campaign("batch_moved0001"))
        _, ack = stack.command("batch_moved0001", channel_id="C0MOVED01")
        _, reply, _ = stack.result_in_thread("C0MOVED01", "batch_moved0001")
        assert "is resumed" in reply.params["text"]
        assert [r.authorization for r in stack.truedy.resumes() if "batch_moved0001" in r.path] == [
            f"Bearer {KEY_BOT_TEAM}"
        ]
        status, _ = stack.command("status")
        text = stack.private_reply(status)["text"]
        assert "• Alert channel: <#C0KEPT001>" in text and "• Who may resume: <@U0ALICE01>" in text
    finally:
        stop_stack(stack)


@pytest.mark.parametrize("kind", KINDS)
def test_two_web_processes_share_installs_claims_and_polling(loop, tmp_path, kind):
    """An install started on one web process finishes on the other; a double click landing on both makes
    one Truedy request; each pause is alerted once however many processes poll."""
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    with fresh_database(kind, tmp_path) as database_url:
        ports = free_port(), free_port()
        processes = []
        try:
            for number, port in enumerate(ports):
                folder = tmp_path / f"web{number}"
                folder.mkdir()
                env = installations_env(slack, truedy, port, DATABASE_URL=database_url, PAUSED_POLL_SECONDS="1")
                processes.append(start_web_process(env, folder))
            first, second = (f"http://127.0.0.1:{port}" for port in ports)
            start = open_install_page(first)
            page = come_back(second, start.cookie, code=slack.approve_install(TEAM_A, INSTALLER_A), state=start.state)
            assert page.status == 200, page.body
            truedy.add(KEY_A, *(campaign(f"batch_shared{n:04d}") for n in range(5)))  # no digest: 5 alerts
            values = {
                "api_key": {"value": {"type": "plain_text_input", "value": KEY_A}},
                "alert_channel": {"value": {"type": "conversations_select", "selected_conversation": "C0SHARED1"}},
            }
            stack = Stack(slack, truedy, processes[0], env, tmp_path)
            opened = len(slack.opened_views())
            send(events_url(first), command_body(slack.slash_command("setup", user_id=INSTALLER_A, team_id=TEAM_A)))
            view = wait_until(lambda: slack.opened_views()[opened:], 10, "the setup modal")[0]
            post(stack, second, slack.view_submission(view["view"], values, INSTALLER_A, TEAM_A))

            alerts = wait_until(
                lambda: len(slack.posts_in("C0SHARED1")) >= 5 and slack.posts_in("C0SHARED1"), 20, "5 alerts"
            )
            polls = len(truedy.lists())
            wait_until(lambda: len(truedy.lists()) >= polls + 3, 15, "three more polls")
            texts = [call.params["text"] for call in slack.posts_in("C0SHARED1")]
            assert len(texts) == 5 and len(set(texts)) == 5
            assert {call.token for call in alerts} == set(slack.tokens_of(TEAM_A))

            ts = alerts[0].answer["ts"]
            campaign_id = next(
                element["value"]
                for block in alerts[0].params["blocks"]
                for element in block.get("elements", [])
                if element.get("action_id") == "resume_campaign"
            )
            truedy.delay = 0.5
            clicks = [slack.click("C0SHARED1", ts, user_id=user, team_id=TEAM_A) for user in ("U0BOB0001", "U0CAROL01")]
            for base, click in zip((first, second), clicks, strict=True):
                post(stack, base, click)
            wait_until(
                lambda: [c for c in slack.posts_in("C0SHARED1") if c.params.get("thread_ts") == ts], 10, "the result"
            )
            assert len([r for r in truedy.resumes() if campaign_id in r.path]) == 1
        finally:
            for process in processes:
                process.terminate()
            slack.stop()
            truedy.stop()


def test_finding_a_requests_installation_asks_slack_nothing_per_request(two_workspaces):
    """Bolt's default authorizer calls auth.test (~0.3 s) on every request, or with its cache once per token and
    process; here the stored installation is enough, so a burst is acked within Slack's 3 s however slow
    auth.test is."""
    stack, base = two_workspaces
    stack.slack.auth_test_seconds = 0.3
    try:
        before = len(stack.slack.calls_to("auth.test"))
        payloads = [
            stack.slack.slash_command("status", team_id=team, user_id=f"U0BURST{n:02d}")
            for n in range(20)
            for team in (TEAM_A, TEAM_B)
        ]
        with ThreadPoolExecutor(8) as senders:
            answers = list(senders.map(lambda payload: send(events_url(base), command_body(payload)), payloads))
        assert all(status == 200 for status, _, _ in answers)
        assert max(seconds for _, _, seconds in answers) < 3
        assert len(stack.slack.calls_to("auth.test")) == before
    finally:
        stack.slack.auth_test_seconds = 0.0


def test_a_workspaces_own_webhook_brings_its_alerts_at_once(two_workspaces):
    """Polls come every 60 s here (this workspace's first one 28 s after setup); its webhook brings it now."""
    stack, base = two_workspaces
    connect(
        stack,
        base,
        TEAM_B,
        INSTALLER_B,
        KEY_B,
        alert_channel={"type": "conversations_select", "selected_conversation": "C0HOOKB01"},
        webhook_secret={"type": "plain_text_input", "value": "whsec_TeamBWebhookSecret0001"},
    )
    status = stack.slack.slash_command("status", team_id=TEAM_B)
    send(events_url(base), command_body(status))
    text = stack.private_reply(status)["text"]
    path = re.search(r"/truedy/webhook/[A-Za-z0-9_-]+", text).group(0)
    assert "(signing secret saved)" in text and "whsec_" not in text
    stack.truedy.add(KEY_B, campaign("batch_hookb0001"))
    body = json.dumps({"event": "batch.status.changed", "data": {"batch_id": "batch_hookb0001", "status": "paused"}})
    stamp = str(int(time.time()))
    signature = hmac.new(b"whsec_TeamBWebhookSecret0001", f"{stamp}.{body}".encode(), hashlib.sha256).hexdigest()
    delivery = urllib.request.Request(
        base + path,
        data=body.encode(),
        headers={"Content-Type": "application/json", "X-Truedy-Timestamp": stamp, "X-Truedy-Signature": signature},
    )
    with urllib.request.urlopen(delivery, timeout=10) as answer:
        assert answer.status == 204
    (alert,) = wait_until(lambda: stack.slack.posts_in("C0HOOKB01"), 15, "the alert")
    assert alert.token in stack.slack.tokens_of(TEAM_B)


def test_the_alert_command_needs_a_team_and_posts_with_its_token(two_workspaces):
    stack, _ = two_workspaces
    stack.truedy.add(KEY_A, campaign("batch_clialert1"))
    refused = stack.run_bot("alert", "batch_clialert1", "--channel", "C0CLIALRT")
    assert refused.returncode == 1
    assert refused.stderr.strip().endswith(
        "alert not posted: --team T… is required: workspaces install the app, so say which workspace's alert this is"
    )
    not_installed = stack.run_bot("alert", "batch_clialert1", "--channel", "C0CLIALRT", "--team", "T0NOTINST")
    assert not_installed.returncode == 1
    assert not_installed.stderr.strip().endswith("alert not posted: workspace T0NOTINST has not installed the app")
    ts = stack.post_alert("batch_clialert1", "C0CLIALRT", "--team", TEAM_A)
    (alert,) = stack.slack.posts_in("C0CLIALRT")
    assert alert.answer["ts"] == ts and alert.token in stack.slack.tokens_of(TEAM_A)


def test_sigterm_mid_burst_finishes_every_installed_workspaces_acked_requests(loop, tmp_path):
    """Two installed workspaces, a burst from both over HTTP, then SIGTERM: every acked resume finishes and
    is reported with its own workspace's token and key, and the process exits 0 within 25 s."""
    slack, truedy = FakeSlack(loop).start(), FakeTruedy(loop).start()
    port = free_port()
    web = start_web_process(installations_env(slack, truedy, port), tmp_path)
    stack, base = Stack(slack, truedy, web, {}, tmp_path), f"http://127.0.0.1:{port}"
    try:
        for team, installer, key in ((TEAM_A, INSTALLER_A, KEY_A), (TEAM_B, INSTALLER_B, KEY_B)):
            truedy.add(key)
            assert install(base, slack, team, installer).status == 200
            connect(stack, base, team, installer, key)
        truedy.delay = 0.5
        sent = []
        for n in range(20):
            team, key = (TEAM_A, KEY_A) if n % 2 else (TEAM_B, KEY_B)
            campaign_id = f"batch_term{n:04d}"
            truedy.add(key, campaign(campaign_id))
            status, _, _ = send(
                events_url(base), command_body(slack.slash_command(campaign_id, "U0ALICE01", "C0TERMINS", team))
            )
            assert status == 200
            sent.append((campaign_id, team, key))
        stopping = time.monotonic()
        assert web.terminate() == 0
        assert time.monotonic() - stopping < 25
        replies = [c for c in slack.posts_in("C0TERMINS") if c.params.get("thread_ts")]
        for campaign_id, team, key in sent:
            (reply,) = [c for c in replies if f"`{campaign_id}` is resumed" in c.params["text"]]
            assert reply.token in slack.tokens_of(team)
            assert [r.authorization for r in truedy.resumes() if campaign_id in r.path] == [f"Bearer {key}"]
        assert web.logged("web_stopped")[0]["unfinished"] == 0
    finally:
        web.terminate()
        slack.stop()
        truedy.stop()


def test_a_workflow_step_over_http_resumes_with_the_key_of_the_workspace_whose_workflow_runs_it(two_workspaces):
    stack, base = two_workspaces
    for team, key, installer, campaign_id in (
        (TEAM_A, KEY_A, INSTALLER_A, "batch_stepa0001"),
        (TEAM_B, KEY_B, INSTALLER_B, "batch_stepb0001"),
    ):
        stack.truedy.add(key, campaign(campaign_id))
        run, event = stack.slack.step_event(
            "resume_campaign", {"campaign": campaign_id, "acting_user": installer}, team_id=team
        )
        status, _, _ = send(events_url(base), json.dumps(event).encode(), content_type="application/json")
        assert status == 200
        assert stack.slack.step_ending(run).params["outputs"]["campaign_id"] == campaign_id
        (resume,) = [r for r in stack.truedy.resumes() if campaign_id in r.path]
        assert resume.authorization == f"Bearer {key}"
