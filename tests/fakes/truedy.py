"""A local Truedy that follows the resume contract (../shared/reference): accounts by API key,
campaigns per account, and switches for the failures the real one (or a proxy) can produce.
"""

import asyncio
import itertools
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.loop import LoopThread, serve


@dataclass
class Received:
    method: str
    path: str
    query: str
    authorization: str | None
    at: float
    scripted: bool = False  # answered from the script rather than by the contract
    status: int | None = None  # the answer's HTTP status, once given
    window_resets_at: float | None = None  # for a 429: when (time.monotonic()) the key's window resets


@dataclass
class Scripted:
    """An answer the fake gives instead of following the contract."""

    status: int = 200
    body: Any = None  # JSON-encoded unless `raw` is set
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    hang: bool = False  # never answer
    drop: bool = False  # close the connection without answering
    path: str | None = None  # only for requests to this path (default: the next request, whatever it is)
    api_key: str | None = None  # only for requests with this key
    delay: float = 0.0  # before answering
    contract: bool = False  # answer as the contract says (after `delay`), instead of status/body
    trickle: float = 0.0  # send the body one byte at a time, this many seconds apart


def campaign(
    campaign_id: str, status: str = "paused", name: str = "Q2 Outreach Campaign", scheduled_at: str | None = None
) -> dict[str, Any]:
    return {
        "id": campaign_id,
        "name": name,
        "status": status,
        "agent_id": "agt_f9447372",
        "from_number": "+18005559876",
        "schedule_type": "immediate" if scheduled_at is None else "scheduled",
        "scheduled_at": scheduled_at,
        "timezone": "America/New_York",
        "concurrency": 5,
        "retry_attempts": 2,
        "total_contacts": 500,
        "called": 312,
        "completed": 298,
        "failed": 14,
        "pending": 188,
        "created_at": "2026-04-01T09:00:00Z",
        "updated_at": "2026-04-05T10:22:00Z",
    }


@dataclass
class FakeTruedy:
    loop: LoopThread
    accounts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # key -> id -> campaign
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0
    delays_by_key: dict[str, float] = field(default_factory=dict)  # how long some keys' answers take instead
    running_name: str = "running"  # the docs use both `running` and `active`
    not_resumable_status: int = 422
    in_flight: int = 0
    peak_in_flight: int = 0
    in_flight_by_key: dict[str, int] = field(default_factory=dict)
    peak_in_flight_by_key: dict[str, int] = field(default_factory=dict)
    # Truedy's per-key limit: this many requests per window (fixed windows, from a key's first request in
    # one), then 429 with `details.reset_at` and no headers, as the docs show. None: no limit.
    rate_limit: int | None = None
    rate_window: float = 60.0
    # Resumes Truedy works on at once (each taking `delay`); more wait their turn, as a busy Truedy's would.
    # None: no limit.
    resumes_at_once: int | None = None
    _resume_turns: asyncio.Semaphore | None = None
    _windows: dict[str, tuple[float, int]] = field(default_factory=dict)  # key -> (window start, requests)
    _script: deque[Scripted] = field(default_factory=deque)
    _request_ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> "FakeTruedy":
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.port = self.loop.run(serve(app))
        return self

    def stop(self) -> None:
        self.loop.run(self._runner.cleanup())

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/public/v1"

    def add(self, api_key: str, *campaigns: dict[str, Any]) -> None:
        with self._lock:
            account = self.accounts.setdefault(api_key, {})
            for item in campaigns:
                account[item["id"]] = item

    def set_status(self, api_key: str, campaign_id: str, status: str) -> None:
        with self._lock:
            self.accounts[api_key][campaign_id]["status"] = status

    def remove(self, api_key: str, campaign_id: str) -> None:
        with self._lock:
            del self.accounts[api_key][campaign_id]

    def lists(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "GET" and r.path == "/api/public/v1/batch-calls"]

    def status_of(self, api_key: str, campaign_id: str) -> str:
        return self.accounts[api_key][campaign_id]["status"]

    def script(self, *answers: Scripted) -> None:
        with self._lock:
            self._script.extend(answers)

    def resumes(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST" and r.path.endswith("/resume")]

    def meta(self) -> dict[str, str]:
        return {"request_id": f"req_{next(self._request_ids):08x}", "ts": _now()}

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            sent_key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            scripted = next(
                (a for a in self._script if a.path in (None, request.path) and a.api_key in (None, sent_key)), None
            )
            if scripted is not None:
                self._script.remove(scripted)
            received = Received(
                request.method,
                request.path,
                request.query_string,
                request.headers.get("Authorization"),
                time.monotonic(),
                scripted is not None,
            )
            self.received.append(received)
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            key = request.headers.get("Authorization", "")
            self.in_flight_by_key[key] = self.in_flight_by_key.get(key, 0) + 1
            self.peak_in_flight_by_key[key] = max(self.peak_in_flight_by_key.get(key, 0), self.in_flight_by_key[key])
        try:
            if self.resumes_at_once is not None and request.method == "POST" and request.path.endswith("/resume"):
                self._resume_turns = self._resume_turns or asyncio.Semaphore(self.resumes_at_once)
                async with self._resume_turns:
                    if delay := self.delays_by_key.get(sent_key, self.delay):
                        await asyncio.sleep(delay)
            elif delay := self.delays_by_key.get(sent_key, self.delay):
                await asyncio.sleep(delay)
            if scripted is not None:
                response = await self._scripted(request, scripted)
            else:
                with self._lock:
                    response = self._contract(request)
            received.status = response.status
            if response.status == 429 and not received.scripted:
                received.window_resets_at = self._windows[sent_key][0] + self.rate_window
            return response
        finally:
            with self._lock:
                self.in_flight -= 1
                self.in_flight_by_key[key] -= 1

    async def _scripted(self, request: web.Request, answer: Scripted) -> web.StreamResponse:
        await asyncio.sleep(answer.delay)
        if answer.contract:
            with self._lock:
                return self._contract(request)
        if answer.hang:
            await asyncio.sleep(3600)
        if answer.drop:
            request.transport.close()
            return web.Response(status=500)
        text = answer.raw if answer.raw is not None else json.dumps(answer.body)
        if answer.trickle:
            response = web.StreamResponse(status=answer.status, headers=answer.headers)
            response.content_type = answer.content_type
            response.content_length = len(text.encode())
            await response.prepare(request)
            for byte in text.encode():
                await response.write(bytes([byte]))
                await asyncio.sleep(answer.trickle)
            return response
        return web.Response(status=answer.status, text=text, content_type=answer.content_type, headers=answer.headers)

    def _contract(self, request: web.Request) -> web.Response:
        prefix = "/api/public/v1/batch-calls/"
        key = request.headers.get("Authorization", "").removeprefix("Bearer ")
        account = self.accounts.get(key)
        if account is not None and (reset_in := self._over_rate_limit(key)) is not None:
            reset_at = datetime.now(UTC) + timedelta(seconds=reset_in)
            details = {"limit": self.rate_limit, "reset_at": reset_at.isoformat().replace("+00:00", "Z")}
            return self._error(429, "rate_limit_exceeded", "Rate limit exceeded", details)
        if account is None:
            return self._error(
                401,
                "unauthorized",
                "Invalid or missing API key",
                {"reason": "Include Authorization: Bearer <your_api_key>"},
            )
        if request.method == "GET" and request.path == prefix.rstrip("/"):
            return self._list(account, request.query)
        parts = request.path.removeprefix(prefix).split("/") if request.path.startswith(prefix) else []
        item = account.get(parts[0]) if parts else None
        if request.method == "GET" and len(parts) == 1 and item is not None:
            return web.json_response({"data": item, "meta": self.meta()})
        if request.method == "POST" and len(parts) == 2 and parts[1] == "resume" and item is not None:
            return self._resume(item)
        if request.method == "POST" and len(parts) == 2 and parts[1] == "pause" and item is not None:
            return self._pause(item)
        return self._error(404, "not_found", "Batch_Call not found")

    def _over_rate_limit(self, key: str) -> float | None:
        """Seconds until this key's window resets, when this request is over its limit."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        start, count = self._windows.get(key, (now, 0))
        if now - start >= self.rate_window:
            start, count = now, 0
        self._windows[key] = (start, count + 1)
        return start + self.rate_window - now if count >= self.rate_limit else None

    def rate_limited(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.status == 429]

    def _list(self, account: dict[str, dict[str, Any]], query) -> web.Response:
        try:
            limit, offset = int(query.get("limit", 50)), int(query.get("offset", 0))
        except ValueError:
            return self._error(422, "validation_error", "limit and offset must be integers")
        if not 1 <= limit <= 100 or offset < 0:
            return self._error(422, "validation_error", "limit must be 1-100 and offset >= 0")
        items = [item for item in account.values() if query.get("status") in (None, item["status"])]
        items.sort(key=lambda item: item["created_at"])
        pagination = {"total": len(items), "limit": limit, "offset": offset, "has_more": offset + limit < len(items)}
        return web.json_response(
            {"data": items[offset : offset + limit], "meta": self.meta(), "pagination": pagination}
        )

    def _resume(self, item: dict[str, Any]) -> web.Response:
        if item["status"] != "paused":
            current = item["status"]
            return self._error(
                self.not_resumable_status,
                "validation_error",
                f"Campaign can only be resumed when in 'paused' status. Current status: {current}",
            )
        future_start = item["scheduled_at"] and item["scheduled_at"] > _now()
        item["status"] = "scheduled" if future_start else self.running_name
        item["resumed_at"] = item["updated_at"] = _now()
        data = {"id": item["id"], "status": item["status"], "resumed_at": item["resumed_at"]}
        return web.json_response({"data": data, "meta": self.meta()}, status=201)

    def _pause(self, item: dict[str, Any]) -> web.Response:
        """As the guide describes it: from running or scheduled only; placed calls finish. Its answer is not
        documented: this one answers as resume does, with the campaign's id and new status."""
        if item["status"] not in ("active", "running", "scheduled"):  # the docs name the running state both ways
            return self._error(
                self.not_resumable_status,
                "validation_error",
                f"Campaign can only be paused when active or scheduled. Current status: {item['status']}",
            )
        item["status"], item["updated_at"] = "paused", _now()
        return web.json_response({"data": {"id": item["id"], "status": "paused"}, "meta": self.meta()})

    def pauses(self) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.method == "POST" and r.path.endswith("/pause")]

    def _error(self, status: int, code: str, message: str, details: dict | None = None) -> web.Response:
        error = {"code": code, "message": message, **({"details": details} if details is not None else {})}
        return web.json_response({"error": error, "meta": self.meta()}, status=status)


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def in_a_minute() -> str:
    return (datetime.now(UTC) + timedelta(minutes=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def new_key() -> str:
    return "truedy_" + secrets.token_hex(16)


class StubTruedyClient:
    """Stands in for bot.truedy.TruedyClient in unit tests: answers every resume with `answer` (a result,
    or an exception to raise) and records (api_key, campaign_id) of each call."""

    def __init__(self, answer: Any):
        self.answer, self.calls = answer, []

    def resume(self, api_key: str, campaign_id: str) -> Any:
        self.calls.append((api_key, campaign_id))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer
