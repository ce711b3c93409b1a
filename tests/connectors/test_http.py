"""``connectors.http`` and ``connectors.paging`` on their own: pacing, classification, retries, paging.

HTTP goes through ``responses`` (a fake transport under ``requests``); every mock asserts that each declared
answer was asked for, so a retry that never happens fails the test.  Time is a fake clock whose ``sleep``
moves ``monotonic`` forward, so no test waits.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import responses

from connectors.errors import (
    AuthError,
    ConnectorError,
    FatalApiError,
    QuotaExhausted,
    RateLimited,
    RecordError,
    RepeatedPageToken,
    TransientError,
)
from connectors.http import Action, ApiClient, Exchange, Pacer, Verdict, parse_float, redact
from connectors.paging import (
    ActiveCampaignOffset,
    HubSpotAfter,
    Paginator,
    PipedriveCursor,
    PipedriveStart,
    SalesforceNextUrl,
    chunks,
    pages,
)

URL = "https://crm.test/api/items"


class Clock:
    """``monotonic`` and ``sleep`` sharing one fake time line; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def table_classify(exchange: Exchange) -> Verdict:
    """A status table like the adapters' (each CRM's own table is tested with its adapter)."""
    status = exchange.status
    if 200 <= status < 300:
        return Verdict(Action.OK)
    if status == 0 or status >= 500:
        return Verdict(Action.RETRY, f"server trouble ({status}): {exchange.error or exchange.body}")
    if status == 429:
        return Verdict(Action.RATE_LIMITED, "slow down", retry_after=parse_float(exchange.header("Retry-After")))
    if status == 401:
        return Verdict(Action.REFRESH_AUTH, "token expired")
    if status == 403:
        return Verdict(Action.AUTH_FAILED, "scope missing")
    if status == 402:
        return Verdict(Action.QUOTA_EXHAUSTED, "daily budget spent")
    if status == 422:
        return Verdict(Action.BAD_RECORD, f"bad value: {exchange.body}", code="INVALID_VALUE")
    return Verdict(Action.FATAL, f"refused: {exchange.body}")


class Transport:
    """One CRM endpoint over ``requests``: what an adapter's client does around ``ApiClient.call``."""

    def __init__(self, clock: Clock, *, refresh: Callable[[], None] | None = None, max_attempts: int = 4):
        self.session = requests.Session()
        self.pacer = Pacer(sleep=clock.sleep, monotonic=clock.monotonic)
        self.api = ApiClient(
            "testcrm",
            table_classify,
            pacer=self.pacer,
            max_attempts=max_attempts,
            backoff_max=8.0,
            sleep=clock.sleep,
            refresh_auth=refresh,
        )

    def to_exchange(self, result: requests.Response | BaseException) -> Exchange:
        if isinstance(result, BaseException):
            return Exchange(0, error=f"{type(result).__name__}: {result}")
        exchange = Exchange(result.status_code, dict(result.headers), result.text)
        # the rate-limit headers of every answer pace the next call
        self.pacer.update(
            remaining=int(parse_float(exchange.header("X-RateLimit-Remaining")) or 0)
            if exchange.header("X-RateLimit-Remaining") is not None
            else None,
            reset_in=parse_float(exchange.header("X-RateLimit-Reset")),
        )
        return exchange

    def get(self, endpoint: str = "items.list") -> Any:
        response = self.api.call(endpoint, lambda: self.session.get(URL, timeout=5), self.to_exchange)
        return response.json()


# -- Pacer ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("exchange", "body", "gist"),
    [
        (Exchange(400, body='{"error": "bad"}'), {"error": "bad"}, '{"error": "bad"}'),
        (Exchange(502, body="<html>gateway</html>"), {}, "<html>gateway</html>"),
        (Exchange(404, body='["a list"]'), {}, '["a list"]'),
        (Exchange(500), {}, "HTTP 500"),
        (Exchange(0, error="ConnectionError"), {}, "ConnectionError"),
    ],
)
def test_an_exchange_reads_its_body_as_a_json_object_and_sums_itself_up(
    exchange: Exchange, body: dict[str, Any], gist: str
) -> None:
    assert exchange.json_object() == body
    assert exchange.gist() == gist


def test_pacer_spreads_the_calls_left_over_the_time_left(clock: Clock) -> None:
    pacer = Pacer(sleep=clock.sleep, monotonic=clock.monotonic)
    pacer.update(remaining=5, reset_in=6.0)  # 4 usable (1 in reserve): one call every 6 / 5 s
    pacer.wait()
    assert clock.sleeps == [pytest.approx(1.2)]
    assert pacer.slept == pytest.approx(1.2)


def test_pacer_waits_for_the_reset_when_only_the_reserve_is_left(clock: Clock) -> None:
    pacer = Pacer(sleep=clock.sleep, monotonic=clock.monotonic, reserve=2)
    pacer.update(remaining=2, reset_in=3.5)
    pacer.wait()
    assert clock.sleeps == [pytest.approx(3.5)]


def test_pacer_ignores_answers_without_rate_limit_headers(clock: Clock) -> None:
    pacer = Pacer(sleep=clock.sleep, monotonic=clock.monotonic)
    pacer.update(remaining=None, reset_in=2.0)
    pacer.update(remaining=0, reset_in=None)
    pacer.update_rolling(remaining=None, window=10.0)
    pacer.wait()
    assert clock.sleeps == [] and pacer.slept == 0.0


def test_pacer_min_interval_spaces_every_call(clock: Clock) -> None:
    pacer = Pacer(sleep=clock.sleep, monotonic=clock.monotonic, min_interval=0.25)
    for _ in range(3):
        pacer.wait()
    assert clock.sleeps == [pytest.approx(0.25), pytest.approx(0.25)]


def test_pacer_rolling_window_waits_until_its_own_oldest_call_leaves(clock: Clock) -> None:
    pacer = Pacer(sleep=clock.sleep, monotonic=clock.monotonic)
    pacer.update_rolling(remaining=5, window=10.0)  # answered at t=1000: plenty left
    clock.now += 4.0
    pacer.update_rolling(remaining=1, window=10.0)  # answered at t=1004: only the reserve is left
    pacer.wait()
    assert clock.sleeps == [pytest.approx(6.0)]  # until the call of t=1000 leaves the window at t=1010


def test_pacer_rolling_window_waits_a_whole_window_for_calls_made_elsewhere(clock: Clock) -> None:
    pacer = Pacer(sleep=clock.sleep, monotonic=clock.monotonic)
    pacer.update_rolling(remaining=0, window=10.0)  # the window is full of someone else's calls
    pacer.wait()
    assert clock.sleeps == [pytest.approx(10.0)]


def test_pacer_block_for_delays_the_next_call(clock: Clock) -> None:
    pacer = Pacer(sleep=clock.sleep, monotonic=clock.monotonic)
    pacer.block_for(4.0)
    clock.now += 1.0
    pacer.wait()
    assert clock.sleeps == [pytest.approx(3.0)]


# -- ApiClient: classification ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "error", "exit_code"),
    [
        (400, FatalApiError, 1),
        (403, AuthError, 3),
        (402, QuotaExhausted, 3),
        (422, RecordError, 1),
    ],
)
def test_final_answers_raise_their_typed_error_after_one_call(
    clock: Clock, mock: responses.RequestsMock, status: int, error: type[ConnectorError], exit_code: int
) -> None:
    mock.get(URL, status=status, body="nope")
    transport = Transport(clock)
    with pytest.raises(error) as caught:
        transport.get()
    assert type(caught.value) is error and caught.value.exit_code == exit_code
    assert (caught.value.crm, caught.value.endpoint, caught.value.status) == ("testcrm", "items.list", status)
    assert transport.api.calls == {"items.list": 1} and not transport.api.retries
    assert clock.sleeps == []


def test_a_bad_record_carries_the_classifiers_code(clock: Clock, mock: responses.RequestsMock) -> None:
    mock.get(URL, status=422, body="email is not an email")
    with pytest.raises(RecordError) as caught:
        Transport(clock).get()
    assert caught.value.code == "INVALID_VALUE" and "email is not an email" in caught.value.message


def test_messages_never_carry_a_registered_secret(clock: Clock, mock: responses.RequestsMock) -> None:
    redact.add("sk-test-51f0c0ffee")
    mock.get(URL, status=400, body="token sk-test-51f0c0ffee is wrong; access_token=abc123")
    with pytest.raises(FatalApiError) as caught:
        Transport(clock).get()
    assert "sk-test-51f0c0ffee" not in str(caught.value) and "abc123" not in str(caught.value)
    assert "***" in caught.value.message


# -- ApiClient: retries -------------------------------------------------------------------------------------
def test_transient_failures_are_retried_with_backoff_then_succeed(clock: Clock, mock: responses.RequestsMock) -> None:
    mock.get(URL, status=503, body="busy")
    mock.get(URL, body=requests.ConnectionError("connection reset"))
    mock.get(URL, json={"items": [1, 2]})
    transport = Transport(clock)
    assert transport.get() == {"items": [1, 2]}
    assert transport.api.calls == {"items.list": 3} and transport.api.retries == {"items.list": 2}
    assert len(clock.sleeps) == 2 and all(0 <= s <= 8.0 for s in clock.sleeps)  # backoff_max bounds each wait


def test_retries_stop_after_max_attempts_with_the_transient_error(clock: Clock, mock: responses.RequestsMock) -> None:
    for _ in range(3):
        mock.get(URL, status=502, body="bad gateway")
    transport = Transport(clock, max_attempts=3)
    with pytest.raises(TransientError) as caught:
        transport.get()
    assert caught.value.status == 502 and "bad gateway" in caught.value.message
    assert transport.api.calls == {"items.list": 3} and transport.api.retries == {"items.list": 2}


def test_retry_after_is_honoured_before_the_next_attempt(clock: Clock, mock: responses.RequestsMock) -> None:
    mock.get(URL, status=429, headers={"Retry-After": "7"})
    mock.get(URL, json={"ok": True})
    transport = Transport(clock)
    assert transport.get() == {"ok": True}
    assert clock.sleeps and clock.sleeps[0] >= 7.0  # at least Retry-After, plus a little jitter
    assert sum(clock.sleeps) < 7.0 + 8.0 * 0.1 + 1e-9  # the pacer's block is not slept a second time
    assert transport.api.retries == {"items.list": 1}


def test_rate_limited_without_retry_after_falls_back_to_backoff(clock: Clock, mock: responses.RequestsMock) -> None:
    mock.get(URL, status=429)
    mock.get(URL, status=429)
    transport = Transport(clock, max_attempts=2)
    with pytest.raises(RateLimited) as caught:
        transport.get()
    assert caught.value.retry_after is None and isinstance(caught.value, TransientError)
    assert len(clock.sleeps) == 1


def test_rate_limit_headers_pace_the_following_call(clock: Clock, mock: responses.RequestsMock) -> None:
    mock.get(URL, json={"page": 1}, headers={"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "2"})
    mock.get(URL, json={"page": 2})
    transport = Transport(clock)
    assert transport.get() == {"page": 1}
    assert clock.sleeps == []
    assert transport.get() == {"page": 2}
    assert clock.sleeps == [pytest.approx(2.0)]  # only the reserve left: wait for the window to reset


def test_an_expired_token_is_refreshed_once_and_the_call_repeated(clock: Clock, mock: responses.RequestsMock) -> None:
    refreshed: list[bool] = []
    mock.get(URL, status=401)
    mock.get(URL, json={"ok": True})
    transport = Transport(clock, refresh=lambda: refreshed.append(True))
    assert transport.get() == {"ok": True}
    assert refreshed == [True]


def test_a_token_refused_again_after_refreshing_is_an_auth_error(clock: Clock, mock: responses.RequestsMock) -> None:
    refreshed: list[bool] = []
    mock.get(URL, status=401)
    mock.get(URL, status=401)
    transport = Transport(clock, refresh=lambda: refreshed.append(True))
    with pytest.raises(AuthError):
        transport.get()
    assert refreshed == [True] and transport.api.calls == {"items.list": 2}


def test_without_a_refresh_an_expired_token_is_an_auth_error(clock: Clock, mock: responses.RequestsMock) -> None:
    mock.get(URL, status=401)
    with pytest.raises(AuthError):
        Transport(clock).get()


# -- paginators ---------------------------------------------------------------------------------------------
def test_hubspot_after_reads_json_and_client_models() -> None:
    paginator = HubSpotAfter(endpoint="contacts.list")
    assert paginator.next_request({"limit": 100}) == {"limit": 100}
    paginator.update_state({"results": [], "paging": {"next": {"after": "200"}}})
    assert paginator.has_next and paginator.next_request({"limit": 100}) == {"limit": 100, "after": "200"}
    model = SimpleNamespace(results=[], paging=SimpleNamespace(next=SimpleNamespace(after=300)))
    paginator.update_state(model)
    assert paginator.token == "300"
    paginator.update_state(SimpleNamespace(results=[], paging=None))
    assert not paginator.has_next


def test_salesforce_next_url_follows_until_done() -> None:
    paginator = SalesforceNextUrl()
    paginator.update_state({"done": False, "nextRecordsUrl": "/services/data/v59.0/query/01g-2000", "records": []})
    assert paginator.next_request() == {"next_url": "/services/data/v59.0/query/01g-2000"}
    paginator.update_state({"done": True, "records": []})
    assert not paginator.has_next


def test_pipedrive_start_sends_start_and_limit() -> None:
    paginator = PipedriveStart(500)
    assert paginator.next_request({"sort": "id"}) == {"sort": "id", "start": 0, "limit": 500}
    paginator.update_state({"additional_data": {"pagination": {"more_items_in_collection": True, "next_start": 500}}})
    assert paginator.next_request() == {"start": 500, "limit": 500}
    paginator.update_state({"additional_data": {"pagination": {"more_items_in_collection": False}}})
    assert not paginator.has_next


def test_pipedrive_cursor_ends_on_a_null_cursor() -> None:
    paginator = PipedriveCursor()
    paginator.update_state({"data": [], "additional_data": {"next_cursor": "eyJpZCI6NX0"}})
    assert paginator.next_request({"limit": 2}) == {"limit": 2, "cursor": "eyJpZCI6NX0"}
    paginator.update_state({"data": [], "additional_data": {"next_cursor": None}})
    assert not paginator.has_next


def test_activecampaign_offset_ends_at_the_total_or_an_empty_page() -> None:
    paginator = ActiveCampaignOffset(2, "tags")
    assert paginator.next_request({"search": "hot"}) == {"search": "hot", "offset": 0, "limit": 2}
    paginator.update_state({"tags": [{}, {}], "meta": {"total": "5"}})
    assert paginator.next_request() == {"offset": 2, "limit": 2}
    paginator.update_state({"tags": [{}, {}], "meta": {"total": "5"}})
    assert paginator.token == 4 and paginator.has_next
    paginator.update_state({"tags": [{}], "meta": {"total": "5"}})
    assert not paginator.has_next
    early = ActiveCampaignOffset(2, "tags")
    early.update_state({"tags": [], "meta": {"total": "5"}})  # a total that overstates stops at the empty page
    assert not early.has_next


def listing(answers: dict[Any, dict[str, Any]], param: str) -> tuple[Callable[[dict[str, Any]], Any], list[Any]]:
    """A fake list endpoint: the page for each position, and the positions asked for."""
    asked: list[Any] = []

    def fetch(request: dict[str, Any]) -> Any:
        asked.append(request.get(param))
        return answers[request.get(param)]

    return fetch, asked


def test_pages_walks_a_listing_to_its_end() -> None:
    fetch, asked = listing(
        {
            None: {"data": [1, 2], "additional_data": {"next_cursor": "b"}},
            "b": {"data": [3, 4], "additional_data": {"next_cursor": "c"}},
            "c": {"data": [5], "additional_data": {"next_cursor": None}},
        },
        "cursor",
    )
    paginator = PipedriveCursor()
    more = []
    items = []
    for page in pages(fetch, paginator, {"limit": 2}):
        items += page["data"]
        more.append(paginator.has_next)  # known before the page is handed out
    assert items == [1, 2, 3, 4, 5] and asked == [None, "b", "c"] and more == [True, True, False]


@pytest.mark.parametrize(
    ("paginator", "answers", "param"),
    [
        (
            HubSpotAfter(endpoint="owners.list"),
            {None: {"paging": {"next": {"after": "a"}}}, "a": {"paging": {"next": {"after": "a"}}}},
            "after",
        ),
        (
            PipedriveCursor(endpoint="persons.list"),
            {
                None: {"additional_data": {"next_cursor": "x"}},
                "x": {"additional_data": {"next_cursor": "y"}},
                "y": {"additional_data": {"next_cursor": "x"}},  # a cycle, not just the same token twice in a row
            },
            "cursor",
        ),
        (
            PipedriveStart(100, endpoint="personFields.list"),
            {0: {"additional_data": {"pagination": {"more_items_in_collection": True, "next_start": 0}}}},
            "start",
        ),
        (
            SalesforceNextUrl(endpoint="query"),
            {
                None: {"done": False, "nextRecordsUrl": "/q/1"},
                "/q/1": {"done": False, "nextRecordsUrl": "/q/1"},
            },
            "next_url",
        ),
    ],
    ids=["hubspot", "pipedrive-v2", "pipedrive-v1", "salesforce"],
)
def test_a_repeated_page_token_stops_the_listing(paginator: Paginator, answers: dict[Any, Any], param: str) -> None:
    fetch, asked = listing(answers, param)
    with pytest.raises(RepeatedPageToken) as caught:
        list(pages(fetch, paginator))
    assert isinstance(caught.value, FatalApiError)  # the run stops; its last saved cursor stays
    assert (caught.value.crm, caught.value.endpoint) == (paginator.crm, paginator.endpoint)
    assert "second time" in caught.value.message
    assert len(asked) == len(answers)  # no page is asked for twice


def test_a_resumed_listing_guards_its_starting_token() -> None:
    fetch, _ = listing({"s": {"paging": {"next": {"after": "s"}}}}, "after")
    with pytest.raises(RepeatedPageToken):
        list(pages(fetch, HubSpotAfter("s")))


def test_chunks_cuts_sequences_and_iterators() -> None:
    assert list(chunks([1, 2, 3, 4, 5], 2)) == [[1, 2], [3, 4], [5]]
    assert list(chunks(iter(range(4)), 4)) == [[0, 1, 2, 3]]
    assert list(chunks([], 3)) == []
