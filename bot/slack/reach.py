"""Slack at start-up, when the network may not be there yet (a container whose network or DNS comes up after
the process does): the first calls are tried again, backing off, for up to WAIT_SECONDS, with one line every
LOG_SECONDS saying what fails. Slack's own answer (a refused token) is final at once."""

import errno
import json
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import HTTPException
from typing import TypeVar
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.settings import Settings

log = logging.getLogger("bot.slack")

# How long a process waits at start for Slack before giving up (exit 1): longer than a network or DNS takes to
# come up, short enough that a supervisor's restart (and its logs) say something is wrong.
WAIT_SECONDS = 300
# While it waits, one line says what fails this often; Slack is tried on that beat (and more often at first).
LOG_SECONDS = 5
# A try on the beat lasts a little more or less each time (slack_sdk's own quick retry is jittered): a line
# comes at most this much early rather than a beat late.
LINE_LEEWAY_SECONDS = 1
# The first pause between tries; each doubles, up to LOG_SECONDS: a blip costs half a second.
FIRST_RETRY_SECONDS = 0.5
# While it waits, a try gives up on an answer after this long (not the client's 10 s), so that a Slack that takes the
# connection and never answers is said on the beat too: twice this and slack_sdk's own quick retry (after a connect
# that timed out) fit in LOG_SECONDS. auth.test and apps.connections.open answer within a second when Slack is up.
TRY_SECONDS = 2.0
DEFAULT_API_URL = Settings.model_fields["slack_api_url"].default
# How slack_sdk says that a body was not JSON (slack_sdk.web.internal_utils._build_unexpected_body_error_message).
_NOT_JSON = "Received a response in a non-JSON format"

T = TypeVar("T")


class OutOfReach(Exception):
    """Slack stayed out of reach; the message says why in words an operator can act on, without secrets."""


def patiently(
    attempt: Callable[[], T], call: str, api_url: str, client: WebClient, wait_seconds: float | None = None
) -> T:
    """`attempt()`'s answer, tried again while Slack cannot be reached, for up to `wait_seconds` (by default
    WAIT_SECONDS; 0: once). `call` names the Slack method in the waiting lines; `client` is the one `attempt`
    calls through (its timeout is TRY_SECONDS meanwhile). A refusal from Slack (SlackApiError) is raised at once."""
    wait_seconds = WAIT_SECONDS if wait_seconds is None else wait_seconds
    started = time.monotonic()
    retry_in = FIRST_RETRY_SECONDS
    said_at: float | None = None
    with _quiet(logging.getLogger("slack_sdk.web.base_client")), _trying_briefly(client):
        while True:
            tried = time.monotonic() - started
            try:
                return attempt()
            except Exception as error:
                problem = unreachable(error, api_url)
                if problem is None:
                    raise
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                raise OutOfReach(f"{problem}; gave up after {_duration(wait_seconds)}" if wait_seconds else problem)
            if said_at is None or waited - said_at >= LOG_SECONDS - LINE_LEEWAY_SECONDS:
                said_at = waited
                fields = {"event": "slack_unreachable", "call": call, "waited_seconds": round(waited)}
                log.warning(
                    "Slack cannot be reached yet: trying again", extra={"fields": {**fields, "problem": problem}}
                )
            beat = (tried // LOG_SECONDS + 1) * LOG_SECONDS
            time.sleep(max(0.0, min(tried + retry_in, beat, wait_seconds) - waited))
            retry_in = min(retry_in * 2, LOG_SECONDS)


def unreachable(error: BaseException, api_url: str) -> str | None:
    """What `error` from a call to Slack says about the network, for a person to act on; None when it is
    Slack's own answer (a refusal). SLACK_API_URL is named only when the operator changed it."""
    address = urlsplit(api_url).netloc.rpartition("@")[2]  # never a password in the URL
    where = f"cannot reach Slack ({address})"
    if api_url != DEFAULT_API_URL:
        where = f"cannot reach Slack at {address} (SLACK_API_URL)"
    if isinstance(error, SlackApiError):
        status = error.response.status_code
        if str(error.response.get("error") or "").startswith(_NOT_JSON):
            # Not Slack's answer, nor a refusal: something else answered there (its page is not quoted back).
            return (
                f"{where}: what answered is not Slack's API (a web page: a proxy, a captive portal, or an address "
                "that is not Slack's)"
            )
        return f"{where}: Slack answered HTTP {status}, trouble on its side" if status >= 500 else None
    if isinstance(error, json.JSONDecodeError):  # slack_sdk reads a body starting with "{" before checking it
        return f"{where}: its answer was cut short (not whole JSON: a connection dropped on the way?)"
    reason = error.reason if isinstance(error, URLError) and isinstance(error.reason, BaseException) else error
    if isinstance(reason, socket.gaierror):
        return f"{where}: the name does not resolve (DNS, or no network yet)"
    if isinstance(reason, ConnectionRefusedError):
        return f"{where}: connection refused"
    if isinstance(reason, TimeoutError):
        return f"{where}: timed out"
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"{where}: its TLS certificate is not trusted ({reason.verify_message}): a proxy in the way?"
    if isinstance(reason, ssl.SSLError):
        return f"{where}: the TLS handshake failed"
    if isinstance(reason, ConnectionResetError):
        return f"{where}: the connection was dropped"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"{where}: no route to it (no network yet?)"
    if isinstance(error, URLError) and reason is error:
        return f"{where}: {error.reason}"
    if isinstance(reason, OSError | HTTPException):
        strerror = getattr(reason, "strerror", None)
        return f"{where}: {type(reason).__name__}" + (f" ({strerror})" if strerror else "")
    return None


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} minutes" if seconds >= 120 else f"{seconds:g} s"


@contextmanager
def _trying_briefly(client: WebClient) -> Iterator[None]:
    """The client's timeout is TRY_SECONDS while start-up waits (only start-up calls Slack then), then as it was."""
    was = client.timeout
    client.timeout = min(was, TRY_SECONDS)
    try:
        yield
    finally:
        client.timeout = was


@contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """slack_sdk logs every failed try in lines of its own (an error, its own retry): the line every LOG_SECONDS
    says it instead. Only start-up waits here, before any other thread calls Slack."""
    was = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was
