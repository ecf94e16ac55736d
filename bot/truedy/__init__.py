"""Client for the Truedy Public API: every answer becomes a typed result or one specific error."""

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from bot import metrics
from bot.truedy.campaign_id import is_campaign_id

# The docs show `running` in examples and `active` in the status enum: one state, one name here.
_STATUS_ALIASES = {"running": "active"}
MAX_RETRY_WAIT = timedelta(days=1)
# The largest answer read (after decompression): a page of 100 campaigns is about 60 KB. Anything bigger is
# not Truedy's answer, and reading it whole would cost the memory of every thread doing the same.
MAX_ANSWER_BYTES = 1024 * 1024
_CURRENT_STATUS_IN_MESSAGE = re.compile(r"current status:\s*'?([a-z_]+)", re.IGNORECASE)


def normalise_status(status: str) -> str:
    status = status.strip().lower()
    return _STATUS_ALIASES.get(status, status)


@dataclass(frozen=True)
class Resumed:
    campaign_id: str
    status: str | None
    resumed_at: datetime | None
    request_id: str | None


@dataclass(frozen=True)
class Paused:
    """Truedy accepted `POST /batch-calls/{id}/pause`. Its guide documents pause (from `active` or `scheduled`;
    calls already placed finish) but not its answer: nothing of the answer's `data` is read, only that it is
    Truedy's JSON, and `meta.request_id` (documented for every answer)."""

    campaign_id: str
    request_id: str | None


PAGE_LIMIT = 100  # the most Truedy's list gives at once


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str | None
    status: str
    total_contacts: int | None
    called: int | None
    completed: int | None
    failed: int | None
    pending: int | None
    updated_at: datetime | None
    request_id: str | None


@dataclass(frozen=True)
class CampaignPage:
    campaigns: list[Campaign]
    has_more: bool
    total: int | None
    request_id: str | None


class TruedyError(Exception):
    """A failure the person who asked must hear about. `request_id` is Truedy's `meta.request_id`.

    `outcome_unknown`: the request may have reached Truedy and been carried out, without a clear answer
    saying so (no answer, an unreadable one, a server error): said as unknown, never as "not resumed", and
    never sent again by the bot on its own."""

    outcome_unknown = False

    def __init__(self, detail: str, request_id: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.request_id = request_id


class NotResumable(TruedyError):
    """Truedy refused because the campaign is not paused; `status` is its current state when known."""

    def __init__(self, detail: str, request_id: str | None, status: str | None):
        super().__init__(detail, request_id)
        self.status = status


class NotPausable(TruedyError):
    """Truedy refused a pause because the campaign is neither running nor scheduled (paused already, finished);
    `status` is its current state when known."""

    def __init__(self, detail: str, request_id: str | None, status: str | None):
        super().__init__(detail, request_id)
        self.status = status


class RequestRefused(TruedyError):
    """Truedy refused the resume (or the pause: 400/409/422) although the campaign is in a state that allows it
    (paused; running or scheduled): a validation problem, not the campaign's state, so trying again later may
    work."""

    def __init__(self, detail: str, request_id: str | None, http_status: int):
        super().__init__(detail, request_id)
        self.http_status = http_status


class KeyRejected(TruedyError):
    pass


class BillingProblem(TruedyError):
    pass


class IpNotAllowed(TruedyError):
    pass


class CampaignNotFound(TruedyError):
    pass


class RateLimited(TruedyError):
    """`retry_at`: when to try again (shown to people); `retry_in`: how long from the answer, as Truedy meant it
    (a time of Truedy's clock less Truedy's own time of the answer), for callers whose clock is another's."""

    def __init__(
        self, detail: str, request_id: str | None, retry_at: datetime | None, retry_in: timedelta | None = None
    ):
        super().__init__(detail, request_id)
        self.retry_at = retry_at
        self.retry_in = retry_in

    def retry_at_or_in_a_minute(self) -> datetime:
        """When to try again: Truedy's hint, else a minute from now (its limit is per minute)."""
        return self.retry_at or datetime.now(UTC) + timedelta(minutes=1)

    def wait(self) -> timedelta:
        """How long from now until then, whatever this host's clock says: what a caller adds to a clock of its own
        (the database's)."""
        if self.retry_in is not None:
            return self.retry_in
        return max(self.retry_at_or_in_a_minute() - datetime.now(UTC), timedelta(0))


class TruedyServerError(TruedyError):
    outcome_unknown = True  # an error mid-way may come after the change was made

    def __init__(self, detail: str, request_id: str | None, http_status: int):
        super().__init__(detail, request_id)
        self.http_status = http_status


class UnreadableAnswer(TruedyError):
    """Truedy (or something in front of it) answered with a body this client cannot make sense of."""

    outcome_unknown = True

    def __init__(self, detail: str, request_id: str | None, http_status: int):
        super().__init__(detail, request_id)
        self.http_status = http_status


class TruedyUnreachable(TruedyError):
    """No connection could be made: the request was never sent."""


class NoAnswer(TruedyError):
    """The request went out but no answer came back: outcome unknown.

    `waited_seconds` is set when the read timed out, None when the connection broke.
    """

    outcome_unknown = True

    def __init__(self, detail: str, waited_seconds: float | None):
        super().__init__(detail)
        self.waited_seconds = waited_seconds


class TruedyClient:
    """One pooled HTTP client for every workspace; each call carries its workspace's own key."""

    def __init__(
        self,
        base_url: str,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int = 100,
        transport: httpx.BaseTransport | None = None,
    ):
        self._read_timeout = read_timeout
        self._http = httpx.Client(
            base_url=base_url,
            transport=transport,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=20),
            headers={"Accept": "application/json", "User-Agent": "truedy-campaign-bot"},
            follow_redirects=False,
            trust_env=False,
        )

    def close(self) -> None:
        self._http.close()

    def resume(self, api_key: str, campaign_id: str) -> Resumed:
        response = self._send("resume", "POST", f"/batch-calls/{_path_segment(campaign_id)}/resume", api_key)
        with _read_as_truedy(response):
            if response.status_code in (400, 409, 422):
                raise self._refusal(api_key, campaign_id, response, RESUMABLE_FROM)
            data, request_id = _success_data(response)
            if data.get("id") not in (None, campaign_id):
                raise UnreadableAnswer("the answer is about a different campaign", request_id, response.status_code)
            return Resumed(
                campaign_id=campaign_id,
                status=_optional_status(data),
                resumed_at=_optional_datetime(data.get("resumed_at")),
                request_id=request_id,
            )

    def pause(self, api_key: str, campaign_id: str) -> Paused:
        """Pause a running or scheduled campaign. Its answers are treated as resume's are (the guide documents
        none): 400/409/422 is a refusal, explained by the campaign's state; any other error as for every call;
        a 2xx whose body is not Truedy's JSON object is unreadable (whether it paused is unknown)."""
        response = self._send("pause", "POST", f"/batch-calls/{_path_segment(campaign_id)}/pause", api_key)
        with _read_as_truedy(response):
            if response.status_code in (400, 409, 422):
                refusal = self._refusal(api_key, campaign_id, response, PAUSABLE_FROM)
                if isinstance(refusal, NotResumable):
                    raise NotPausable(refusal.detail, refusal.request_id, refusal.status)
                raise refusal
            body = _json_or_none(response)
            if not isinstance(body, dict):
                raise UnreadableAnswer(
                    f"HTTP {response.status_code} with a body that is not Truedy's JSON",
                    None,
                    response.status_code,
                )
            return Paused(campaign_id, _request_id(body))

    def get_campaign(self, api_key: str, campaign_id: str) -> Campaign:
        response = self._send("get_campaign", "GET", f"/batch-calls/{_path_segment(campaign_id)}", api_key)
        with _read_as_truedy(response):
            data, request_id = _success_data(response)
            campaign = _campaign(data, request_id)
            if campaign is None or campaign.id != campaign_id:
                raise UnreadableAnswer("the campaign in the answer has no matching id or status", request_id, 200)
            return campaign

    def list_campaigns(
        self,
        api_key: str,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
        timeout: httpx.Timeout | None = None,
    ) -> CampaignPage:
        """One page of `GET /batch-calls`; items without a usable id or status are left out."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status
        response = self._send("list_campaigns", "GET", "/batch-calls", api_key, params=params, timeout=timeout)
        with _read_as_truedy(response):
            body = _json_or_none(response)
            request_id = _request_id(body)
            items = body.get("data") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise UnreadableAnswer(f"HTTP {response.status_code} without a list of campaigns", request_id, 200)
            campaigns = [c for item in items if isinstance(item, dict) and (c := _campaign(item, request_id))]
            pagination = body.get("pagination") if isinstance(body.get("pagination"), dict) else {}
            return CampaignPage(
                campaigns, pagination.get("has_more") is True, _optional_int(pagination, "total"), request_id
            )

    def paused_campaigns(self, api_key: str, max_pages: int = 20) -> tuple[list[Campaign], bool]:
        """Every paused campaign, in pages of the most Truedy gives at once, and whether that is all of them
        (at most `max_pages` requests, so that reading leaves most of the key's ~100 requests a minute)."""
        paused: list[Campaign] = []
        for page_number in range(max_pages):
            page = self.paused_page(api_key, limit=PAGE_LIMIT, offset=page_number * PAGE_LIMIT)
            paused += page.campaigns
            if not page.has_more:
                return paused, True
        return paused, False

    def paused_page(self, api_key: str, limit: int, offset: int) -> CampaignPage:
        """One page of the paused campaigns. The filter is Truedy's; the status check is ours."""
        page = self.list_campaigns(api_key, status="paused", limit=limit, offset=offset)
        return replace(page, campaigns=[campaign for campaign in page.campaigns if campaign.status == "paused"])

    def _send(
        self,
        endpoint: str,
        method: str,
        path: str,
        api_key: str,
        params: dict[str, str | int] | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> httpx.Response:
        request = self._http.build_request(
            method,
            path,
            params=params,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        started, status = time.monotonic(), None
        try:
            try:
                streamed = self._http.send(request, stream=True)
                status = streamed.status_code
                try:
                    body = _read_capped(streamed)
                finally:
                    streamed.close()
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
                raise TruedyUnreachable(f"could not connect to Truedy ({type(error).__name__})") from None
            except httpx.TimeoutException:
                status = None  # whatever the headers said, no answer came
                waited = timeout.read if timeout is not None and timeout.read is not None else self._read_timeout
                raise NoAnswer("Truedy did not answer in time", waited) from None
            except httpx.TransportError as error:
                status = None
                raise NoAnswer(f"the connection to Truedy broke ({type(error).__name__})", None) from None
            except httpx.DecodingError:
                raise UnreadableAnswer(
                    "the answer could not be decoded (its Content-Encoding is wrong)", None, streamed.status_code
                ) from None
            except _AnswerTooLarge:
                raise UnreadableAnswer(
                    f"the answer was larger than {MAX_ANSWER_BYTES // 1024} KB", None, streamed.status_code
                ) from None
        finally:
            metrics.truedy_answered(endpoint, status, time.monotonic() - started)
        # Decoded already: the copy carries the body as it was read, without the encoding header.
        headers = [(k, v) for k, v in streamed.headers.multi_items() if k.lower() != "content-encoding"]
        response = httpx.Response(streamed.status_code, headers=headers, content=body, request=request)
        if response.status_code < 400 or response.status_code in (400, 409, 422):
            return response
        with _read_as_truedy(response):
            error = _error_for(response, api_key)
        if isinstance(error, RateLimited):
            metrics.truedy_rate_limited(endpoint, error.wait().total_seconds())
        raise error

    def _refusal(
        self, api_key: str, campaign_id: str, response: httpx.Response, allowed_from: tuple[str, ...]
    ) -> NotResumable | RequestRefused:
        """Why Truedy refused a change of state: the campaign's state (from the error, else read), or, when it is in
        a state that allows the change (`allowed_from`), the request itself."""
        body = _json_or_none(response)
        error = _error_object(body)
        request_id = _request_id(body)
        message = _message(error, response, api_key)
        status = _status_in_error(error)
        if status is None:
            try:
                status = self.get_campaign(api_key, campaign_id).status
            except TruedyError:
                status = None
        if status in allowed_from:
            return RequestRefused(message, request_id, response.status_code)
        return NotResumable(message, request_id, status)


# The states Truedy's guide allows each change from.
RESUMABLE_FROM = ("paused",)
PAUSABLE_FROM = ("active", "scheduled")


class _AnswerTooLarge(Exception):
    pass


def _read_capped(response: httpx.Response) -> bytes:
    received = bytearray()
    for chunk in response.iter_bytes():
        received += chunk
        if len(received) > MAX_ANSWER_BYTES:
            raise _AnswerTooLarge
    return bytes(received)


@contextmanager
def _read_as_truedy(response: httpx.Response) -> Iterator[None]:
    """Whatever the body holds (nesting deep enough to exhaust the parser, numbers too long to convert,
    shapes nobody expected), reading it ends in a result or a TruedyError, never another exception."""
    try:
        yield
    except TruedyError:
        raise
    except Exception as error:
        raise UnreadableAnswer(
            f"HTTP {response.status_code} with an answer this bot cannot read ({type(error).__name__})",
            None,
            response.status_code,
        ) from None


def _path_segment(campaign_id: str) -> str:
    # Callers pass parsed ids; this refuses anything else rather than ever building another path.
    if not is_campaign_id(campaign_id):
        raise ValueError("not a campaign id")
    return campaign_id


def _message(error: dict[str, Any], response: httpx.Response, api_key: str) -> str:
    """Truedy's own words, bounded, and never the key that was sent (some APIs echo what they reject)."""
    message = (_optional_str(error, "message") or f"HTTP {response.status_code}")[:500]
    return message.replace(api_key, "[redacted]") if api_key else message


def _error_for(response: httpx.Response, api_key: str) -> TruedyError:
    body = _json_or_none(response)
    error = _error_object(body)
    request_id = _request_id(body)
    message = _message(error, response, api_key)
    status = response.status_code
    if status == 401:
        return KeyRejected(message, request_id)
    if status == 402:
        return BillingProblem(message, request_id)
    if status == 403:
        return IpNotAllowed(message, request_id)
    if status == 404:
        return CampaignNotFound(message, request_id)
    if status == 429:
        retry_at = _retry_at(response, error)
        return RateLimited(message, request_id, retry_at, _retry_in(response, error, retry_at))
    if status >= 500:
        return TruedyServerError(message, request_id, status)
    return UnreadableAnswer(f"unexpected HTTP {status}", request_id, status)


def _success_data(response: httpx.Response) -> tuple[dict[str, Any], str | None]:
    body = _json_or_none(response)
    request_id = _request_id(body)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise UnreadableAnswer(
            f"HTTP {response.status_code} with a body that is not Truedy's JSON", request_id, response.status_code
        )
    return body["data"], request_id


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser goes
        return None


def _error_object(body: Any) -> dict[str, Any]:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _request_id(body: Any) -> str | None:
    meta = body.get("meta") if isinstance(body, dict) else None
    request_id = meta.get("request_id") if isinstance(meta, dict) else None
    if isinstance(request_id, str) and re.fullmatch(r"[A-Za-z0-9_.:-]{1,100}", request_id):
        return request_id
    return None


def _status_in_error(error: dict[str, Any]) -> str | None:
    details = error.get("details")
    if isinstance(details, dict) and isinstance(details.get("status"), str):
        return normalise_status(details["status"])
    found = _CURRENT_STATUS_IN_MESSAGE.search(_optional_str(error, "message") or "")
    return normalise_status(found.group(1)) if found else None


def _retry_at(response: httpx.Response, error: dict[str, Any]) -> datetime | None:
    """When Truedy says to try again: `Retry-After` (seconds or a date), else `error.details.reset_at`; never
    more than a day away, since anything later is a broken hint, not a plan (and would stop polling for good)."""
    header = response.headers.get("Retry-After", "").strip()
    details = error.get("details")
    hinted: datetime | None = None
    if re.fullmatch(r"[0-9]+", header):
        hinted = datetime.now(UTC) + min(timedelta(seconds=int(header[:12])), MAX_RETRY_WAIT)
    elif header:
        with suppress(TypeError, ValueError, OverflowError, IndexError):
            hinted = parsedate_to_datetime(header[:64]).astimezone(UTC)
        if hinted is not None and not EARLIEST <= hinted < LATEST:
            hinted = None
    if hinted is None and isinstance(details, dict):
        hinted = _optional_datetime(details.get("reset_at"))
    return None if hinted is None else min(hinted, datetime.now(UTC) + MAX_RETRY_WAIT)


def _retry_in(response: httpx.Response, error: dict[str, Any], retry_at: datetime | None) -> timedelta | None:
    """How long Truedy meant: `Retry-After` seconds as they are; a time (an HTTP date, `reset_at`) less Truedy's
    own time of the answer (its `Date` header), so that a host whose clock is off waits as long as Truedy meant.
    None without a hint, or without Truedy's time to count from (then `retry_at` less this host's clock)."""
    header = response.headers.get("Retry-After", "").strip()
    if re.fullmatch(r"[0-9]+", header):
        return min(timedelta(seconds=int(header[:12])), MAX_RETRY_WAIT)
    if retry_at is None:
        return None
    answered: datetime | None = None
    with suppress(TypeError, ValueError, OverflowError, IndexError):
        answered = parsedate_to_datetime(response.headers.get("Date", "")[:64]).astimezone(UTC)
    if answered is None or not EARLIEST <= answered < LATEST:
        return None
    return min(max(retry_at - answered, timedelta(0)), MAX_RETRY_WAIT)


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) and value.strip() else None


def _campaign(data: dict[str, Any], request_id: str | None) -> Campaign | None:
    campaign_id, status = data.get("id"), _optional_status(data)
    if not isinstance(campaign_id, str) or not is_campaign_id(campaign_id) or status is None:
        return None
    return Campaign(
        id=campaign_id,
        name=_optional_str(data, "name"),
        status=status,
        total_contacts=_optional_int(data, "total_contacts"),
        called=_optional_int(data, "called"),
        completed=_optional_int(data, "completed"),
        failed=_optional_int(data, "failed"),
        pending=_optional_int(data, "pending"),
        updated_at=_optional_datetime(data.get("updated_at")),
        request_id=request_id,
    )


def _optional_status(data: dict[str, Any]) -> str | None:
    status = _optional_str(data, "status")
    return normalise_status(status) if status else None


def _optional_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# Moments outside these are not a campaign's or a rate limit's; they are taken as unknown rather than
# carried into arithmetic (a day added to year 9999 overflows) or shown as nonsense.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(3000, 1, 1, tzinfo=UTC)


def _optional_datetime(value: Any) -> datetime | None:
    """An ISO 8601 moment in UTC, or None when it is missing, malformed or out of any plausible range."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value)
        moment = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 moved across midnight by an offset
        return None
    return moment if EARLIEST <= moment < LATEST else None
