"""Request shapes the Pipedrive adapter sends, pinned with ``responses`` (no sandbox involved)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from pydantic import SecretStr
from responses import matchers

from connectors.errors import QuotaExhausted
from connectors.pipedrive import PipedriveAdapter, PipedriveConfig
from connectors.records import FieldSpec, FieldUpdate, WriteStatus
from tests.harnesses import MemoryCache

BASE = "https://acme.pipedrive.com"
TOKEN = "pd-test-token-0001"
TITLE, STAGE, SCORE = "a" * 40, "b" * 40, "c" * 40
INTERESTS = "d" * 40


def _field(
    code: str, name: str, kind: str, custom: bool, options: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A v2 person field as ``GET /api/v2/personFields`` lists it."""
    return {"field_code": code, "field_name": name, "field_type": kind, "options": options, "subfields": None,
            "is_custom_field": custom, "is_optional_response_field": False}  # fmt: skip


FIELDS = [
    _field("name", "Name", "varchar", False),
    _field("email", "Email", "varchar", False),
    _field("owner_id", "Owner", "user", False),
    _field(TITLE, "Job title", "varchar", True),
    _field(STAGE, "Lifecycle stage", "enum", True, [{"id": 11, "label": "Lead"}, {"id": 12, "label": "MQL"}]),
    _field(SCORE, "Leadsync score", "double", True),
    _field(INTERESTS, "Interests", "set", True, [{"id": 21, "label": "A"}, {"id": 22, "label": "B"}]),
]
LIMITS = {
    "x-ratelimit-limit": "40",
    "x-ratelimit-remaining": "39",
    "x-ratelimit-reset": "2",
    "x-daily-ratelimit-token-limit": "600000",
    "x-daily-ratelimit-token-remaining": "599000",
}


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        yield rsps


def _adapter(**overrides: Any) -> PipedriveAdapter:
    settings: dict[str, Any] = {"api_token": SecretStr(TOKEN), "sleep": lambda s: None}
    return PipedriveAdapter(PipedriveConfig.for_company("acme", **(settings | overrides)))


def _fields(mock: responses.RequestsMock, fields: list[dict[str, Any]] = FIELDS) -> None:
    """``GET /api/v2/personFields``, in two cursor pages."""
    half = len(fields) // 2
    mock.get(
        f"{BASE}/api/v2/personFields",
        json={"success": True, "data": fields[:half], "additional_data": {"next_cursor": "f1"}},
        headers=LIMITS,
        match=[matchers.query_param_matcher({"limit": "500"})],
    )
    mock.get(
        f"{BASE}/api/v2/personFields",
        json={"success": True, "data": fields[half:], "additional_data": {"next_cursor": None}},
        headers=LIMITS,
        match=[matchers.query_param_matcher({"limit": "500", "cursor": "f1"})],
    )


def _person(ident: int, second: int) -> dict[str, Any]:
    return {
        "id": ident,
        "name": f"P{ident}",
        "update_time": f"2025-03-03T12:00:{second:02d}Z",
        "owner_id": 7,
        "emails": [{"value": f"p{ident}@x.example", "primary": True}],
        "custom_fields": {TITLE: "CTO"},
    }


def _query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def test_v2_person_list_params_auth_header_and_cursor(mock):
    _fields(mock)
    page = {"success": True, "data": [_person(1, 5)], "additional_data": {"next_cursor": "eyJpZCI6MX0="}}
    last = {"success": True, "data": [_person(2, 6)], "additional_data": {"next_cursor": None}}
    mock.get(f"{BASE}/api/v2/persons", json=page, headers=LIMITS)
    mock.get(f"{BASE}/api/v2/persons", json=last, headers=LIMITS)
    cursor = '{"v":1,"kind":"persons","since":"2025-03-03T12:00:04Z","seen":{"9":"x"}}'
    adapter = _adapter(field_map={"email": "email", "title": "Job title", "lifecycle_stage": "Lifecycle stage"})

    pages = list(adapter.read_contacts(cursor))

    assert [c.fields for p in pages for c in p.contacts] == [
        {"email": "p1@x.example", "title": "CTO", "lifecycle_stage": None},
        {"email": "p2@x.example", "title": "CTO", "lifecycle_stage": None},
    ]
    first, second = (_query(call) for call in mock.calls[2:])
    assert first == {
        "limit": ["500"],
        "sort_by": ["update_time"],
        "sort_direction": ["asc"],
        "updated_since": ["2025-03-03T12:00:04Z"],
        "custom_fields": [",".join(sorted([TITLE, STAGE]))],
    }
    assert second == first | {"cursor": ["eyJpZCI6MX0="]}
    for call in mock.calls:
        assert call.request.headers["x-api-token"] == TOKEN
        assert TOKEN not in call.request.url and "Authorization" not in call.request.headers


def test_more_than_15_custom_fields_drop_the_filter(mock):
    many = [_field(f"{i:040x}", f"Field {i}", "varchar", True) for i in range(16)]
    _fields(mock, many)
    mock.get(f"{BASE}/api/v2/persons", json={"success": True, "data": [], "additional_data": {"next_cursor": None}})
    now = datetime(2025, 3, 3, 12, 0, 9, 500000, tzinfo=UTC)
    slept: list[float] = []
    adapter = _adapter(
        field_map={}, extra_fields=[f"Field {i}" for i in range(16)], now=lambda: now, sleep=slept.append
    )

    assert next(iter(adapter.read_contacts(None))).contacts == ()
    assert slept[0] == 0.5, "the read waits out the second it starts in, so its own writes land after the bound"
    assert _query(mock.calls[2]) == {
        "limit": ["500"],
        "sort_by": ["update_time"],
        "sort_direction": ["asc"],
        # a backfill reads the second it starts in, not the writes made behind it (after that second)
        "updated_until": ["2025-03-03T12:00:10Z"],
    }


def test_patch_v2_body_custom_fields_inside_custom_fields_and_exact_types(mock):
    _fields(mock)
    body = {
        "custom_fields": {TITLE: "CRO", STAGE: 12, SCORE: 87.5, INTERESTS: [21, 22]},
        "owner_id": 7,
        "emails": [{"value": "new@x.example", "primary": True, "label": "work"}],
    }
    mock.patch(
        f"{BASE}/api/v2/persons/42",
        json={"success": True, "data": {"id": 42}},
        headers=LIMITS,
        match=[matchers.json_params_matcher(body)],
    )
    cleared = {"custom_fields": {TITLE: None, INTERESTS: None}, "emails": []}  # null clears; a set takes no []
    mock.patch(
        f"{BASE}/api/v2/persons/43",
        json={"success": True, "data": {"id": 43}},
        match=[matchers.json_params_matcher(cleared)],
    )
    values = {"title": "CRO", "lifecycle_stage": "mql", "Leadsync score": 87.5, "owner_id": "7"}
    updates = [
        FieldUpdate("42", values | {"email": "new@x.example", "Interests": "A,B"}),
        FieldUpdate("43", {"title": None, "Interests": "", "email": None}),
    ]
    results = _adapter(field_map={"title": "Job title", "lifecycle_stage": "Lifecycle stage"}).write(updates)

    assert [(r.contact_id, r.status) for r in results] == [("42", WriteStatus.OK), ("43", WriteStatus.OK)]
    assert mock.calls[2].request.headers["Content-Type"] == "application/json"


def test_a_person_merged_away_is_reported_gone(mock):
    _fields(mock)
    missing = {"success": False, "error": "Person not found", "error_info": "Please check developers.pipedrive.com"}
    mock.patch(f"{BASE}/api/v2/persons/42", status=404, json=missing)

    [result] = _adapter().write([FieldUpdate("42", {"Job title": "CRO"})])

    assert (result.status, result.error_code, result.requested_id) == (WriteStatus.GONE, "gone", "42")
    assert "merged into another person" in result.error


def test_fields_come_from_the_cache_and_are_read_again_on_a_miss(mock):
    cache = MemoryCache()
    _fields(mock)
    mock.patch(f"{BASE}/api/v2/persons/42", json={"success": True, "data": {"id": 42}})
    _adapter(fields_cache=cache).write([FieldUpdate("42", {"Job title": "CRO"})])
    assert cache.puts == 1 and len(json.loads(cache.blob or "")["fields"]) == len(FIELDS)

    mock.patch(f"{BASE}/api/v2/persons/43", json={"success": True, "data": {"id": 43}})
    _adapter(fields_cache=cache).write([FieldUpdate("43", {"Leadsync score": 3})])  # every field cached: no read
    assert [c.request.method for c in mock.calls[3:]] == ["PATCH"]

    stale = MemoryCache(json.dumps({"fields": FIELDS[:3]}))  # "Job title" is not in it
    _fields(mock)
    mock.patch(f"{BASE}/api/v2/persons/44", json={"success": True, "data": {"id": 44}})
    [result] = _adapter(fields_cache=stale).write([FieldUpdate("44", {"Job title": "CRO"})])
    assert result.status is WriteStatus.OK and stale.puts == 1
    assert [urlsplit(c.request.url).path for c in mock.calls[4:]] == [
        "/api/v2/personFields",
        "/api/v2/personFields",
        "/api/v2/persons/44",
    ]


@pytest.mark.parametrize(
    ("due_time", "expected"),
    [("15:04:05", datetime(2025, 3, 3, 15, 4, 5, tzinfo=UTC)), ("15:04", datetime(2025, 3, 4, 9, tzinfo=UTC))],
)
def test_activity_due_time_is_hh_mm_ss(mock, due_time, expected):
    activity = {
        "id": 1, "type": "call", "subject": "Call", "person_id": 5, "done": True, "due_date": "2025-03-03",
        "due_time": due_time, "add_time": "2025-03-04T09:00:00Z", "update_time": "2025-03-04T09:00:00Z",
    }  # fmt: skip
    mock.get(
        f"{BASE}/api/v2/activities",
        json={"success": True, "data": [activity], "additional_data": {"next_cursor": None}},
        match=[matchers.query_param_matcher({"person_id": "5", "limit": "500"})],
    )
    [read] = _adapter().read_activities(["5"])["5"]
    assert read.occurred_at == expected  # HH:MM is not the v2 format: the activity's add_time instead


def test_field_creation_bodies(mock):
    _fields(mock, FIELDS[:3])
    created = [
        _field("d" * 40, "Leadsync score", "double", True),
        _field("e" * 40, "Leadsync grade", "enum", True, [{"id": 1, "label": "A"}, {"id": 2, "label": "B"}]),
        _field("f" * 40, "Leadsync last scored at", "varchar", True),
    ]
    bodies: list[dict[str, Any]] = [
        {"field_name": "Leadsync score", "field_type": "double"},
        {"field_name": "Leadsync grade", "field_type": "enum", "options": [{"label": "A"}, {"label": "B"}]},
        {"field_name": "Leadsync last scored at", "field_type": "varchar"},
    ]
    for body, data in zip(bodies, created, strict=True):
        mock.post(
            f"{BASE}/api/v2/personFields",
            json={"success": True, "data": data},
            match=[matchers.json_params_matcher(body)],
        )
    specs = [
        FieldSpec("Leadsync score", "Leadsync score", "number"),
        FieldSpec("Leadsync grade", "Leadsync grade", "enumeration", options=("A", "B")),
        FieldSpec("Leadsync last scored at", "Leadsync last scored at", "datetime"),
    ]
    cache = MemoryCache()
    check = _adapter(fields_cache=cache).check_fields(specs, create=True)
    assert check.field_keys == {
        "Leadsync score": "d" * 40,
        "Leadsync grade": "e" * 40,
        "Leadsync last scored at": "f" * 40,
    }
    assert [f["field_code"] for f in json.loads(cache.blob or "")["fields"]][-3:] == ["d" * 40, "e" * 40, "f" * 40]


def test_activity_requests_per_person_and_the_id_probe(mock):
    empty = {"success": True, "data": [], "additional_data": {"next_cursor": None}}
    for person in ("1", "2"):
        mock.get(
            f"{BASE}/api/v2/activities",
            json=empty,
            match=[matchers.query_param_matcher({"person_id": person, "limit": "500"})],
        )
    newest = {"success": True, "data": [{"id": 100000}], "additional_data": {"next_cursor": "x"}}
    mock.get(
        f"{BASE}/api/v2/activities",
        json=newest,
        match=[matchers.query_param_matcher({"limit": "1", "sort_by": "id", "sort_direction": "desc"})],
    )
    for number in range(3, 9):
        mock.get(
            f"{BASE}/api/v2/activities",
            json=empty,
            match=[matchers.query_param_matcher({"person_id": str(number), "limit": "500"})],
        )
    adapter = _adapter()

    assert adapter.read_activities(["1", "2"]) == {"1": [], "2": []}
    # 6 persons: the probe says up to 200 pages to stream everything, so asking per person is cheaper
    assert adapter.read_activities([str(p) for p in range(3, 9)]) == {str(p): [] for p in range(3, 9)}


def test_activity_changes_since_a_cursor_at(mock):
    mock.get(
        f"{BASE}/api/v2/activities",
        json={"success": True, "data": [], "additional_data": {"next_cursor": None}},
        match=[
            matchers.query_param_matcher(
                {
                    "limit": "500",
                    "sort_by": "update_time",
                    "sort_direction": "asc",
                    "updated_since": "2025-03-03T12:00:00Z",
                }
            )
        ],
    )
    adapter = _adapter()
    cursor = adapter.cursor_at(datetime(2025, 3, 3, 12, 0, 0, 900_000, tzinfo=UTC))
    assert [p.activities for p in adapter.read_activity_changes(cursor)] == [()]


def test_oauth_bearer_and_refresh_form_then_the_api_domain(mock):
    mock.get(
        "https://api.pipedrive.com/api/v1/users",
        status=401,
        json={"success": False, "error": "unauthorized access", "errorCode": 401},
    )
    basic = base64.b64encode(b"client-1:secret-1").decode()
    mock.post(
        "https://oauth.pipedrive.com/oauth/token",
        json={
            "access_token": "new-access",
            "token_type": "Bearer",
            "refresh_token": "refresh-2",
            "expires_in": 3599,
            "scope": "base",
            "api_domain": BASE,
        },
        match=[
            matchers.urlencoded_params_matcher({"grant_type": "refresh_token", "refresh_token": "refresh-1"}),
            matchers.header_matcher({"Authorization": f"Basic {basic}"}),
        ],
    )
    mock.get(
        f"{BASE}/api/v1/users",
        json={"success": True, "data": [{"id": 1, "name": "Ada", "active_flag": True}]},
        match=[matchers.header_matcher({"Authorization": "Bearer new-access"})],
    )
    adapter = PipedriveAdapter(
        PipedriveConfig(
            access_token=SecretStr("old-access"),
            refresh_token=SecretStr("refresh-1"),
            client_id="client-1",
            client_secret=SecretStr("secret-1"),
            sleep=lambda s: None,
        )
    )

    # the retry after the refresh, and every later call, goes to the token answer's api_domain
    assert [o.name for o in adapter.read_owners()] == ["Ada"]
    mock.get(f"{BASE}/api/v1/users", json={"success": True, "data": []})
    assert adapter.read_owners() == []
    assert mock.calls[0].request.headers["Authorization"] == "Bearer old-access"
    assert "x-api-token" not in mock.calls[0].request.headers


def test_burst_429_waits_for_the_reset_header(mock):
    slept: list[float] = []
    over = {"success": False, "error": "Rate limit exceeded", "errorCode": 429}
    mock.get(
        f"{BASE}/api/v1/users",
        status=429,
        json=over,
        headers=LIMITS | {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"},
    )
    mock.get(f"{BASE}/api/v1/users", json={"success": True, "data": []}, headers=LIMITS)

    assert _adapter(sleep=slept.append).read_owners() == []
    assert slept and min(slept) >= 0 and sum(slept) >= 2.0  # the pacer's block plus tenacity's wait


def test_daily_budget_429_is_not_retried(mock):
    body = {"success": False, "error": "daily request budget exceeded", "errorCode": 429}
    mock.get(
        f"{BASE}/api/v1/users",
        status=429,
        json=body,
        headers={"retry-after": "3600", "x-daily-ratelimit-token-remaining": "0"},
    )
    adapter = _adapter()
    with pytest.raises(QuotaExhausted) as caught:
        adapter.read_owners()
    assert caught.value.reset_at is not None
    assert 3500 < (caught.value.reset_at - datetime.now(UTC)).total_seconds() <= 3600
    assert len(mock.calls) == 1 and json.loads(mock.calls[0].response.text)["errorCode"] == 429
