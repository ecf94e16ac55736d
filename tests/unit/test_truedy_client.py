"""Every documented (and some undocumented) Truedy answer maps to one typed result or error."""

import gzip
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot import truedy
from bot.truedy.campaign_id import CampaignId

KEY = "truedy_unitkey12345678"
CAMPAIGN = CampaignId("batch_c3d4e5f6")
META = {"request_id": "req_32e7531c", "ts": "2026-04-05T10:22:00Z"}


def client_answering(*answers: httpx.Response | Exception, seen: list[httpx.Request] | None = None):
    queue = list(answers)

    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return truedy.TruedyClient("https://truedy.test/api/public/v1", 1, 2, transport=httpx.MockTransport(handle))


def error(status: int, code: str, message: str, details: dict | None = None, **kwargs) -> httpx.Response:
    body = {"error": {"code": code, "message": message, **({"details": details} if details else {})}, "meta": META}
    return httpx.Response(status, json=body, **kwargs)


def campaign_body(status: str) -> httpx.Response:
    return httpx.Response(200, json={"data": {"id": CAMPAIGN, "name": "Q2", "status": status}, "meta": META})


def test_resume_sends_the_key_to_the_resume_path_only():
    seen: list[httpx.Request] = []
    body = {"data": {"id": CAMPAIGN, "status": "running", "resumed_at": "2026-04-05T11:00:00Z"}, "meta": META}
    result = client_answering(httpx.Response(201, json=body), seen=seen).resume(KEY, CAMPAIGN)
    assert result == truedy.Resumed(CAMPAIGN, "active", datetime(2026, 4, 5, 11, tzinfo=UTC), "req_32e7531c")
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/api/public/v1/batch-calls/batch_c3d4e5f6/resume")]
    assert seen[0].headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    "status, normalised",
    [("running", "active"), ("active", "active"), ("scheduled", "scheduled"), ("ACTIVE", "active")],
)
def test_running_and_active_are_one_state(status, normalised):
    body = {"data": {"id": CAMPAIGN, "status": status, "resumed_at": "2026-04-05T11:00:00Z"}, "meta": META}
    assert client_answering(httpx.Response(201, json=body)).resume(KEY, CAMPAIGN).status == normalised


def test_resume_refuses_to_build_any_other_path():
    with pytest.raises(ValueError):
        client_answering().resume(KEY, "../api-keys")  # type: ignore[arg-type]


@pytest.mark.parametrize("http_status", [400, 409, 422])
def test_not_resumable_takes_the_status_from_the_error(http_status):
    answer = error(
        http_status, "validation_error", "Campaign can only be resumed when in 'paused' status. Current status: running"
    )
    with pytest.raises(truedy.NotResumable) as raised:
        client_answering(answer).resume(KEY, CAMPAIGN)
    assert raised.value.status == "active"
    assert raised.value.request_id == "req_32e7531c"


def test_not_resumable_takes_the_status_from_details():
    answer = error(422, "validation_error", "Not allowed", {"status": "completed"})
    with pytest.raises(truedy.NotResumable) as raised:
        client_answering(answer).resume(KEY, CAMPAIGN)
    assert raised.value.status == "completed"


def test_not_resumable_without_a_status_fetches_the_campaign():
    seen: list[httpx.Request] = []
    answer = error(400, "bad_request", "Invalid request parameters")
    with pytest.raises(truedy.NotResumable) as raised:
        client_answering(answer, campaign_body("cancelled"), seen=seen).resume(KEY, CAMPAIGN)
    assert raised.value.status == "cancelled"
    assert [(r.method, r.url.path) for r in seen][1] == ("GET", "/api/public/v1/batch-calls/batch_c3d4e5f6")
    assert seen[1].headers["Authorization"] == f"Bearer {KEY}"


def test_not_resumable_with_an_unreadable_fetch_has_no_status():
    fastapi_style = httpx.Response(422, json={"detail": [{"loc": ["body"], "msg": "field required"}]})
    with pytest.raises(truedy.NotResumable) as raised:
        client_answering(fastapi_style, httpx.Response(500, text="oops")).resume(KEY, CAMPAIGN)
    assert raised.value.status is None


@pytest.mark.parametrize(
    "answer, error_type",
    [
        (error(401, "unauthorized", "Invalid or missing API key"), truedy.KeyRejected),
        (error(402, "payment_required", "Insufficient credits"), truedy.BillingProblem),
        (error(403, "forbidden", "IP not whitelisted"), truedy.IpNotAllowed),
        (error(404, "not_found", "Batch_Call not found"), truedy.CampaignNotFound),
        (error(429, "rate_limit_exceeded", "Too many requests"), truedy.RateLimited),
        (error(500, "internal_error", "An unexpected error occurred"), truedy.TruedyServerError),
        (error(503, "unavailable", "Down"), truedy.TruedyServerError),
        (error(418, "teapot", "?"), truedy.UnreadableAnswer),
    ],
)
def test_each_error_status_has_its_own_type_with_the_request_id(answer, error_type):
    with pytest.raises(error_type) as raised:
        client_answering(answer).resume(KEY, CAMPAIGN)
    assert raised.value.request_id == "req_32e7531c"
    assert KEY not in str(raised.value)


def test_rate_limit_prefers_retry_after():
    answer = error(429, "rate_limit_exceeded", "x", {"reset_at": "2020-01-01T00:00:00Z"}, headers={"Retry-After": "30"})
    with pytest.raises(truedy.RateLimited) as raised:
        client_answering(answer).resume(KEY, CAMPAIGN)
    assert raised.value.retry_at is not None
    assert abs(raised.value.retry_at - (datetime.now(UTC) + timedelta(seconds=30))) < timedelta(seconds=5)


def test_rate_limit_accepts_an_http_date_retry_after():
    answer = error(429, "rate_limit_exceeded", "x", headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})
    with pytest.raises(truedy.RateLimited) as raised:
        client_answering(answer).resume(KEY, CAMPAIGN)
    assert raised.value.retry_at == datetime(2026, 10, 21, 7, 28, tzinfo=UTC)


def test_rate_limit_falls_back_to_reset_at():
    answer = error(429, "rate_limit_exceeded", "x", {"limit": 100, "reset_at": "2026-03-03T12:01:00.000000Z"})
    with pytest.raises(truedy.RateLimited) as raised:
        client_answering(answer).resume(KEY, CAMPAIGN)
    assert raised.value.retry_at == datetime(2026, 3, 3, 12, 1, tzinfo=UTC)


def test_rate_limit_without_any_hint_has_no_time():
    with pytest.raises(truedy.RateLimited) as raised:
        client_answering(error(429, "rate_limit_exceeded", "x")).resume(KEY, CAMPAIGN)
    assert raised.value.retry_at is None


HTML = "<html><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.mark.parametrize(
    "answer, error_type, http_status",
    [
        (httpx.Response(502, text=HTML, headers={"Content-Type": "text/html"}), truedy.TruedyServerError, 502),
        (httpx.Response(200, text=HTML, headers={"Content-Type": "text/html"}), truedy.UnreadableAnswer, 200),
        (httpx.Response(201, text='{"data": {"id": "batch_c3d4'), truedy.UnreadableAnswer, 201),
        (httpx.Response(201, json={"data": []}), truedy.UnreadableAnswer, 201),
        (httpx.Response(201, json=["not", "an", "object"]), truedy.UnreadableAnswer, 201),
        (httpx.Response(201, json={"data": {"id": "batch_other", "status": "running"}}), truedy.UnreadableAnswer, 201),
        (httpx.Response(302, headers={"Location": "https://login.example/"}), truedy.UnreadableAnswer, 302),
    ],
)
def test_garbage_answers_are_specific_errors(answer, error_type, http_status):
    with pytest.raises(error_type) as raised:
        client_answering(answer).resume(KEY, CAMPAIGN)
    assert raised.value.http_status == http_status


def test_success_with_odd_fields_still_reports_success():
    body = {"data": {"id": CAMPAIGN, "status": 7, "resumed_at": "yesterday"}, "meta": {"request_id": "<script>"}}
    result = client_answering(httpx.Response(201, json=body)).resume(KEY, CAMPAIGN)
    assert result == truedy.Resumed(CAMPAIGN, None, None, None)


@pytest.mark.parametrize(
    "failure, error_type",
    [
        (httpx.ConnectError("refused"), truedy.TruedyUnreachable),
        (httpx.ConnectTimeout("slow dns"), truedy.TruedyUnreachable),
        (httpx.ReadTimeout("slow"), truedy.NoAnswer),
        (httpx.RemoteProtocolError("closed mid-answer"), truedy.NoAnswer),
        (httpx.ReadError("reset"), truedy.NoAnswer),
    ],
)
def test_network_failures(failure, error_type):
    with pytest.raises(error_type) as raised:
        client_answering(failure).resume(KEY, CAMPAIGN)
    assert raised.value.__cause__ is None  # nothing from the request (headers, key) rides along
    assert KEY not in repr(raised.value.__dict__)


def test_timeout_says_how_long_it_waited():
    with pytest.raises(truedy.NoAnswer) as raised:
        client_answering(httpx.ReadTimeout("slow")).resume(KEY, CAMPAIGN)
    assert raised.value.waited_seconds == 2


def test_get_campaign_reads_progress():
    body = {
        "data": {
            "id": CAMPAIGN,
            "name": "Q2 Outreach",
            "status": "paused",
            "total_contacts": 500,
            "called": 312,
            "completed": 298,
            "failed": 14,
            "pending": 188,
            "updated_at": "2026-04-05T10:22:00Z",
        },
        "meta": {"request_id": "req_1", "timestamp": "2026-04-05T10:22:00Z"},
    }
    result = client_answering(httpx.Response(200, json=body)).get_campaign(KEY, CAMPAIGN)
    assert result == truedy.Campaign(
        CAMPAIGN, "Q2 Outreach", "paused", 500, 312, 298, 14, 188, datetime(2026, 4, 5, 10, 22, tzinfo=UTC), "req_1"
    )


def test_get_campaign_refuses_another_campaign():
    body = {"data": {"id": "batch_other", "status": "paused"}, "meta": META}
    with pytest.raises(truedy.UnreadableAnswer):
        client_answering(httpx.Response(200, json=body)).get_campaign(KEY, CAMPAIGN)


@pytest.mark.parametrize(
    "hint",
    [
        {"details": {"reset_at": "2999-01-01T00:00:00Z"}},
        {"headers": {"Retry-After": "99999999999"}},
        {"headers": {"Retry-After": "Fri, 01 Jan 2999 00:00:00 GMT"}},
    ],
)
def test_a_far_future_retry_hint_is_capped_at_a_day(hint):
    answer = error(429, "rate_limit_exceeded", "x", hint.get("details"), headers=hint.get("headers", {}))
    with pytest.raises(truedy.RateLimited) as raised:
        client_answering(answer).resume(KEY, CAMPAIGN)
    assert raised.value.retry_at is not None
    assert raised.value.retry_at <= datetime.now(UTC) + timedelta(days=1)


@pytest.mark.parametrize("http_status", [400, 409, 422])
def test_a_refusal_of_a_campaign_still_paused_is_a_refused_request_not_a_state(http_status):
    answer = error(http_status, "validation_error", "Invalid request parameters")
    with pytest.raises(truedy.RequestRefused) as raised:
        client_answering(answer, campaign_body("paused")).resume(KEY, CAMPAIGN)
    assert (raised.value.http_status, raised.value.request_id) == (http_status, "req_32e7531c")
    assert raised.value.detail == "Invalid request parameters"


def deeply_nested(depth: int) -> bytes:
    return b'{"data": ' + b"[" * depth + b"]" * depth + b"}"


HUGE = 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("status", "headers", "raw"),
    [
        # A body that lies about its Content-Encoding.
        (200, {"Content-Encoding": "gzip"}, b'{"data": {"id": "batch_c3d4e5f6"}}'),
        (500, {"Content-Encoding": "deflate"}, b"not deflated at all"),
        # Nesting deeper than the JSON parser goes.
        (200, {}, deeply_nested(200_000)),
        (429, {}, b'{"error": ' + deeply_nested(200_000) + b"}"),
        # A body far larger than any answer of Truedy's, plain and compressed (20 KB that inflate to 20 MB).
        (200, {}, b'{"data": {"id": "' + b"x" * HUGE + b'"}}'),
        (200, {"Content-Encoding": "gzip"}, gzip.compress(b'{"data": {"name": "' + b"x" * HUGE + b'"}}')),
        # A number too long for Python to convert.
        (200, {}, b'{"data": {"id": "batch_c3d4e5f6", "total_contacts": ' + b"9" * 5000 + b"}}"),
    ],
)
@pytest.mark.parametrize("call", ["resume", "get_campaign", "list_campaigns"])
def test_any_answer_that_cannot_be_read_is_the_typed_unreadable_answer(status, headers, raw, call):
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(raw))

    client = truedy.TruedyClient("https://truedy.test/api/public/v1", 1, 2, transport=httpx.MockTransport(answer))
    arguments = (KEY,) if call == "list_campaigns" else (KEY, CAMPAIGN)
    try:
        getattr(client, call)(*arguments)
    except truedy.UnreadableAnswer as error:
        assert KEY not in str(error)
    except (truedy.RateLimited, truedy.TruedyServerError):
        assert status in (429, 500)  # a refusal whose body cannot be read keeps its status's meaning
    else:
        raise AssertionError("an unreadable answer was taken as a result")


# Pause: documented by Truedy's guide (from active or scheduled), its answers not: treated as resume's are.


def test_pause_sends_the_key_to_the_pause_path_and_reads_only_the_request_id():
    seen: list[httpx.Request] = []
    body = {"data": {"id": "batch_other", "status": "whatever"}, "meta": META}  # data is not read
    paused = client_answering(httpx.Response(200, json=body), seen=seen).pause(KEY, CAMPAIGN)
    assert paused == truedy.Paused(CAMPAIGN, "req_32e7531c")
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/api/public/v1/batch-calls/batch_c3d4e5f6/pause")]
    assert seen[0].headers["Authorization"] == f"Bearer {KEY}"


def test_pause_refuses_to_build_any_other_path():
    with pytest.raises(ValueError):
        client_answering().pause(KEY, "../api-keys")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "answer, status",
    [
        (error(422, "validation_error", "Campaign can only be paused when active. Current status: paused"), "paused"),
        (error(409, "conflict", "Not allowed", {"status": "completed"}), "completed"),
    ],
)
def test_a_campaign_that_cannot_be_paused_says_its_state(answer, status):
    with pytest.raises(truedy.NotPausable) as raised:
        client_answering(answer).pause(KEY, CAMPAIGN)
    assert raised.value.status == status and raised.value.request_id == "req_32e7531c"


def test_a_pause_refused_while_it_is_running_is_a_refused_request():
    answer = error(400, "bad_request", "Invalid request parameters")
    with pytest.raises(truedy.RequestRefused) as raised:
        client_answering(answer, campaign_body("running")).pause(KEY, CAMPAIGN)
    assert raised.value.http_status == 400


@pytest.mark.parametrize(
    "answer, error_type",
    [
        (error(401, "unauthorized", "Invalid or missing API key"), truedy.KeyRejected),
        (error(404, "not_found", "Batch_Call not found"), truedy.CampaignNotFound),
        (error(429, "rate_limit_exceeded", "Too many requests"), truedy.RateLimited),
        (error(500, "internal_error", "An unexpected error occurred"), truedy.TruedyServerError),
        (httpx.Response(200, text=HTML, headers={"Content-Type": "text/html"}), truedy.UnreadableAnswer),
        (httpx.Response(200, text='{"data": {"id'), truedy.UnreadableAnswer),
        (httpx.Response(200, json=["not", "an", "object"]), truedy.UnreadableAnswer),
        (httpx.ReadTimeout("slow"), truedy.NoAnswer),
        (httpx.ConnectError("refused"), truedy.TruedyUnreachable),
    ],
)
def test_every_other_pause_answer_is_typed_as_for_resume(answer, error_type):
    with pytest.raises(error_type) as raised:
        client_answering(answer).pause(KEY, CAMPAIGN)
    assert KEY not in repr(raised.value.__dict__)
    unknown = error_type in (truedy.TruedyServerError, truedy.UnreadableAnswer, truedy.NoAnswer)
    assert raised.value.outcome_unknown is unknown
