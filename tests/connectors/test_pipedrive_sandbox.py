"""The Pipedrive emulation, seen with plain ``requests``: paging, filters, fields, limits, auth, validation."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.pipedrive import SANDBOX_CREDENTIALS, PipedriveApi, rfc3339
from tests.connectors.samples_pipedrive import T0, api_session, people_dataset
from tests.harnesses import api_of

HEX40 = re.compile(r"^[0-9a-f]{40}$")


@pytest.fixture
def loaded(sandbox: Sandbox, pd: PipedriveApi) -> dict[str, str]:
    """50 people, 5 per second of update_time, 2 activities each, a won deal every 10th."""
    ids = pd.load(people_dataset(50, per_second=5, activities=2))
    sandbox.counters.reset()
    return ids


@pytest.fixture
def http(sandbox: Sandbox) -> Iterator[requests.Session]:
    with api_session(sandbox) as session:
        yield session


def _get(http: requests.Session, sandbox: Sandbox, path: str, **params: Any) -> requests.Response:
    return http.get(sandbox.pipedrive_url + path, params=params, timeout=10)


def _all_v2(http: requests.Session, sandbox: Sandbox, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = _get(http, sandbox, path, **params, **({"cursor": cursor} if cursor else {})).json()
        items += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return items


# -- paging ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("sort_by", ["id", "update_time", "add_time"])
def test_v2_cursor_paging_returns_every_person_once(sandbox, http, loaded, sort_by):
    persons = _all_v2(http, sandbox, "/api/v2/persons", limit=7, sort_by=sort_by)

    assert sorted(p["id"] for p in persons) == sorted(int(i) for i in loaded.values())
    keys = [(p[sort_by] if sort_by != "id" else 0, p["id"]) for p in persons]
    assert keys == sorted(keys)  # ties broken on id
    assert sandbox.counters.snapshot() == {"pipedrive.persons.v2.list": {200: 8}}  # ceil(50 / 7)


def test_v2_person_shape(sandbox, http, loaded):
    person = _get(http, sandbox, f"/api/v2/persons/{loaded['p0003']}").json()["data"]

    assert person["emails"] == [{"value": "p3@corp3.example", "primary": True, "label": "work"}]
    assert person["update_time"] == rfc3339(int((T0 + timedelta(seconds=0)).timestamp()))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", person["add_time"])  # second granularity
    assert all(HEX40.match(k) for k in person["custom_fields"])
    assert isinstance(person["owner_id"], int) and isinstance(person["org_id"], int)
    assert _get(http, sandbox, "/api/v2/persons/99999").status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/persons"),
        ("GET", "/api/v1/persons/{id}"),
        ("PUT", "/api/v1/persons/{id}"),
        ("GET", "/api/v1/persons/{id}/activities"),
    ],
)
def test_v1_person_routes_gone_from_the_definition_answer_404(sandbox, http, loaded, method, path):
    url = sandbox.pipedrive_url + path.format(id=loaded["p0001"])
    response = http.request(method, url, json={"name": "X"}, timeout=10)

    assert response.status_code == 404
    assert response.json()["success"] is False and response.json()["data"] is None
    assert sandbox.counters.snapshot() == {"pipedrive.unknown": {404: 1}}


def test_v1_person_fields_still_page_by_start_and_limit(sandbox, http, loaded):
    seen: list[str] = []
    start = 0
    while True:
        body = _get(http, sandbox, "/api/v1/personFields", start=start, limit=5).json()
        seen += [f["key"] for f in body["data"]]
        pagination = body["additional_data"]["pagination"]
        assert pagination["start"] == start and pagination["limit"] == 5
        if not pagination["more_items_in_collection"]:
            assert "next_start" not in pagination
            break
        start = pagination["next_start"]

    assert len(seen) == len(set(seen)) == 19  # 12 standard (marketing_status: Campaigns) + 7 sample-data fields
    assert sandbox.counters.snapshot() == {"pipedrive.personFields.v1.list": {200: 4}}


@pytest.mark.parametrize("limit", [0, 501, "x"])
def test_limits_out_of_range_are_400(sandbox, http, loaded, limit):
    response = _get(http, sandbox, "/api/v2/persons", limit=limit)
    assert response.status_code == 400
    assert response.json()["success"] is False and "limit" in response.json()["error"]


# -- updated_since / updated_until --------------------------------------------------------------------------
def test_updated_since_is_inclusive_and_updated_until_exclusive(sandbox, http, loaded):
    boundary = T0 + timedelta(seconds=3)  # people 15..19 changed exactly then (5 per second)
    since = _all_v2(http, sandbox, "/api/v2/persons", updated_since=rfc3339(int(boundary.timestamp())), limit=500)
    until = _all_v2(http, sandbox, "/api/v2/persons", updated_until=rfc3339(int(boundary.timestamp())), limit=500)

    assert len(since) == 35 and len(until) == 15
    assert {p["id"] for p in since}.isdisjoint(p["id"] for p in until)
    offset = _get(http, sandbox, "/api/v2/persons", updated_since="2025-03-03T13:00:03+01:00").json()["data"]
    assert len(offset) == 35  # RFC3339 offsets are understood
    bad = _get(http, sandbox, "/api/v2/persons", updated_since="yesterday")
    assert bad.status_code == 400 and "RFC3339" in bad.json()["error"]


def test_cursor_must_match_its_sort(sandbox, http, loaded):
    cursor = _get(http, sandbox, "/api/v2/persons", limit=5).json()["additional_data"]["next_cursor"]
    assert _get(http, sandbox, "/api/v2/persons", cursor=cursor, sort_by="update_time").status_code == 400
    assert _get(http, sandbox, "/api/v2/persons", cursor="not-a-cursor").status_code == 400


def test_ids_and_custom_fields_filters(sandbox, http, loaded):
    fields = _get(http, sandbox, "/api/v2/personFields", limit=500).json()["data"]
    title = next(f["field_code"] for f in fields if f["field_name"] == "Job title")
    ids = ",".join(loaded[k] for k in ("p0001", "p0002", "p0003"))

    persons = _get(http, sandbox, "/api/v2/persons", ids=ids, custom_fields=title).json()["data"]
    assert [p["id"] for p in persons] == [int(loaded[k]) for k in ("p0001", "p0002", "p0003")]
    assert [p["custom_fields"] for p in persons] == [{title: "VP Sales"}, {title: "Engineer"}, {title: "VP Sales"}]
    too_many = ",".join(f"{i:040x}" for i in range(16))
    assert _get(http, sandbox, "/api/v2/persons", custom_fields=too_many).status_code == 400
    assert _get(http, sandbox, "/api/v2/persons", ids=",".join(map(str, range(1, 102)))).status_code == 400
    counts = _get(
        http, sandbox, f"/api/v2/persons/{loaded['p0010']}", include_fields="activities_count,won_deals_count"
    )
    assert {k: counts.json()["data"][k] for k in ("activities_count", "won_deals_count")} == {
        "activities_count": 2,
        "won_deals_count": 1,
    }


# -- fields ---------------------------------------------------------------------------------------------
def test_v2_person_fields_have_field_codes_and_create_adds_one(sandbox, http, loaded):
    fields = _all_v2(http, sandbox, "/api/v2/personFields", limit=5)
    custom = {f["field_name"]: f for f in fields if f["is_custom_field"]}
    assert set(custom) == {"Job title", "Industry", "Employees", "Country", "City", "Lead source", "Lifecycle stage"}
    assert all(HEX40.match(f["field_code"]) for f in custom.values())
    assert [o["label"] for o in custom["Lifecycle stage"]["options"]] == [
        "Lead",
        "MQL",
        "SQL",
        "Opportunity",
        "Customer",
    ]
    assert custom["Job title"]["options"] is None and custom["Job title"]["subfields"] is None  # nullable ones
    standard = {f["field_code"] for f in fields if not f["is_custom_field"]}
    assert standard >= {"name", "email", "phone", "owner_id", "org_id"}

    body = {"field_name": "Lead grade", "field_type": "enum", "options": [{"label": "A"}, {"label": "B"}]}
    created = http.post(sandbox.pipedrive_url + "/api/v2/personFields", json=body, timeout=10).json()["data"]
    again = http.post(sandbox.pipedrive_url + "/api/v2/personFields", json=body, timeout=10).json()["data"]
    assert HEX40.match(created["field_code"]) and created["field_code"] != again["field_code"]  # Pipedrive allows it
    assert [o["label"] for o in created["options"]] == ["A", "B"] and created["is_custom_field"] is True
    for bad_body in ({"field_name": "X", "field_type": "enum"}, {"name": "X", "field_type": "varchar"}):
        bad = http.post(sandbox.pipedrive_url + "/api/v2/personFields", json=bad_body, timeout=10)
        assert bad.status_code == 400 and bad.json()["success"] is False
    assert sandbox.counters.snapshot() == {
        "pipedrive.personFields.v2.list": {200: 4},  # 18 fields, 5 a page
        "pipedrive.personFields.v2.create": {200: 2, 400: 2},
    }


def test_v1_person_fields_create(sandbox, http, loaded):
    body = {"name": "Lead grade", "field_type": "enum", "options": [{"label": "A"}, {"label": "B"}]}
    created = http.post(sandbox.pipedrive_url + "/api/v1/personFields", json=body, timeout=10).json()["data"]
    assert HEX40.match(created["key"]) and created["edit_flag"] is True
    assert [o["label"] for o in created["options"]] == ["A", "B"]
    bad = http.post(
        sandbox.pipedrive_url + "/api/v1/personFields", json={"name": "X", "field_type": "enum"}, timeout=10
    )
    assert bad.status_code == 400 and bad.json()["success"] is False


def test_field_creation_on_a_database_seeded_by_another_process(tmp_path):
    db = str(tmp_path / "sandbox.db")
    seeding = Sandbox(SandboxConfig(db_path=db, seed=7, crms=("pipedrive",)))
    api_of(seeding, PipedriveApi).load(people_dataset(3))
    seeding.store.conn.close()

    with Sandbox(SandboxConfig(db_path=db, seed=7, crms=("pipedrive",))) as serving, api_session(serving) as http:
        body = {"field_name": "Lead score", "field_type": "double"}
        response = http.post(serving.pipedrive_url + "/api/v2/personFields", json=body, timeout=10)
        assert response.status_code == 200, response.text
        codes = [f["field_code"] for f in _all_v2(http, serving, "/api/v2/personFields", limit=500)]
        assert response.json()["data"]["field_code"] in codes and len(codes) == len(set(codes)) == 20


def test_field_keys_are_seeded(sandbox, pd):
    other = Sandbox(sandbox.config)
    try:
        pd.load(people_dataset(1))
        other.apis["pipedrive"].load(people_dataset(1))  # type: ignore[attr-defined]
        ours = [f["key"] for f in pd._fields(pd.store.conn)]
        theirs = [f["key"] for f in other.apis["pipedrive"]._fields(other.store.conn)]  # type: ignore[attr-defined]
        assert ours == theirs
    finally:
        other.store.conn.close()


# -- writes ---------------------------------------------------------------------------------------------
def _keys(http: requests.Session, sandbox: Sandbox) -> dict[str, dict[str, Any]]:
    return {f["field_name"]: f for f in _get(http, sandbox, "/api/v2/personFields", limit=500).json()["data"]}


def _patch(http: requests.Session, sandbox: Sandbox, person_id: str, body: Any) -> requests.Response:
    return http.patch(f"{sandbox.pipedrive_url}/api/v2/persons/{person_id}", json=body, timeout=10)


def test_patch_updates_custom_fields_inside_custom_fields_and_bumps_update_time(sandbox, http, pd, loaded):
    fields = _keys(http, sandbox)
    title, stage = fields["Job title"]["field_code"], fields["Lifecycle stage"]
    sql = next(o["id"] for o in stage["options"] if o["label"] == "SQL")
    owner = pd.record(loaded["p0001"])["owner_id"]
    pid = loaded["p0004"]
    before = pd.record(pid)["update_time"]
    sandbox.clock.advance(5)

    body = {
        "custom_fields": {title: "CTO", stage["field_code"]: sql},
        "emails": [{"value": "cto@corp.example", "primary": True, "label": "work"}],
        "owner_id": owner,
        "unknown_key": 1,
    }
    response = _patch(http, sandbox, pid, body)
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["custom_fields"][stage["field_code"]] == sql and data["custom_fields"][title] == "CTO"
    assert data["emails"] == body["emails"] and data["owner_id"] == owner
    assert pd.field_value(pid, "Job title") == "CTO" and pd.field_value(pid, "Lifecycle stage") == "SQL"
    assert pd.record(pid)["update_time"] > before

    bumped = pd.record(pid)["update_time"]
    sandbox.clock.advance(5)
    assert _patch(http, sandbox, pid, {"custom_fields": {title: "CTO"}}).status_code == 200
    assert pd.record(pid)["update_time"] == bumped  # nothing changed: not bumped
    assert _patch(http, sandbox, pid, {"custom_fields": {title: None}}).status_code == 200
    assert pd.field_value(pid, "Job title") is None  # null clears
    assert sandbox.counters.snapshot()["pipedrive.persons.v2.update"] == {200: 3}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Lifecycle stage", 424242, "Option ID 424242 is not valid"),
        ("Lifecycle stage", "3", "expects option IDs"),  # v2 does not coerce strings
        ("Job title", {"x": 1}, "expects text"),
        ("Employees", 12, "expects text"),
        ("owner_id", 999, "User with ID 999 not found"),
        ("owner_id", "1", "must be an integer ID"),
        ("name", "", "name must be a non-empty string"),
        ("emails", "a@b.example", "emails must be an array"),
        ("phones", [{"value": "1", "label": True}], "label one of"),
        ("custom_fields", {"0" * 40: "x"}, "Unknown custom field"),
    ],
)
def test_patch_rejects_bad_values_with_pipedrive_error_shape(sandbox, http, loaded, field, value, message):
    fields = _keys(http, sandbox)
    body = {"custom_fields": {fields[field]["field_code"]: value}} if field in fields else {field: value}
    response = _patch(http, sandbox, loaded["p0001"], body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["success"] is False and message in answer["error"], answer


def test_patch_clearing_a_set_field_takes_null_not_an_empty_list(sandbox, http, pd, loaded):
    sandbox.clock.advance(1)
    created = http.post(
        sandbox.pipedrive_url + "/api/v2/personFields",
        json={"field_name": "Interests", "field_type": "set", "options": [{"label": "A"}, {"label": "B"}]},
        timeout=10,
    ).json()["data"]
    code, ids = created["field_code"], [o["id"] for o in created["options"]]
    pid = loaded["p0002"]

    assert _patch(http, sandbox, pid, {"custom_fields": {code: ids}}).json()["data"]["custom_fields"][code] == ids
    assert _patch(http, sandbox, pid, {"custom_fields": {code: []}}).status_code == 400
    assert _patch(http, sandbox, pid, {"custom_fields": {code: None}}).json()["data"]["custom_fields"][code] is None


def test_patch_errors_unknown_person_bad_json_and_injected_failure(sandbox, http, pd, loaded):
    url = f"{sandbox.pipedrive_url}/api/v2/persons"
    assert http.patch(f"{url}/99999", json={"name": "X"}, timeout=10).status_code == 404
    bad = http.patch(f"{url}/{loaded['p0001']}", data=b"{not json", timeout=10)
    assert bad.status_code == 400 and "Invalid JSON" in bad.json()["error"]
    sandbox.faults.configure(fail_records=[loaded["p0002"]])
    assert http.patch(f"{url}/{loaded['p0002']}", json={"name": "X"}, timeout=10).status_code == 400
    pd.merge(loaded["p0003"], loaded["p0004"])  # p0004 merged away: answers 404 from now on
    assert http.patch(f"{url}/{loaded['p0004']}", json={"name": "X"}, timeout=10).status_code == 404
    assert _get(http, sandbox, f"/api/v2/persons/{loaded['p0004']}").status_code == 404
    assert sandbox.counters.snapshot()["pipedrive.persons.v2.update"] == {400: 2, 404: 2}


# -- activities, deals, users -------------------------------------------------------------------------------
def test_activities_filters_and_adding_one_does_not_bump_the_person(sandbox, http, pd, loaded):
    pid = loaded["p0007"]
    before = pd.record(pid)["update_time"]
    mark = pd._now()
    new_id = pd.add_activity(pid, "webinar_attended", subject="RevOps office hours")

    mine = _all_v2(http, sandbox, "/api/v2/activities", person_id=pid)
    assert len(mine) == 3 and pd.record(pid)["update_time"] == before
    new = next(a for a in mine if a["id"] == int(new_id))
    assert (new["type"], new["subject"]) == ("webinar", "Webinar attended: RevOps office hours")
    assert new["participants"] == [{"person_id": int(pid), "primary": True}] and new["done"] is True
    changed = _all_v2(http, sandbox, "/api/v2/activities", updated_since=rfc3339(mark))
    assert [a["id"] for a in changed] == [int(new_id)]
    assert len(_all_v2(http, sandbox, "/api/v2/activities", limit=30)) == 101
    assert _all_v2(http, sandbox, "/api/v2/activities", done="false") == []


def test_activity_times_are_hh_mm_ss(sandbox, http, pd, loaded):
    at = T0.replace(hour=14, minute=5, second=9)
    pd.add_activity(loaded["p0001"], "call", occurred_at=at)
    call = _all_v2(http, sandbox, "/api/v2/activities", person_id=loaded["p0001"], limit=500)[-1]

    assert (call["due_date"], call["due_time"], call["duration"]) == (at.strftime("%Y-%m-%d"), "14:05:09", "00:30:00")
    every = _all_v2(http, sandbox, "/api/v2/activities", limit=500)
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d", a["due_time"]) for a in every)


# The v2 definition's properties marked nullable, per list (everything else is left out when unset).
NULLABLE = {
    "/api/v2/persons": set(),
    "/api/v2/activities": set(),
    "/api/v2/deals": {"lost_reason", "close_time", "probability", "origin_id", "channel", "channel_id"},
    "/api/v2/organizations": set(),
}


@pytest.mark.parametrize("path", sorted(NULLABLE))
def test_no_null_where_the_definition_says_not_nullable(sandbox, http, pd, loaded, path):
    pd.set_deal(loaded["p0001"], won=False)
    items = _all_v2(http, sandbox, path, limit=500)
    assert items
    nulls = {k for item in items for k, v in item.items() if v is None}
    assert nulls <= NULLABLE[path]


def test_deals_by_status_and_person(sandbox, http, pd, loaded):
    pd.set_deal(loaded["p0001"], won=False, amount=50.0)
    won = _all_v2(http, sandbox, "/api/v2/deals", status="won")
    lost = _all_v2(http, sandbox, "/api/v2/deals", status="lost", person_id=loaded["p0001"])

    assert len(won) == 5 and all(d["won_time"] and d["status"] == "won" for d in won)
    assert [(d["status"], d["lost_time"] is not None, d["value"]) for d in lost] == [("lost", True, 50.0)]
    assert len(_all_v2(http, sandbox, "/api/v2/deals", status="won,lost")) == 6
    assert _get(http, sandbox, "/api/v2/deals", status="closed").status_code == 400


def test_users_and_organizations(sandbox, http, loaded):
    users = _get(http, sandbox, "/api/v1/users").json()["data"]
    assert [(u["name"], u["active_flag"]) for u in users] == [("Ada Owner", True), ("Bo Seller", True)]
    orgs = _all_v2(http, sandbox, "/api/v2/organizations", limit=3)
    assert sorted(o["name"] for o in orgs) == [f"Corp {i}" for i in range(7)]


# -- limits ---------------------------------------------------------------------------------------------
def test_burst_window_429_with_headers_then_recovers(sandbox, http, loaded):
    sandbox.config.limits["pipedrive"] = {"burst": 3}
    answers = [_get(http, sandbox, "/api/v1/users") for _ in range(4)]

    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert [r.headers["x-ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]
    assert all(r.headers["x-ratelimit-limit"] == "3" for r in answers)
    assert 1 <= int(answers[3].headers["x-ratelimit-reset"]) <= 2
    assert answers[3].json() == {
        "success": False,
        "error": "Rate limit exceeded",
        "errorCode": 429,
        "error_info": "Please check developers.pipedrive.com",
    }
    sandbox.clock.advance(2.0)
    assert _get(http, sandbox, "/api/v1/users").status_code == 200
    assert sandbox.counters.snapshot() == {"pipedrive.users.list": {200: 4, 429: 1}}


def test_daily_token_budget_is_spent_by_cost_and_resets_at_midnight(sandbox, http, pd, loaded):
    sandbox.config.limits["pipedrive"] = {"daily_budget": 25}
    first = _get(http, sandbox, "/api/v2/persons")  # list: 10 tokens
    assert first.headers["x-daily-ratelimit-token-limit"] == "25"
    assert first.headers["x-daily-ratelimit-token-remaining"] == "15"
    one = _get(http, sandbox, f"/api/v2/persons/{loaded['p0001']}")  # one person: 1 token
    assert one.headers["x-daily-ratelimit-token-remaining"] == "14"
    assert _get(http, sandbox, "/api/v2/persons").status_code == 200  # 4 left
    spent = _get(http, sandbox, "/api/v1/users")  # 20

    assert spent.status_code == 429
    assert spent.json()["error"] == "daily request budget exceeded"
    assert spent.headers["x-daily-ratelimit-token-remaining"] == "4"
    until_midnight = 86400 - sandbox.clock.now().timestamp() % 86400
    assert abs(int(spent.headers["retry-after"]) - until_midnight) <= 2
    sandbox.clock.advance(until_midnight + 1)
    assert _get(http, sandbox, "/api/v1/users").headers["x-daily-ratelimit-token-remaining"] == "5"
    assert pd.tokens_used() == 20


# x-token-cost of each operation in Pipedrive's published definitions (docs/crm-api/pipedrive.md 1.4)
DEFINITION_COSTS = [
    ("GET", "/api/v2/persons", 10),
    ("GET", "/api/v2/persons/{id}", 1),
    ("PATCH", "/api/v2/persons/{id}", 5),
    ("GET", "/api/v2/personFields", 10),
    ("POST", "/api/v2/personFields", 5),
    ("GET", "/api/v1/personFields", 20),
    ("POST", "/api/v1/personFields", 10),
    ("GET", "/api/v2/activities", 10),
    ("GET", "/api/v2/deals", 10),
    ("GET", "/api/v2/organizations", 10),
    ("GET", "/api/v1/users", 20),
]


@pytest.mark.parametrize(("method", "path", "cost"), DEFINITION_COSTS)
def test_each_operation_costs_its_x_token_cost(sandbox, http, pd, loaded, method, path, cost):
    body = {"name": "Renamed"} if method == "PATCH" else {"field_name": "F", "name": "F", "field_type": "varchar"}
    before = pd.tokens_used()
    response = http.request(
        method,
        sandbox.pipedrive_url + path.format(id=loaded["p0001"]),
        json=body if method != "GET" else None,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert pd.tokens_used() - before == cost


def test_default_limits_are_growth_with_ten_seats(sandbox, http, loaded):
    response = _get(http, sandbox, "/api/v1/personFields")
    assert response.headers["x-daily-ratelimit-token-limit"] == str(30_000 * 2 * 10)
    assert response.headers["x-ratelimit-limit"] == "40"


# -- auth -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "how",
    [
        {},
        {"headers": {"x-api-token": "wrong"}},
        {"params": {"api_token": "wrong"}},
        {"headers": {"Authorization": "Bearer nope"}},
    ],
)
def test_401_without_a_valid_token(sandbox, loaded, how):
    response = requests.get(sandbox.pipedrive_url + "/api/v2/persons", timeout=10, **how)
    assert response.status_code == 401
    assert response.json() == {"success": False, "error": "unauthorized access", "errorCode": 401}
    assert not [h for h in response.headers if h.lower().startswith(("x-ratelimit", "x-daily", "x-401"))]


def test_api_token_query_parameter_is_accepted(sandbox, loaded):
    response = requests.get(
        sandbox.pipedrive_url + "/api/v1/users", params={"api_token": SANDBOX_CREDENTIALS["api_token"]}, timeout=10
    )
    assert response.status_code == 200


def test_oauth_refresh_and_expiry(sandbox, pd, loaded):
    url = sandbox.pipedrive_url
    bearer = {"Authorization": f"Bearer {SANDBOX_CREDENTIALS['access_token']}"}
    assert requests.get(url + "/api/v1/users", headers=bearer, timeout=10).status_code == 200
    pd.expire_access_tokens()
    assert requests.get(url + "/api/v1/users", headers=bearer, timeout=10).status_code == 401

    basic = base64.b64encode(f"{SANDBOX_CREDENTIALS['client_id']}:{SANDBOX_CREDENTIALS['client_secret']}".encode())
    form = {"grant_type": "refresh_token", "refresh_token": SANDBOX_CREDENTIALS["refresh_token"]}
    token = requests.post(
        url + "/oauth/token", data=form, headers={"Authorization": f"Basic {basic.decode()}"}, timeout=10
    )
    assert token.status_code == 200
    body = token.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599 and body["api_domain"] == url
    fresh = {"Authorization": f"Bearer {body['access_token']}"}
    assert requests.get(url + "/api/v1/users", headers=fresh, timeout=10).headers["x-ratelimit-limit"] == "160"
    assert requests.post(url + "/oauth/token", data=form, auth=("x", "y"), timeout=10).status_code == 401
    wrong = requests.post(url + "/oauth/token", data=form | {"refresh_token": "bad"}, auth=("x", "y"), timeout=10)
    assert wrong.status_code == 401
    with_client = (SANDBOX_CREDENTIALS["client_id"], SANDBOX_CREDENTIALS["client_secret"])
    invalid = requests.post(url + "/oauth/token", data=form | {"refresh_token": "bad"}, auth=with_client, timeout=10)
    assert invalid.status_code == 400 and invalid.json()["error"] == "invalid_grant"
    sandbox.clock.advance(3600)
    assert requests.get(url + "/api/v1/users", headers=fresh, timeout=10).status_code == 401  # expires_in passed


# -- scale ----------------------------------------------------------------------------------------------
def test_ten_thousand_persons_list_in_pages_of_500(sandbox, http, pd):
    ids = pd.load(people_dataset(10_000, per_second=50))
    sandbox.counters.reset()
    persons = _all_v2(
        http, sandbox, "/api/v2/persons", limit=500, sort_by="update_time", updated_since="2025-01-01T00:00:00Z"
    )

    assert len(persons) == len({p["id"] for p in persons}) == len(ids)
    assert sandbox.counters.snapshot() == {"pipedrive.persons.v2.list": {200: 20}}
