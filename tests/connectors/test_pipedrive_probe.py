"""The fast lane's Pipedrive probe: ``GET /v1/recents`` pinned with ``responses``, and the sandbox's emulation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr
from responses import matchers

from connectors.errors import FatalApiError
from connectors.pipedrive import PipedriveAdapter, PipedriveConfig
from connectors.pipedrive.cursor import ChangeCursor
from connectors.pipedrive.probe import changes_pending
from connectors.sandbox import Sandbox
from connectors.sandbox.pipedrive import PipedriveApi
from tests.connectors.samples_pipedrive import T0, api_session, people_dataset

BASE = "https://acme.pipedrive.com"
SINCE = 1_741_003_200  # 2025-03-03 12:00:00 UTC
SEEN = ChangeCursor("persons", SINCE, {"7": "0badf00d"}).dumps()
ACTIVITIES = ChangeCursor("activities", SINCE + 5, {"40": "00c0ffee"}).dumps()


def _adapter() -> PipedriveAdapter:
    return PipedriveAdapter(PipedriveConfig.for_company("acme", api_token=SecretStr("pd-t"), sleep=lambda s: None))


def _entry(item: str, ident: int, update_time: str, **data: Any) -> dict[str, Any]:
    return {"item": item, "id": ident, "data": {"id": ident, "update_time": update_time, "active_flag": True} | data}


def _page(entries: list[dict[str, Any]], *, start: int = 0, more: bool = False) -> dict[str, Any]:
    pagination = {"start": start, "limit": 500, "more_items_in_collection": more} | (
        {"next_start": 500} if more else {}
    )
    return {"success": True, "data": entries, "additional_data": {"pagination": pagination}}


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def _recents(mock: responses.RequestsMock, body: dict[str, Any], **query: str) -> None:
    params = {
        "since_timestamp": "2025-03-03 11:59:59",
        "items": "person,activity",
        "limit": "500",
        "start": "0",
    } | query
    mock.get(f"{BASE}/api/v1/recents", json=body, match=[matchers.query_param_matcher(params)])


def test_nothing_new_is_one_call_from_a_second_before_the_older_cursor(mock: responses.RequestsMock) -> None:
    # the boundary second's person the cursor handled, an older activity: nothing the sync would read
    entries = [_entry("person", 7, "2025-03-03 12:00:00"), _entry("activity", 40, "2025-03-03 12:00:05")]
    _recents(mock, _page(entries))

    assert changes_pending(_adapter(), SEEN, ACTIVITIES) is False
    assert len(mock.calls) == 1 and mock.calls[0].request.headers["x-api-token"] == "pd-t"


@pytest.mark.parametrize(
    "entry",
    [
        _entry("person", 8, "2025-03-03 12:00:00"),  # same second, another person
        _entry("person", 7, "2025-03-03 12:00:01"),  # the same person, later
        _entry("activity", 41, "2025-03-03 12:00:05", person_id=7),  # a new activity at the activity boundary
    ],
)
def test_a_change_the_cursors_have_not_handled_is_pending(mock: responses.RequestsMock, entry: dict[str, Any]) -> None:
    _recents(mock, _page([entry]))
    assert changes_pending(_adapter(), SEEN, ACTIVITIES) is True


def test_a_refused_probe_asks_the_sync_and_other_errors_are_raised(mock: responses.RequestsMock) -> None:
    refused = {"success": False, "error": "Invalid items", "error_info": "Please check developers.pipedrive.com"}
    mock.get(f"{BASE}/api/v1/recents", json=refused, status=400)
    assert changes_pending(_adapter(), SEEN, ACTIVITIES) is True, "a 400 on items: the tick runs the sync"
    mock.replace(responses.GET, f"{BASE}/api/v1/recents", json={"success": False, "error": "gone"}, status=404)
    with pytest.raises(FatalApiError):
        changes_pending(_adapter(), SEEN, ACTIVITIES)


def test_a_deleted_record_is_left_to_the_scheduled_sync(mock: responses.RequestsMock) -> None:
    _recents(mock, _page([_entry("person", 9, "2025-03-03 12:00:09", active_flag=False)]))
    assert changes_pending(_adapter(), SEEN, ACTIVITIES) is False


def test_pages_on_with_start_while_more_items_follow(mock: responses.RequestsMock) -> None:
    _recents(mock, _page([_entry("person", 7, "2025-03-03 12:00:00")], more=True))
    _recents(mock, _page([_entry("person", 8, "2025-03-03 12:00:02")], start=500), start="500")
    assert changes_pending(_adapter(), SEEN, ACTIVITIES) is True


def test_without_an_activity_cursor_only_persons_are_asked(mock: responses.RequestsMock) -> None:
    _recents(mock, _page([]), items="person")
    assert changes_pending(_adapter(), SEEN, None) is False


def test_a_read_not_finished_asks_the_sync_without_a_call(mock: responses.RequestsMock) -> None:
    unfinished = ChangeCursor("persons", SINCE, until=SINCE + 60).dumps()
    assert changes_pending(_adapter(), unfinished, ACTIVITIES) is True
    assert changes_pending(_adapter(), ChangeCursor("persons").dumps(), ACTIVITIES) is True


# -- the sandbox -------------------------------------------------------------------------------------------
@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[requests.Session]:
    with api_session(sandbox) as session:
        yield session


def _get(http: requests.Session, sandbox: Sandbox, **params: Any) -> requests.Response:
    return http.get(f"{sandbox.pipedrive_url}/api/v1/recents", params=params, timeout=10)


def test_sandbox_recents_lists_changes_strictly_after_oldest_first_and_costs_20_tokens(
    sandbox: Sandbox, pd: PipedriveApi, http: requests.Session
) -> None:
    ids = pd.load(people_dataset(6, per_second=2, activities=1))  # update_time T0, T0, T0+1, T0+1, T0+2, T0+2
    sandbox.counters.reset()
    before = pd.tokens_used()
    answer = _get(http, sandbox, since_timestamp=f"{T0:%Y-%m-%d %H:%M:%S}", items="person", limit=1)

    assert answer.status_code == 200 and pd.tokens_used() - before == 20
    body = answer.json()
    first = body["data"][0]
    assert (
        first["item"] == "person" and first["data"]["update_time"] == f"{T0 + timedelta(seconds=1):%Y-%m-%d %H:%M:%S}"
    )
    assert str(first["id"]) in (ids["p0002"], ids["p0003"])
    assert body["additional_data"]["pagination"] == {
        "start": 0, "limit": 1, "more_items_in_collection": True, "next_start": 1,
    }  # fmt: skip
    everything = _get(http, sandbox, since_timestamp=f"{T0:%Y-%m-%d %H:%M:%S}", items="person", limit=500).json()
    assert len(everything["data"]) == 4  # the two persons at T0 are not "after" it


def test_sandbox_recents_lists_a_new_activity_and_checks_its_arguments(
    sandbox: Sandbox, pd: PipedriveApi, http: requests.Session
) -> None:
    ids = pd.load(people_dataset(2))
    sandbox.clock.set(T0 + timedelta(minutes=5))
    activity = pd.add_activity(ids["p0001"], "demo_request", T0)
    since = f"{T0 + timedelta(minutes=1):%Y-%m-%d %H:%M:%S}"

    data = _get(http, sandbox, since_timestamp=since, items="person,activity").json()["data"]
    assert [(d["item"], str(d["id"]), str(d["data"]["person_id"])) for d in data] == [
        ("activity", activity, ids["p0001"])
    ]
    assert _get(http, sandbox, since_timestamp=since, items="deal").json()["data"] == []
    assert _get(http, sandbox, since_timestamp="2025-03-03T12:00:00Z").status_code == 400
    assert _get(http, sandbox, since_timestamp=since, items="person,lead").status_code == 400
    assert _get(http, sandbox).status_code == 400
