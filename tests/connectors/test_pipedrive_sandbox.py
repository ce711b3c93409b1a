"""The Pipedrive emulation, seen with plain ``requests``: paging, filters, fields, limits, auth, validation."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from connectors.sandbox import Sandbox
from connectors.sandbox.pipedrive import SANDBOX_CREDENTIALS, PipedriveApi, rfc3339
from tests.connectors.samples_pipedrive import T0, api_session, people_dataset

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


def test_v1_start_limit_paging_returns_every_person_once(sandbox, http, loaded):
    seen: list[int] = []
    start = 0
    while True:
        body = _get(http, sandbox, "/api/v1/persons", start=start, limit=20).json()
        seen += [p["id"] for p in body["data"]]
        pagination = body["additional_data"]["pagination"]
        assert pagination["start"] == start and pagination["limit"] == 20
        if not pagination["more_items_in_collection"]:
            assert "next_start" not in pagination
            break
        start = pagination["next_start"]

    assert sorted(seen) == sorted(int(i) for i in loaded.values()) and len(seen) == len(set(seen))
    assert sandbox.counters.snapshot() == {"pipedrive.persons.v1.list": {200: 3}}
    person = _get(http, sandbox, f"/api/v1/persons/{loaded['p0001']}").json()["data"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", person["update_time"])
    assert person["owner_id"]["value"] == person["owner_id"]["id"]
    assert sum(1 for k in person if HEX40.match(k)) == 7  # custom fields at the top level, by hash key


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
    fields = _get(http, sandbox, "/api/v1/personFields", limit=500).json()["data"]
    title = next(f["key"] for f in fields if f["name"] == "Job title")
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
def test_person_fields_have_hash_keys_and_create_adds_one(sandbox, http, loaded):
    fields = _get(http, sandbox, "/api/v1/personFields", limit=500).json()["data"]
    custom = {f["name"]: f for f in fields if f["edit_flag"]}
    assert set(custom) == {"Job title", "Industry", "Employees", "Country", "City", "Lead source", "Lifecycle stage"}
    assert all(HEX40.match(f["key"]) for f in custom.values())
    assert [o["label"] for o in custom["Lifecycle stage"]["options"]] == [
        "Lead",
        "MQL",
        "SQL",
        "Opportunity",
        "Customer",
    ]
    assert {f["key"] for f in fields if not f["edit_flag"]} >= {"name", "email", "phone", "owner_id", "org_id"}

    body = {"name": "Lead grade", "field_type": "enum", "options": [{"label": "A"}, {"label": "B"}]}
    created = http.post(sandbox.pipedrive_url + "/api/v1/personFields", json=body, timeout=10).json()["data"]
    again = http.post(sandbox.pipedrive_url + "/api/v1/personFields", json=body, timeout=10).json()["data"]
    assert HEX40.match(created["key"]) and created["key"] != again["key"]  # same name twice: Pipedrive allows it
    assert [o["label"] for o in created["options"]] == ["A", "B"]
    bad = http.post(
        sandbox.pipedrive_url + "/api/v1/personFields", json={"name": "X", "field_type": "enum"}, timeout=10
    )
    assert bad.status_code == 400 and bad.json()["success"] is False
    assert sandbox.counters.snapshot() == {
        "pipedrive.personFields.list": {200: 1},
        "pipedrive.personFields.create": {200: 2, 400: 1},
    }


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
    return {f["name"]: f for f in _get(http, sandbox, "/api/v1/personFields", limit=500).json()["data"]}


def test_put_updates_custom_fields_by_hash_key_and_bumps_update_time(sandbox, http, pd, loaded):
    fields = _keys(http, sandbox)
    stage = fields["Lifecycle stage"]
    sql = next(o["id"] for o in stage["options"] if o["label"] == "SQL")
    pid = loaded["p0004"]
    before = pd.record(pid)["update_time"]
    sandbox.clock.advance(5)

    response = http.put(
        f"{sandbox.pipedrive_url}/api/v1/persons/{pid}",
        json={fields["Job title"]["key"]: "CTO", stage["key"]: sql, "unknown_key": 1},
        timeout=10,
    )
    assert response.status_code == 200 and response.json()["data"][stage["key"]] == str(sql)  # v1: ids as text
    assert pd.field_value(pid, "Job title") == "CTO" and pd.field_value(pid, "Lifecycle stage") == "SQL"
    assert pd.record(pid)["update_time"] > before

    bumped = pd.record(pid)["update_time"]
    sandbox.clock.advance(5)
    same = http.put(
        f"{sandbox.pipedrive_url}/api/v1/persons/{pid}", json={fields["Job title"]["key"]: "CTO"}, timeout=10
    )
    assert same.status_code == 200 and pd.record(pid)["update_time"] == bumped  # nothing changed: not bumped


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("Lifecycle stage", 424242, "Option ID 424242 is not valid"),
        ("Lifecycle stage", "MQL", "expects option IDs"),
        ("owner_id", 999, "User with ID 999 not found"),
        ("name", "", "name must be a non-empty string"),
        ("Job title", {"x": 1}, "expects text"),
    ],
)
def test_put_rejects_bad_values_with_pipedrive_error_shape(sandbox, http, loaded, field, value, message):
    fields = _keys(http, sandbox)
    key = fields[field]["key"] if field in fields else field
    response = http.put(f"{sandbox.pipedrive_url}/api/v1/persons/{loaded['p0001']}", json={key: value}, timeout=10)

    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and message in body["error"] and body["error_info"]


def test_put_errors_unknown_person_bad_json_and_injected_failure(sandbox, http, loaded):
    url = f"{sandbox.pipedrive_url}/api/v1/persons"
    assert http.put(f"{url}/99999", json={"name": "X"}, timeout=10).status_code == 404
    bad = http.put(f"{url}/{loaded['p0001']}", data=b"{not json", timeout=10)
    assert bad.status_code == 400 and "Invalid JSON" in bad.json()["error"]
    sandbox.faults.configure(fail_records=[loaded["p0002"]])
    assert http.put(f"{url}/{loaded['p0002']}", json={"name": "X"}, timeout=10).status_code == 400
    assert sandbox.counters.snapshot() == {"pipedrive.persons.v1.update": {400: 2, 404: 1}}


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
    v1 = _get(http, sandbox, f"/api/v1/persons/{pid}/activities").json()
    assert len(v1["data"]) == 3 and v1["additional_data"]["pagination"]["more_items_in_collection"] is False


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
    sandbox.config.limits["pipedrive"] = {"daily_budget": 45}
    first = _get(http, sandbox, "/api/v2/persons")  # list: 20 tokens
    assert first.headers["x-daily-ratelimit-token-limit"] == "45"
    assert first.headers["x-daily-ratelimit-token-remaining"] == "25"
    assert (
        _get(http, sandbox, f"/api/v2/persons/{loaded['p0001']}").headers["x-daily-ratelimit-token-remaining"] == "23"
    )
    assert _get(http, sandbox, "/api/v2/persons").status_code == 200  # 3 left
    refused = _get(http, sandbox, f"/api/v2/persons/{loaded['p0001']}")  # costs 2: still fits
    assert refused.status_code == 200
    spent = _get(http, sandbox, "/api/v1/users")

    assert spent.status_code == 429
    assert spent.json()["error"] == "daily request budget exceeded"
    assert spent.headers["x-daily-ratelimit-token-remaining"] == "1"
    until_midnight = 86400 - sandbox.clock.now().timestamp() % 86400
    assert abs(int(spent.headers["retry-after"]) - until_midnight) <= 2
    sandbox.clock.advance(until_midnight + 1)
    assert _get(http, sandbox, "/api/v1/users").headers["x-daily-ratelimit-token-remaining"] == "25"
    assert pd.tokens_used() == 20


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
    assert response.json() == {
        "success": False,
        "error": "unauthorized access",
        "errorCode": 401,
        "error_info": "Please check developers.pipedrive.com",
    }


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
