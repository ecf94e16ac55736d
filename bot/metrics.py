"""What an operations team watches, in Prometheus' text format (prometheus_client), all under `truedy_bot_`:

- `resumes_total{via, outcome, reason}`: every resume attempt once, as audited. `via`: command, button, list,
  schedule, workflow, resume_all; `outcome`: resumed, not_resumed, unknown (it may have resumed: no clear
  answer); `reason`: why not, or what left it unknown (`key_rejected`, `not_resumable`, `no_answer`, …), else "".
- `truedy_request_duration_seconds{endpoint, status_class}` (histogram): every request to Truedy; `status_class`
  2xx, 4xx, 5xx, or `none` (no answer, or no connection).
- `truedy_rate_limited_total{endpoint}` and `truedy_rate_limit_wait_seconds` (histogram): Truedy's 429s, and the
  wait each asked for.
- `ack_duration_seconds{kind}` (histogram): from a request's arrival to its ack; `kind` command, action, view,
  options, shortcut, event.
- `polls_total{outcome}` (`ok`, or what failed: `key_rejected`, `rate_limited`, …, `bot_failure`),
  `pauses_found_total`, `alerts_posted_total`.
- Gauges read at each scrape: `socket_mode_connected` (the worker's), and from the database, the same in every
  process: `workspaces{truedy}` (connected, not_connected), `schedules_due` (due and not yet taken),
  `resume_all_jobs_running`.

No workspace or campaign id is ever a label: there is no bound to their number.

Counting is off (nothing imported, nothing counted) unless METRICS_TOKEN is set: `enable()` turns it on. The web
process's gunicorn processes each count into files of one folder, read together at a scrape (prometheus_client's
multiprocess mode: the folder must be named before prometheus_client is first imported, so the families are made
on first use); the worker is one process and counts in memory.
"""

import hmac
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from bot.storage.gauges import read_gauges

PREFIX = "truedy_bot"
FOLDER_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
# Acks must come within Slack's 3 s; Truedy's answers within TRUEDY_READ_TIMEOUT (at most 20 s).
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)
TRUEDY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)
WAIT_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0)
VIAS = ("command", "button", "list", "schedule", "workflow", "resume_all")
ENDPOINTS = ("resume", "get_campaign", "list_campaigns")
ACK_KINDS = ("command", "action", "view", "options", "shortcut", "event")
# The failures an alert watches (bot.resume's outcome names), there from the start at zero so that increase() sees
# the first one; a person's own refusals (not_allowed, already_in_flight, not_resumable, cannot_check) appear
# when they first happen.
NOT_RESUMED = (
    "key_rejected",
    "billing_problem",
    "ip_not_allowed",
    "campaign_not_found",
    "request_refused",
    "rate_limited",
    "truedy_unreachable",
    "not_sent",
    "not_started",
)
UNKNOWN = ("no_answer", "truedy_server_error", "unreadable_answer", "bot_failure", "interrupted")
# Outcomes recorded without Truedy's answer (bot.resume) that leave it unknown whether Truedy resumed.
UNKNOWN_WITHOUT_ANSWER = frozenset({"interrupted", "bot_failure"})

_enabled = False
# The folder this process and its siblings count into (the web process's); None: in memory, this process only.
_shared: str | None = None


def enable() -> None:
    global _enabled
    _enabled = True


def shared_folder() -> str:
    """For the web process, before gunicorn forks: a new, empty folder every process counts into (one left by an
    earlier run would be counted again). Removed with `remove_shared_folder`."""
    _not_imported_yet()
    folder = tempfile.mkdtemp(prefix="truedy-bot-metrics-")
    count_into(folder)
    return folder


def count_into(folder: str) -> None:
    """Count into `folder`, summed with every process that counts there (prometheus_client's multiprocess mode)."""
    global _shared
    _not_imported_yet()
    os.environ[FOLDER_VARIABLE] = folder
    _shared = folder


def _not_imported_yet() -> None:
    if "prometheus_client" in sys.modules:  # its values would be each process's own, never summed
        raise RuntimeError("prometheus_client was imported before its multiprocess folder was named")


def remove_shared_folder(folder: str) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def process_ended(pid: int) -> None:
    """gunicorn's `child_exit` hook: what the process counted stays in the sums, its live gauges go."""
    if _enabled and _shared is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def scrape_allowed(authorization: str | None, token: str) -> bool:
    """`Authorization: Bearer <METRICS_TOKEN>`, compared in constant time."""
    scheme, _, given = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class _Families:
    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        self.resumes = Counter(
            f"{PREFIX}_resumes",
            "Resume attempts, by how they were asked and how they ended",
            ["via", "outcome", "reason"],
        )
        self.truedy_requests = Histogram(
            f"{PREFIX}_truedy_request_duration_seconds",
            "Requests to Truedy's API, by endpoint and status class",
            ["endpoint", "status_class"],
            buckets=TRUEDY_BUCKETS,
        )
        self.rate_limited = Counter(f"{PREFIX}_truedy_rate_limited", "Truedy's rate-limit answers (429)", ["endpoint"])
        self.rate_limit_waits = Histogram(
            f"{PREFIX}_truedy_rate_limit_wait_seconds", "The waits Truedy's rate limits asked for", buckets=WAIT_BUCKETS
        )
        self.acks = Histogram(
            f"{PREFIX}_ack_duration_seconds", "From a Slack request's arrival to its ack", ["kind"], buckets=ACK_BUCKETS
        )
        self.polls = Counter(f"{PREFIX}_polls", "Polls of a workspace's paused campaigns, by outcome", ["outcome"])
        self.pauses_found = Counter(f"{PREFIX}_pauses_found", "Paused campaigns found not yet alerted")
        self.alerts_posted = Counter(f"{PREFIX}_alerts_posted", "Paused campaigns alerted (alone or in a digest)")
        # The usual series exist from the start, at zero: a rate() then sees the first one counted, and every
        # process's scrape shows every family (multiprocess mode shows only what some process has touched).
        for via in VIAS:
            self.resumes.labels(via, "resumed", "")
            for reason in NOT_RESUMED:
                self.resumes.labels(via, "not_resumed", reason)
            for reason in UNKNOWN:
                self.resumes.labels(via, "unknown", reason)
        for endpoint in ENDPOINTS:
            self.truedy_requests.labels(endpoint, "2xx")
            self.rate_limited.labels(endpoint)
        for kind in ACK_KINDS:
            self.acks.labels(kind)
        self.polls.labels("ok")


@cache
def _families() -> _Families:
    if _shared is None:
        # Inherited from the environment (a config var, a base image), it would make prometheus_client count into
        # files there: a folder that is not there fails every count, one that is sums in every earlier run.
        os.environ.pop(FOLDER_VARIABLE, None)
    return _Families()


def resume_attempted(via: str, outcome: str, unknown: bool) -> None:
    """`outcome`: bot.resume's name for it (`resumed`, `key_rejected`, `not_allowed`, …)."""
    if not _enabled:
        return
    if outcome == "resumed":
        _families().resumes.labels(via, "resumed", "").inc()
    else:
        _families().resumes.labels(via, "unknown" if unknown else "not_resumed", outcome).inc()


def truedy_answered(endpoint: str, status: int | None, seconds: float) -> None:
    if _enabled:
        status_class = f"{status // 100}xx" if status is not None else "none"
        _families().truedy_requests.labels(endpoint, status_class).observe(seconds)


def truedy_rate_limited(endpoint: str, wait_seconds: float) -> None:
    if _enabled:
        _families().rate_limited.labels(endpoint).inc()
        _families().rate_limit_waits.observe(wait_seconds)


def acked(kind: str, seconds: float) -> None:
    if _enabled:
        _families().acks.labels(kind).observe(seconds)


def polled(outcome: str, pauses_found: int = 0, alerts_posted: int = 0) -> None:
    if not _enabled:
        return
    families = _families()
    families.polls.labels(outcome).inc()
    if pauses_found:
        families.pauses_found.inc(pauses_found)
    if alerts_posted:
        families.alerts_posted.inc(alerts_posted)


class _DatabaseState:
    """Gauges read from the database at each scrape: what every process shares, so each says the same."""

    def __init__(self, engine: Engine):
        self._engine = engine

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        try:
            gauges = read_gauges(self._engine)
        except SQLAlchemyError:
            return  # missing from this scrape (absent() says so) rather than a false zero
        workspaces = GaugeMetricFamily(
            f"{PREFIX}_workspaces", "Workspaces the bot knows, by whether a Truedy key is connected", labels=["truedy"]
        )
        workspaces.add_metric(["connected"], gauges.workspaces_connected)
        workspaces.add_metric(["not_connected"], gauges.workspaces_not_connected)
        yield workspaces
        yield GaugeMetricFamily(
            f"{PREFIX}_schedules_due", "Scheduled resumes due and not yet taken", value=gauges.schedules_due
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_resume_all_jobs_running", "Resume-all jobs running", value=gauges.resume_all_jobs_running
        )


class _Connected:
    def __init__(self, connected: Callable[[], bool]):
        self._connected = connected

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily(
            f"{PREFIX}_socket_mode_connected",
            "1 while this worker's Socket Mode connection is open",
            value=1.0 if self._connected() else 0.0,
        )


def exposition(engine: Engine, accept: str | None, socket_mode_connected: Callable[[], bool] | None = None):
    """The body and content type of a scrape: every family, summed over the web process's processes."""
    _families()  # first: every family is there from the first scrape, at zero
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.exposition import choose_encoder

    if _shared is not None:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = CollectorRegistry()
        registry.register(_Everything(REGISTRY))
    registry.register(_DatabaseState(engine))
    if socket_mode_connected is not None:
        registry.register(_Connected(socket_mode_connected))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


class _Everything:
    """The process's own registry (its families, and prometheus_client's process and platform figures) inside
    the scrape's, beside the gauges made at each scrape."""

    def __init__(self, registry: Any):
        self._registry = registry

    def collect(self) -> Iterator[Any]:
        return self._registry.collect()
