"""Property-based: whatever people type and whatever Truedy (or something in front of it) answers, the bot
never crashes, never builds another path, never repeats a key."""

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import truedy
from bot.resume import ResumeRequest
from bot.slack.blocks import alert_blocks, home_blocks, list_blocks, messages
from bot.storage.workspace_settings import WorkspaceId, WorkspaceSettings
from bot.truedy.campaign_id import CampaignId, InvalidCampaignId, parse_campaign_id

KEY = "truedy_PropertyKey00000000000001"
SAFE_PATHS = re.compile(r"^/api/public/v1/batch-calls(/[A-Za-z0-9][A-Za-z0-9_-]{2,63}(/resume)?)?$")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=15), children, max_size=5),
    max_leaves=30,
)
# Bodies shaped like Truedy's, with every field possibly of the wrong type or missing.
truedy_like = st.fixed_dictionaries(
    {},
    optional={
        "data": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "id": st.one_of(st.just("batch_c3d4e5f6"), json_values),
                    "status": st.one_of(st.sampled_from(["running", "active", "paused", "scheduled"]), json_values),
                    "resumed_at": st.one_of(st.just("2026-04-05T11:00:00Z"), json_values),
                },
            ),
        ),
        "error": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {},
                optional={
                    "code": json_values,
                    "message": st.one_of(st.text(max_size=80), st.just(f"bad key {KEY}"), json_values),
                    "details": json_values,
                },
            ),
        ),
        "meta": st.one_of(json_values, st.fixed_dictionaries({}, optional={"request_id": json_values})),
        "pagination": json_values,
    },
)
raw_bodies = st.one_of(
    truedy_like.map(lambda body: json.dumps(body).encode()),
    json_values.map(lambda body: json.dumps(body).encode()),
    truedy_like.map(lambda body: json.dumps(body).encode()).flatmap(
        lambda encoded: st.integers(0, max(0, len(encoded) - 1)).map(lambda cut: encoded[:cut])  # truncated
    ),
    st.binary(max_size=300),
    st.just(b"<html><body>502 Bad Gateway</body></html>"),
    st.just(b'{"data": {"id": "batch_c3d4e5f6", "status": "' + b"x" * 200_000 + b'"}}'),  # huge
)
statuses = st.sampled_from([200, 201, 204, 301, 400, 401, 402, 403, 404, 409, 418, 422, 429, 500, 502, 503])
header_sets = st.fixed_dictionaries(
    {},
    optional={
        "Retry-After": st.one_of(st.integers(-10, 10**30).map(str), st.text(max_size=40)),
        "Content-Type": st.sampled_from(["application/json", "text/html", "", "application/json; charset=latin-1"]),
    },
)


def client_answering(status: int, body: bytes, headers: dict[str, str], seen: list[httpx.Request]):
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        clean = {k: v.encode("ascii", "ignore").decode() for k, v in headers.items()}
        return httpx.Response(status, content=body, headers=clean)

    return truedy.TruedyClient("https://truedy.test/api/public/v1", 1, 1, transport=httpx.MockTransport(handle))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(status=statuses, body=raw_bodies, headers=header_sets)
def test_any_answer_to_a_resume_is_a_result_or_a_typed_error_and_never_repeats_the_key(status, body, headers):
    seen: list[httpx.Request] = []
    client = client_answering(status, body, headers, seen)
    campaign_id = CampaignId("batch_c3d4e5f6")
    try:
        outcome = client.resume(KEY, campaign_id)
    except truedy.TruedyError as error:
        outcome = error
        assert KEY not in str(error) and KEY not in repr(vars(error))
    assert all(SAFE_PATHS.match(request.url.path) for request in seen)
    assert all(request.url.query in (b"",) for request in seen)
    request = ResumeRequest("T0BOT0001", "U0ALICE01", campaign_id, "command")
    for message in (messages.result_details(campaign_id, outcome), messages.resumed_summary(request, outcome)):
        text = json.dumps(message)
        assert KEY not in text
        assert "<!channel>" not in text and "<!here>" not in text


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(retry_after=st.one_of(st.integers(-10, 10**30).map(str), st.text(max_size=40)), body=raw_bodies)
def test_any_rate_limit_answer_is_rate_limited_with_a_sane_time(retry_after, body):
    headers = {"Retry-After": retry_after.encode("ascii", "ignore").decode()}
    client = client_answering(429, body, headers, [])
    try:
        client.resume(KEY, CampaignId("batch_c3d4e5f6"))
    except truedy.RateLimited as error:
        if error.retry_at is not None:
            messages.result_details("batch_c3d4e5f6", error)  # renders
    else:
        raise AssertionError("a 429 is RateLimited")


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(status=statuses, body=raw_bodies)
def test_any_answer_to_a_list_is_a_page_or_a_typed_error(status, body):
    seen: list[httpx.Request] = []
    client = client_answering(status, body, {}, seen)
    try:
        page = client.list_campaigns(KEY, status="paused", limit=100, offset=0)
    except truedy.TruedyError as error:
        assert KEY not in str(error)
    else:
        assert all(isinstance(campaign, truedy.Campaign) for campaign in page.campaigns)
        assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{2,63}", campaign.id) for campaign in page.campaigns)
    assert [request.url.path for request in seen] == ["/api/public/v1/batch-calls"]


@settings(max_examples=1000)
@given(st.text(max_size=400))
def test_command_text_is_a_safe_id_or_a_reason(text):
    parsed = parse_campaign_id(text)
    if isinstance(parsed, InvalidCampaignId):
        reply = messages.invalid_campaign_id(text, parsed.reason)["text"]
        assert "<!" not in reply and "<@" not in reply and "<#" not in reply
    else:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{2,63}", parsed)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-/.%?#", min_size=1, max_size=70))
def test_accepted_ids_contain_nothing_that_changes_a_url(text):
    parsed = parse_campaign_id(text)
    if not isinstance(parsed, InvalidCampaignId):
        assert not set(parsed) & set("/.%?#")


@given(st.text(max_size=300))
def test_outside_text_never_becomes_a_mention_or_a_key(text):
    shown = messages.escape(text + " " + KEY)
    assert "<" not in shown and ">" not in shown
    assert KEY not in shown


def test_a_key_echoed_by_truedy_is_never_repeated():
    body = json.dumps({"error": {"code": "unauthorized", "message": f"Key {KEY} is revoked"}}).encode()
    with_other_shape = "custom-key-without-a-prefix"
    for key in (KEY, with_other_shape):
        client = client_answering(401, body.replace(KEY.encode(), key.encode()), {}, [])
        try:
            client.resume(key, CampaignId("batch_c3d4e5f6"))
        except truedy.KeyRejected as error:
            assert key not in error.detail and "[redacted]" in error.detail
        else:
            raise AssertionError("a 401 is KeyRejected")


def test_dates_far_in_the_past_or_future_still_render():
    for moment in (datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC)):
        assert messages.slack_date(moment).startswith("<!date^")


# Any moment of the calendar Python knows, at any UTC offset it accepts, written as Truedy would.
offsets = st.integers(-(24 * 3600 - 1), 24 * 3600 - 1).map(lambda seconds: timezone(timedelta(seconds=seconds)))
any_timestamp = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59), timezones=offsets).map(
        lambda moment: moment.isoformat()
    ),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
        lambda moment: moment.isoformat()  # no offset at all
    ),
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "9999-12-31T23:59:59.999999+00:00"]),
)


def answer_with_timestamp(moment: str):
    campaign = {"id": "batch_c3d4e5f6", "name": "Q2", "status": "paused", "updated_at": moment}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/resume"):
            if request.headers.get("Authorization") == f"Bearer {KEY}-limited":
                details = {"reset_at": moment}
                return httpx.Response(429, json={"error": {"code": "rate_limited", "details": details}})
            data = {"id": "batch_c3d4e5f6", "status": "active", "resumed_at": moment}
            return httpx.Response(200, json={"data": data})
        if request.url.path.endswith("/batch-calls"):
            return httpx.Response(200, json={"data": [campaign], "pagination": {"has_more": False}})
        return httpx.Response(200, json={"data": campaign})

    return truedy.TruedyClient("https://truedy.test/api/public/v1", 1, 1, transport=httpx.MockTransport(handle))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(moment=any_timestamp)
def test_any_timestamp_truedy_sends_is_shown_or_unknown_and_crashes_nothing(moment):
    client = answer_with_timestamp(moment)
    campaign_id = CampaignId("batch_c3d4e5f6")
    resumed = client.resume(KEY, campaign_id)
    listed = client.list_campaigns(KEY, status="paused")
    fetched = client.get_campaign(KEY, campaign_id)
    try:
        client.resume(f"{KEY}-limited", campaign_id)
    except truedy.RateLimited as error:
        limited = error
    for parsed in (resumed.resumed_at, fetched.updated_at, listed.campaigns[0].updated_at, limited.retry_at):
        assert parsed is None or (parsed.tzinfo is not None and truedy.EARLIEST <= parsed < truedy.LATEST)
    now = datetime.now(UTC)
    request = ResumeRequest("T0BOT0001", "U0ALICE01", campaign_id, "button")
    # Every place a Truedy time is shown: an alert (what a poll posts), the list, the Home tab, a thread reply.
    alert_blocks.alert(fetched, "https://app.truedy.ai")
    alert_blocks.final_state("U0ALICE01", resumed, now)
    alert_blocks.final_state("U0ALICE01", limited, now)
    list_blocks.paused_list(listed, 0)
    connected = WorkspaceSettings(WorkspaceId("", "T0BOT0001"), KEY, "0001", "slack", None, None, (), (), None, None)
    assert "batch_c3d4e5f6" in str(home_blocks.home(connected, listed, [], may_set_up=False))
    for outcome in (resumed, limited):
        messages.result_details(campaign_id, outcome)
        messages.resumed_summary(request, outcome)
    limited.retry_at_or_in_a_minute()
