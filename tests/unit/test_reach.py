"""Slack at start-up: tried again while the network is not there, one line every 5 s, giving up after 5 minutes
(exit 1); Slack's refusals are final at once; every failure said in words an operator can act on."""

import itertools
import json
import logging
import socket
import ssl
import sys
import threading
from functools import partial
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot import __main__ as bot_main
from bot.log import configure_logging
from bot.slack import reach
from bot.slack.reach import OutOfReach, patiently, unreachable
from tests.fakes.worker import ENCRYPTION_KEY

DEFAULT = "https://slack.com/api/"
DNS = URLError(socket.gaierror(-2, "Name or service not known"))


class Clock:
    """time as reach sees it: sleeping moves it on at once; each try takes `try_seconds`."""

    def __init__(self, try_seconds: float = 0.0):
        self.now = 0.0
        self.try_seconds = try_seconds

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(reach, "time", clock)
    return clock


def failing(clock: Clock, error: Exception, times: int = 10**9, answer: object = "answered"):
    tries = []

    def attempt():
        tries.append(clock.now)
        clock.now += clock.try_seconds
        if len(tries) <= times:
            raise error
        return answer

    return attempt, tries


def waiting_lines(caplog) -> list[dict]:
    return [
        record.fields for record in caplog.records if getattr(record, "fields", {}).get("event") == "slack_unreachable"
    ]


def test_a_network_not_there_yet_is_tried_again_with_a_line_every_5_seconds_until_it_answers(clock, caplog):
    attempt, tries = failing(clock, DNS, times=9)
    assert patiently(attempt, "auth.test", DEFAULT, WebClient()) == "answered"
    assert tries[:4] == [0.0, 0.5, 1.5, 3.5]  # backing off…
    assert tries[4:] == [5.0, 10.0, 15.0, 20.0, 25.0, 30.0]  # …to one try every 5 s
    lines = waiting_lines(caplog)
    assert [line["waited_seconds"] for line in lines] == [0, 5, 10, 15, 20, 25]
    assert {line["call"] for line in lines} == {"auth.test"}
    assert {line["problem"] for line in lines} == {
        "cannot reach Slack (slack.com): the name does not resolve (DNS, or no network yet)"
    }


def test_slow_tries_still_say_what_fails_about_every_5_seconds(clock, caplog):
    clock.try_seconds = 3.0  # e.g. a DNS server slow to answer: a line at most a try late
    attempt, _ = failing(clock, URLError(TimeoutError("timed out")), times=8)
    patiently(attempt, "auth.test", DEFAULT, WebClient())
    waited = [line["waited_seconds"] for line in waiting_lines(caplog)]
    assert len(waited) >= 4 and all(5 <= later - earlier <= 5 + 3 for earlier, later in itertools.pairwise(waited))


def test_after_5_minutes_it_gives_up_in_one_line(clock, caplog):
    attempt, tries = failing(clock, URLError(ConnectionRefusedError(111, "Connection refused")))
    with pytest.raises(OutOfReach) as gave_up:
        patiently(attempt, "apps.connections.open", DEFAULT, WebClient())
    assert str(gave_up.value) == "cannot reach Slack (slack.com): connection refused; gave up after 5 minutes"
    assert tries[-1] == reach.WAIT_SECONDS == 300
    assert len(waiting_lines(caplog)) == 300 // 5


def test_a_refusal_from_slack_is_final_at_once(clock):
    refused = SlackApiError(
        "invalid_auth",
        SlackResponse(
            client=None,
            http_verb="POST",
            api_url=DEFAULT,
            req_args={},
            data={"ok": False, "error": "invalid_auth"},
            headers={},
            status_code=200,
        ),
    )
    attempt, tries = failing(clock, refused)
    with pytest.raises(SlackApiError):
        patiently(attempt, "auth.test", DEFAULT, WebClient())
    assert tries == [0.0]


def test_slacks_own_trouble_is_tried_again():
    trouble = SlackApiError(
        "oops",
        SlackResponse(
            client=None, http_verb="POST", api_url=DEFAULT, req_args={}, data={"ok": False}, headers={}, status_code=503
        ),
    )
    assert (
        unreachable(trouble, DEFAULT) == "cannot reach Slack (slack.com): Slack answered HTTP 503, trouble on its side"
    )


@pytest.mark.parametrize(
    "error, said",
    [
        (DNS, "the name does not resolve (DNS, or no network yet)"),
        (URLError(ConnectionRefusedError(111, "Connection refused")), "connection refused"),
        (URLError(TimeoutError("timed out")), "timed out"),
        (TimeoutError("The read operation timed out"), "timed out"),
        (ConnectionResetError(104, "Connection reset by peer"), "the connection was dropped"),
        (URLError(OSError(101, "Network is unreachable")), "no route to it (no network yet?)"),
        (URLError(ssl.SSLError(1, "wrong version number")), "the TLS handshake failed"),
    ],
)
def test_each_failure_is_said_in_words_a_person_can_act_on_never_blaming_the_default_url(error, said):
    assert unreachable(error, DEFAULT) == f"cannot reach Slack (slack.com): {said}"


def test_an_untrusted_certificate_says_so():
    error = ssl.SSLCertVerificationError(1, "certificate verify failed")
    error.verify_message = "self-signed certificate in certificate chain"
    assert unreachable(URLError(error), DEFAULT) == (
        "cannot reach Slack (slack.com): its TLS certificate is not trusted (self-signed certificate in certificate "
        "chain): a proxy in the way?"
    )


def test_slack_api_url_is_named_only_when_the_operator_set_it_and_never_its_password():
    said = unreachable(DNS, "https://user:s3cret@slack.proxy.internal:8443/api/")
    assert said == (
        "cannot reach Slack at slack.proxy.internal:8443 (SLACK_API_URL): the name does not resolve (DNS, or no "
        "network yet)"
    )


def test_what_is_not_the_network_is_not_waited_for():
    assert unreachable(ValueError("a bug"), DEFAULT) is None


def test_a_worker_that_never_reaches_slack_exits_1_with_one_line(monkeypatch, tmp_path, capsys):
    """In process, with the wait cut to 3 s: `python -m bot` gives up on auth.test as it would after 5 minutes."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "SLACK_BOT_TOKEN": "xoxb-1-never-reached",
        "SLACK_APP_TOKEN": "xapp-1-never-reached",
        "BOT_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "SLACK_API_URL": f"http://127.0.0.1:{port}/api/",
        "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3",
    }.items():
        monkeypatch.setenv(name, value)
    # One try is slack_sdk's own two (a jittered 0.5 to 1.5 s apart): 3 s leaves room for a waiting line after it.
    monkeypatch.setattr(reach, "WAIT_SECONDS", 3)
    # main configures logging for the process: put back what pytest had once it is done.
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    monkeypatch.setattr(bot_main, "configure_logging", partial(configure_logging, stream=sys.stdout))  # capsys's

    assert bot_main.main([]) == 1

    out, err = capsys.readouterr()
    assert err.splitlines() == [
        f"cannot start: cannot reach Slack at 127.0.0.1:{port} (SLACK_API_URL): connection refused; gave up after 3 s"
    ]
    (waiting, *_) = [json.loads(line) for line in out.splitlines() if "slack_unreachable" in line]
    assert waiting["call"] == "auth.test" and waiting["level"] == "warning"
    assert "never-reached" not in out + err
