"""The sandbox platform: fault injection, clock, seeded data, CSV import, CLI, counters."""

from __future__ import annotations

import collections
import csv
import json
import math
import statistics
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from connectors.records import ActivityType
from connectors.sandbox import Sandbox, SandboxConfig, run_subprocess
from connectors.sandbox.app import CRMS, Counters
from connectors.sandbox.cli import sandbox as sandbox_cli
from connectors.sandbox.clock import Clock
from connectors.sandbox.core import CRMApi, Request, Response, Route, route
from connectors.sandbox.faults import FaultConfig, Faults
from connectors.sandbox.importer import MappingError, from_csv, load_mapping
from connectors.sandbox.seed import COMPETITOR_DOMAINS, FREE_MAIL_DOMAINS, generate
from tests.connectors.conftest import X_EDUCATION_MAPPING
from tests.harnesses import NOW


# -- a tiny CRM served next to the real ones, to see faults over real HTTP --------------------------------
class EchoApi(CRMApi):
    crm = "echo"
    prefixes = ("/echo/",)

    def routes(self) -> Iterable[Route]:
        return [route("GET", r"/echo/(?P<word>\w+)", self._get, "echo.get")]

    def _get(self, request: Request) -> Response:
        return Response(200, {"word": request.params["word"], "items": list(range(20))})


@pytest.fixture
def echo_sandbox() -> Iterator[Sandbox]:
    sb = Sandbox(SandboxConfig(seed=11, crms=()))
    sb.apis["echo"] = EchoApi()
    with sb:
        yield sb


def _request(path: str = "/echo/x", headers: dict[str, str] | None = None) -> Request:
    return Request("GET", path, {}, headers or {}, b"")


# -- faults ---------------------------------------------------------------------------------------------
def _kinds(faults: Faults, crm: str, endpoint: str, n: int) -> list[str | None]:
    out: list[str | None] = []
    for _ in range(n):
        fault = faults.before(crm, endpoint, _request())
        out.append(None if fault is None else ("reset" if fault.drop else str(fault.response.status)))
    return out


def test_fault_draws_are_deterministic_per_seed_and_per_endpoint() -> None:
    def config() -> FaultConfig:
        return FaultConfig(rate_429=0.2, rate_5xx=0.2, rate_reset=0.1)

    a = Faults(config(), seed=3, clock=Clock())
    b = Faults(config(), seed=3, clock=Clock())
    c = Faults(config(), seed=4, clock=Clock())
    # a: endpoint x then y; b: interleaved.  Each endpoint's sequence is the same either way.
    ax, ay = _kinds(a, "echo", "echo.x", 40), _kinds(a, "echo", "echo.y", 40)
    bx: list[str | None] = []
    by: list[str | None] = []
    for _ in range(40):
        by += _kinds(b, "echo", "echo.y", 1)
        bx += _kinds(b, "echo", "echo.x", 1)
    assert (ax, ay) == (bx, by)
    assert ax != _kinds(c, "echo", "echo.x", 40)
    assert ax.count(None) < 40 and set(ax) - {None} <= {"429", "500", "502", "503", "reset"}
    assert sum(a.injected.values()) == 80 - ax.count(None) - ay.count(None)
    assert a.preview("echo", "echo.x", 40) == [
        None if k is None else ("5xx" if k in ("500", "502", "503") else k) for k in ax
    ]


def test_fault_scoping_by_crm_endpoint_and_max_faults() -> None:
    faults = Faults(FaultConfig(rate_5xx=1.0, only=frozenset({"hubspot"})), seed=1, clock=Clock())
    assert faults.before("pipedrive", "pipedrive.persons.v2.list", _request("/api/v2/persons")) is None
    assert faults.before("hubspot", "hubspot.contacts.list", _request("/crm/v3/objects/contacts")) is not None
    faults.configure(endpoints=["hubspot.contacts.batch", "/crm/v3/properties"])
    assert faults.before("hubspot", "hubspot.contacts.list", _request("/crm/v3/objects/contacts")) is None
    assert faults.before("hubspot", "hubspot.contacts.batch_update", _request("/crm/v3/x")) is not None
    assert faults.before("hubspot", "hubspot.properties.list", _request("/crm/v3/properties/contacts")) is not None
    faults.configure(endpoints=[], max_faults=4)
    assert [faults.before("hubspot", "hubspot.owners.list", _request()) is not None for _ in range(3)] == [
        True,
        False,
        False,
    ]
    assert faults.injected == {"5xx": 4}
    with pytest.raises(ValueError, match="unknown fault setting"):
        faults.configure(rate_boom=0.1)
    with pytest.raises(ValueError, match="must not exceed 1"):
        faults.configure(rate_429=0.6, rate_5xx=0.6)


@pytest.mark.parametrize("crm", CRMS)
def test_injected_429_and_5xx_use_the_crms_own_error_shapes(sandbox: Sandbox, crm: str) -> None:
    api = sandbox.apis[crm]
    request = _request("/x")
    sandbox.faults.configure(rate_429=1.0)
    limited = sandbox.faults.before(crm, f"{crm}.test", request)
    assert limited is not None and not limited.drop
    assert limited.response.status == api.rate_limited(request, f"{crm}.test").status
    assert _shape(limited.response.body) == _shape(api.rate_limited(request, f"{crm}.test").body)
    sandbox.faults.configure(rate_429=0.0, rate_5xx=1.0, statuses_5xx=[503])
    failed = sandbox.faults.before(crm, f"{crm}.test", request)
    assert failed is not None and failed.response.status == 503
    assert _shape(failed.response.body) == _shape(api.error(503, "x", request).body)
    assert sandbox.faults.injected == {"429": 1, "5xx": 1}
    assert sandbox.faults.injected_by_crm == {(crm, "429"): 1, (crm, "5xx"): 1}


def _shape(body: Any) -> Any:
    if isinstance(body, dict):
        return sorted(body)
    if isinstance(body, list):
        return [_shape(b) for b in body[:1]]
    return type(body).__name__


# How each CRM authenticates a plain read, and the usage header its answers carry (429s included).
_PROBES = {
    "hubspot": ("/crm/v3/objects/contacts?limit=1", "private_app_token", "X-HubSpot-RateLimit-Max"),
    "salesforce": ("/services/data/v59.0/limits", "session_id", "Sforce-Limit-Info"),
    "pipedrive": ("/api/v2/persons?limit=1", "api_token", "x-ratelimit-limit"),
}


def _probe(sb: Sandbox, crm: str) -> requests.Response:
    path, key, _ = _PROBES[crm]
    token = sb.credentials(crm)[key]
    base = {"hubspot": sb.hubspot_url, "salesforce": sb.salesforce_url, "pipedrive": sb.pipedrive_url}[crm]
    if crm == "pipedrive":
        return requests.get(f"{base}{path}&api_token={token}", timeout=10)
    return requests.get(
        f"{base}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10, verify=str(sb.ca_path)
    )


@pytest.mark.parametrize("crm", CRMS)
def test_injected_faults_over_http_carry_the_crms_headers(sandbox: Sandbox, crm: str) -> None:
    assert _probe(sandbox, crm).status_code == 200
    sandbox.faults.configure(rate_429=1.0, only={crm})
    limited = _probe(sandbox, crm)
    assert limited.status_code == sandbox.apis[crm].rate_limited(_request(), "x").status
    assert _PROBES[crm][2].lower() in {h.lower() for h in limited.headers}
    assert limited.json()  # a JSON error body in the CRM's shape
    sandbox.faults.configure(rate_429=0.0, rate_5xx=1.0)
    assert _probe(sandbox, crm).status_code in (500, 502, 503)
    endpoint = next(iter(sandbox.counters.by_endpoint(f"{crm}.")))
    assert sandbox.counters.snapshot()[endpoint][200] == 1
    assert sandbox.counters.calls(f"{crm}.") == 3
    assert sandbox.faults.injected == {"429": 1, "5xx": 1}


def test_connection_reset_is_a_connection_error_over_http_and_tls(echo_sandbox: Sandbox) -> None:
    sb = echo_sandbox
    sb.faults.configure(rate_reset=1.0)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{sb.http_url}/echo/hello", timeout=5)
    with requests.Session() as session, pytest.raises(requests.ConnectionError):
        session.get(f"{sb.https_url}/echo/hello", timeout=5, verify=str(sb.ca_path))
    sb.faults.configure(rate_reset=0.0)
    assert requests.get(f"{sb.https_url}/echo/hello", timeout=5, verify=str(sb.ca_path)).json()["word"] == "hello"
    assert sb.counters.snapshot() == {"echo.get": {200: 1, 599: 2}}
    assert sb.faults.injected == {"reset": 2}


def test_slow_answer_times_a_short_client_out(echo_sandbox: Sandbox) -> None:
    sb = echo_sandbox
    sb.faults.configure(rate_slow=1.0, slow_seconds=0.6)
    with pytest.raises(requests.Timeout):
        requests.get(f"{sb.http_url}/echo/slow", timeout=0.15)
    sb.faults.configure(slow_seconds=0.05)
    assert requests.get(f"{sb.http_url}/echo/late", timeout=5).status_code == 200  # a patient client gets it
    assert sb.faults.injected == {"slow": 2}


def test_malformed_json_is_a_truncated_200(echo_sandbox: Sandbox) -> None:
    sb = echo_sandbox
    whole = requests.get(f"{sb.http_url}/echo/full", timeout=5).content
    sb.faults.configure(rate_malformed=1.0)
    response = requests.get(f"{sb.http_url}/echo/full", timeout=5)
    assert response.status_code == 200
    assert whole.startswith(response.content) and len(response.content) < len(whole)
    with pytest.raises(ValueError):
        response.json()
    assert sb.counters.snapshot() == {"echo.get": {200: 2}}
    assert sb.faults.injected == {"malformed": 1}


def test_record_failures_are_deterministic_and_a_retry_can_succeed() -> None:
    def run(seed: int) -> list[list[str]]:
        faults = Faults(FaultConfig(rate_record_failure=0.3), seed=seed, clock=Clock())
        pending = [str(i) for i in range(200)]
        rounds: list[list[str]] = []
        while pending and len(rounds) < 20:
            pending = [r for r in pending if faults.record_fails("hubspot", r)]
            rounds.append(pending)
        return rounds

    first = run(5)
    assert first == run(5) and first != run(6)
    assert 30 <= len(first[0]) <= 90  # about 30% of 200 fail on the first attempt
    assert len(first[1]) < len(first[0]) and first[-1] == []  # retries succeed, record by record
    faults = Faults(FaultConfig(fail_records=frozenset({"7"})), seed=5, clock=Clock())
    assert [faults.record_fails("salesforce", "7") for _ in range(3)] == [True, True, True]
    assert not faults.record_fails("salesforce", "8")
    assert faults.attempts("salesforce", "7") == 3 and faults.injected == {"record": 3}
    faults.configure(only=["pipedrive"])
    assert not faults.record_fails("salesforce", "7")


def test_faults_control_endpoint(echo_sandbox: Sandbox) -> None:
    sb = echo_sandbox
    url = f"{sb.http_url}/_sandbox/faults"
    state = requests.post(url, json={"rate_5xx": 1.0, "statuses_5xx": [502], "only": ["echo"]}, timeout=5).json()
    assert state["config"]["rate_5xx"] == 1.0 and state["config"]["only"] == ["echo"]
    assert requests.get(f"{sb.http_url}/echo/a", timeout=5).status_code == 502
    assert requests.get(url, timeout=5).json()["injected"] == {"5xx": 1}
    bad = requests.post(url, json={"rate_nope": 1}, timeout=5)
    assert bad.status_code == 400 and "rate_nope" in bad.json()["error"]
    assert requests.delete(url, timeout=5).json()["injected"] == {}
    assert requests.get(f"{sb.http_url}/echo/a", timeout=5).status_code == 200
    assert sb.counters.snapshot() == {"echo.get": {200: 1, 502: 1}}  # control calls are not counted


# -- clock ----------------------------------------------------------------------------------------------
def test_clock_scales_advances_and_sets(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = [100.0]
    monkeypatch.setattr("connectors.sandbox.clock.time.monotonic", lambda: ticks[0])
    start = datetime(2025, 1, 1, tzinfo=UTC)
    clock = Clock(scale=60.0, start=start)
    ticks[0] += 2.0  # two real seconds
    assert clock.seconds() == 120.0 and clock.now() == start + timedelta(minutes=2)
    assert clock.real_seconds(3600) == 60.0
    clock.advance(3600)
    assert clock.now() == start + timedelta(hours=1, minutes=2)
    target = datetime(2025, 3, 1, 12, tzinfo=UTC)
    clock.set(target)
    assert clock.now() == target
    ticks[0] += 1.0
    assert clock.now() == target + timedelta(minutes=1)  # keeps running at its scale
    with clock.frozen() as at:
        ticks[0] += 5.0
        assert clock.now() == at == target + timedelta(minutes=1)
        clock.advance(30)
        assert clock.now() == at + timedelta(seconds=30)
    ticks[0] += 1.0
    assert clock.now() == target + timedelta(minutes=2, seconds=30)  # runs on from where it stood
    with pytest.raises(ValueError):
        clock.set(datetime(2025, 3, 1))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(ValueError):
        Clock(scale=0)


def test_clock_control_endpoint(echo_sandbox: Sandbox) -> None:
    sb = echo_sandbox
    before = sb.clock.now()
    state = requests.post(f"{sb.http_url}/_sandbox/clock", json={"advance": 7200}, timeout=5).json()
    assert sb.clock.now() - before >= timedelta(hours=2)
    assert datetime.fromisoformat(state["now"]) - before >= timedelta(hours=2)
    requests.post(f"{sb.http_url}/_sandbox/clock", json={"set": "2030-01-01T00:00:00Z"}, timeout=5)
    assert sb.clock.now() - datetime(2030, 1, 1, tzinfo=UTC) < timedelta(minutes=1)
    assert requests.post(f"{sb.http_url}/_sandbox/clock", json={"freeze": True}, timeout=5).json()["frozen"]
    assert sb.clock.now() == sb.clock.now()
    assert not requests.post(f"{sb.http_url}/_sandbox/clock", json={"freeze": False}, timeout=5).json()["frozen"]
    assert requests.post(f"{sb.http_url}/_sandbox/clock", json={"set": "soon"}, timeout=5).status_code == 400


# -- counters -------------------------------------------------------------------------------------------
def test_counters_helpers_and_http(echo_sandbox: Sandbox) -> None:
    counters = Counters()
    for endpoint, status in [("hubspot.a", 200), ("hubspot.a", 429), ("hubspot.b", 200), ("pipedrive.c", 200)]:
        counters.add(endpoint, status)
    before = counters.snapshot()
    counters.add("hubspot.b", 200)
    assert counters.by_endpoint("hubspot.") == {"hubspot.a": 2, "hubspot.b": 2}
    assert counters.by_endpoint(status=429) == {"hubspot.a": 1}
    assert counters.by_crm() == {"hubspot": 4, "pipedrive": 1}
    assert counters.total("hubspot") == 4 and counters.total() == 5
    assert counters.delta(before) == {"hubspot.b": {200: 1}}
    sb = echo_sandbox
    requests.get(f"{sb.http_url}/echo/one", timeout=5)
    assert requests.get(f"{sb.http_url}/_sandbox/counters", timeout=5).json() == {"echo.get": {"200": 1}}
    requests.delete(f"{sb.http_url}/_sandbox/counters", timeout=5)
    assert sb.counters.snapshot() == {}
    info = requests.get(f"{sb.http_url}/_sandbox/info", timeout=5).json()
    assert info["ca_path"] == str(sb.ca_path) and info["crms"] == ["echo"]


# -- seeded data ----------------------------------------------------------------------------------------
def test_generate_is_deterministic() -> None:
    a = generate(150, seed=7, now=NOW)
    assert a == generate(150, seed=7, now=NOW)
    b = generate(150, seed=8, now=NOW)
    assert [p.email for p in a.people] != [p.email for p in b.people]
    assert len({p.key for p in a.people}) == 150 and len({a.key for a in a.activities}) == len(a.activities)


@pytest.fixture(scope="module")
def big() -> Any:
    return generate(3000, seed=7, now=NOW)


def test_generated_profiles_look_like_a_crm(big: Any) -> None:
    people = big.people
    n = len(people)
    industries = collections.Counter(p.industry for p in people)
    assert {"Software & IT Services", "Financial Services", "Healthcare", "Education", "Retail & E-commerce"} <= set(
        industries
    )
    employees = {p.employees for p in people}
    assert "" in employees and {"n/a", "N/A"} & employees
    assert (
        any("," in e for e in employees)
        and any("-" in e[1:] for e in employees)
        and any(e.endswith("+") for e in employees)
    )
    assert len({p.country for p in people}) >= 10 and len({p.city for p in people}) >= 30
    domains = [p.email.split("@")[1] for p in people]
    free = sum(d in FREE_MAIL_DOMAINS for d in domains) / n
    assert 0.15 < free < 0.5
    assert 0 < sum(d in COMPETITOR_DOMAINS for d in domains) < 0.05 * n
    titles = collections.Counter(p.title for p in people)
    assert titles["Student"] and titles["CEO"] and titles["Looking for work"] and titles[""]
    assert len({p.lead_source for p in people}) >= 8
    assert len({p.email for p in people}) == n
    owners = {p.owner_key for p in people}
    assert None in owners and len(owners - {None}) == len(big.owners)
    assert sum(not o.active for o in big.owners) == 1


def test_generated_activities_follow_a_funnel_over_six_months(big: Any) -> None:
    per_person = collections.Counter(a.person_key for a in big.activities)
    counts = [per_person.get(p.key, 0) for p in big.people]
    mean = statistics.mean(counts)
    assert 8.0 < mean < 12.0  # activities_per_contact=10
    assert statistics.median(counts) < 0.7 * mean  # most leads do little...
    assert max(counts) > 6 * mean  # ...a few do a lot
    types = collections.Counter(a.type for a in big.activities)
    assert set(types) <= {t.value for t in ActivityType}
    required = {
        "page_view",
        "form_submission",
        "demo_request",
        "email_open",
        "email_click",
        "email_reply",
        "meeting",
        "call",
        "webinar_registration",
        "webinar_attended",
        "content_download",
        "unsubscribe",
        "bounce",
    }
    assert required <= set(types)
    assert types["page_view"] > types["email_open"] > types["demo_request"]
    urls = {a.attributes.get("url", "") for a in big.activities if a.type == "page_view"}
    assert any(u.endswith("/pricing") for u in urls) and any(u.endswith("/careers") for u in urls)
    times = [a.occurred_at for a in big.activities]
    assert min(times) >= NOW - timedelta(days=183) and max(times) <= NOW
    created = {p.key: p.created_at for p in big.people}
    assert all(a.occurred_at >= created[a.person_key] for a in big.activities)
    assert all(t.tzinfo is not None for t in times)


def test_generated_rollups_agree_with_activities(big: Any) -> None:
    by_person = big.activities_by_person()
    for p in big.people:
        acts = by_person[p.key]
        views = [a for a in acts if a.type == "page_view"]
        assert p.page_views == len(views)
        assert p.visits == len({a.occurred_at.date() for a in views})
        assert p.email_opens == sum(a.type == "email_open" for a in acts)
        assert p.email_clicks == sum(a.type == "email_click" for a in acts)
        assert p.form_submissions == sum("form" in a.attributes for a in acts)
        assert p.last_visit_at == (max(a.occurred_at for a in views) if views else None)
        assert p.do_not_email == any(a.type == "unsubscribe" for a in acts)
        assert p.updated_at >= max([p.created_at, *(a.occurred_at for a in acts)])


def test_generated_outcomes_correlate_with_fit_and_behaviour(big: Any) -> None:
    outcomes = {o.person_key: o for o in big.outcomes}
    n = len(big.people)
    closed = len(outcomes) / n
    won = sum(o.won for o in outcomes.values()) / len(outcomes)
    assert 0.10 <= closed <= 0.20 and 0.30 <= won <= 0.45
    by_person = big.activities_by_person()

    def win_rate(people: list[Any]) -> float:
        return sum(1 for p in people if p.key in outcomes and outcomes[p.key].won) / max(len(people), 1)

    deciders = [p for p in big.people if p.title in ("CEO", "Founder", "VP Sales", "VP Marketing", "CTO", "COO")]
    students = [p for p in big.people if p.title in ("Student", "Intern", "Looking for work", "Job Seeker")]
    assert win_rate(deciders) > 2 * win_rate(students)
    demo = [p for p in big.people if any(a.type == "demo_request" for a in by_person[p.key])]
    quiet = [p for p in big.people if len(by_person[p.key]) <= 2]
    assert win_rate(demo) > 3 * win_rate(quiet)
    competitors = [p for p in big.people if p.email.split("@")[1] in COMPETITOR_DOMAINS]
    assert competitors and not any(p.key in outcomes for p in competitors)
    for p in big.people:
        o = outcomes.get(p.key)
        assert (p.lifecycle_stage == "customer") == bool(o and o.won)
        if o is not None:
            assert p.created_at <= o.closed_at <= NOW and p.converted
    amounts = [o.amount for o in outcomes.values() if o.won]
    assert min(amounts) > 0 and not math.isnan(statistics.mean(amounts))


# -- CSV import -----------------------------------------------------------------------------------------
def test_x_education_import(x_education_csv: Path) -> None:
    with x_education_csv.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    ds = from_csv(x_education_csv, X_EDUCATION_MAPPING, NOW)
    assert ds.warnings == []
    assert len(ds.people) == len(rows) == 6520
    converted = sum(r["Converted"] == "1" for r in rows)
    assert sum(o.won for o in ds.outcomes) == converted and len(ds.outcomes) == 6520
    types = collections.Counter(a.type for a in ds.activities)
    assert types["page_view"] == sum(int(float(r["TotalVisits"] or 0)) for r in rows)
    assert types["unsubscribe"] == sum(r["Do Not Email"] == "Yes" for r in rows)
    assert types["content_download"] == sum(r["A free copy of Mastering The Interview"] == "Yes" for r in rows)
    first = next(p for p in ds.people if p.key == rows[1]["Prospect ID"])
    assert first.visits == 5 and first.page_views == round(5 * 2.5) and first.country == "India"
    assert first.lead_source == "Organic Search" and first.city == ""  # "Select" is a placeholder
    assert first.extra["specialization"] if rows[1]["Specialization"] not in ("", "Select") else True
    assert all(p.lifecycle_stage == "lead" and not p.converted for p in ds.people)  # no field leaks the outcome
    assert len({p.email for p in ds.people}) == 6520
    assert all(NOW - timedelta(days=180) <= a.occurred_at <= NOW for a in ds.activities)
    assert ds == from_csv(x_education_csv, X_EDUCATION_MAPPING, NOW)  # seeded: same file, same data


def test_x_education_mapping_reads_no_leaking_column() -> None:
    mapping = load_mapping(X_EDUCATION_MAPPING)
    leaking = {"Tags", "Lead Quality", "Lead Profile", "Last Activity", "Last Notable Activity"}
    leaking |= {f"Asymmetrique {k} {v}" for k in ("Activity", "Profile") for v in ("Index", "Score")}
    assert mapping.forbidden == leaking
    assert not set(mapping.columns()) & leaking


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


MINI_MAPPING = {
    "id": "Id",
    "placeholders": ["Select"],
    "fields": {"country": "Country", "lead_source": ["Source", "Origin"]},
    "activities": [
        {"type": "page_view", "count": "Visits"},
        {"type": "unsubscribe", "when": {"No Email": "Yes"}},
    ],
    "outcome": {"column": "Converted", "won": ["1"], "lost": ["0"]},
    "forbidden": ["Tags"],
}


def test_import_reports_bad_rows_by_line_and_column_and_goes_on(tmp_path: Path) -> None:
    header = ["Id", "Country", "Source", "Origin", "Visits", "No Email", "Converted", "Tags"]
    path = _write_csv(
        tmp_path / "leads.csv",
        [
            header,
            ["a1", "India", "", "API", "3", "No", "1", "x"],
            ["a2", "Select", "Google", "API", "many", "Yes", "0", "x"],
            ["", "India", "Google", "API", "1", "No", "0", "x"],
            ["a1", "India", "Google", "API", "1", "No", "0", "x"],
            ["a3", "India", "Google"],
            ["a4", "India", "Google", "API", "-2", "No", "maybe", "x"],
            ["a5", "Peru", "Google", "API", "2.0", "No", "0", "x"],
        ],
    )
    ds = from_csv(path, MINI_MAPPING, NOW)
    assert [p.key for p in ds.people] == ["a1", "a2", "a4", "a5"]
    assert ds.warnings == [
        "leads.csv line 3, column 'Visits': expected a whole number, got 'many'; no page_view activities made",
        "leads.csv line 4, column 'Id': the id is empty; row skipped",
        "leads.csv line 5, column 'Id': id 'a1' already used on line 2; row skipped",
        "leads.csv line 6: expected 8 columns, found 3; row skipped",
        "leads.csv line 7, column 'Visits': expected a whole number between 0 and 10000, got '-2'; "
        "no page_view activities made",
        "leads.csv line 7, column 'Converted': expected 1 (won) or 0 (lost), got 'maybe'; no outcome",
    ]
    people = {p.key: p for p in ds.people}
    assert people["a1"].lead_source == "API" and people["a1"].page_views == 3
    assert people["a2"].country == "" and people["a2"].page_views == 0
    assert people["a5"].page_views == 2
    assert [(o.person_key, o.won) for o in ds.outcomes] == [("a1", True), ("a2", False), ("a5", False)]
    assert [a.type for a in ds.activities if a.person_key == "a2"] == ["unsubscribe"]


def test_import_mapping_errors_name_the_key(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "leads.csv", [["Id", "Country", "Tags"], ["a", "b", "c"]])
    with pytest.raises(MappingError, match=r"forbidden \(they leak the outcome\): 'Tags' \(fields\.industry\)"):
        from_csv(path, {**MINI_MAPPING, "fields": {"industry": "Tags"}, "activities": [], "outcome": None}, NOW)
    with pytest.raises(
        MappingError,
        match=r"not in leads\.csv: 'No Email' \(activities\[1\]\.when\), 'Visits' \(activities\[0\]\.count\); "
        r"its columns are Id, Country, Tags",
    ):
        from_csv(path, {**MINI_MAPPING, "fields": {}, "outcome": None}, NOW)
    with pytest.raises(MappingError, match=r"fields\.shoe_size: not a person field"):
        load_mapping({"id": "Id", "fields": {"shoe_size": "Shoe"}})
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("id: [unclosed")
    with pytest.raises(MappingError, match=r"bad\.yaml is not valid YAML"):
        load_mapping(bad_yaml)


# -- CLI ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [[], ["serve"], ["seed"], ["import"]])
def test_cli_help(command: list[str]) -> None:
    result = CliRunner().invoke(sandbox_cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    if command == ["serve"]:
        assert "--fault-429" in result.output and "--no-rate-limits" in result.output and "--db" in result.output


def test_serve_in_a_subprocess_prints_what_to_paste_and_stops_on_sigterm() -> None:
    with run_subprocess(contacts=15, time_scale=60, faults={"rate_5xx": 0.0}) as proc:
        assert requests.get(f"{proc.http_url}/_sandbox/health", timeout=5).json()["ok"]
        assert proc.configure_faults(rate_5xx=1.0, only=["pipedrive"])["config"]["only"] == ["pipedrive"]
        token = proc.credentials("pipedrive")["api_token"]
        assert requests.get(f"{proc.pipedrive_url}/api/v2/persons?api_token={token}", timeout=5).status_code >= 500
        assert proc.calls("pipedrive.", status=200) == 0 and proc.calls("pipedrive.") == 1
        proc.reset_counters()
        assert proc.counters() == {}
        assert proc.advance_clock(86400)["seconds"] >= 86400
        assert Path(proc.ca_path).exists()
        assert proc.stop() == 0
    out = proc.output()
    assert "Sandbox stopped." in out and f"LEADSYNC_CA_BUNDLE={proc.ca_path}" in out
    assert "LEADSYNC_HUBSPOT__BASE_URL=http://127.0.0.1:" in out and "LEADSYNC_PIPEDRIVE__API_TOKEN=" in out


def test_sigkill_leaves_no_process() -> None:
    proc = run_subprocess(contacts=0, crm="hubspot")
    proc.kill()
    assert not proc.alive() and proc.process.returncode == -9
    proc.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{proc.http_url}/_sandbox/health", timeout=2)


def _pipedrive_people(url: str, token: str) -> list[dict[str, Any]]:
    people: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = requests.get(
            f"{url}/api/v2/persons", params={"api_token": token, "limit": "500", "cursor": cursor}, timeout=10
        ).json()
        people += page["data"]
        cursor = (page.get("additional_data") or {}).get("next_cursor") or ""
        if not cursor:
            return people


def test_seed_and_import_persist_into_a_db_that_serve_serves(tmp_path: Path, x_education_csv: Path) -> None:
    db = tmp_path / "sandbox.db"
    runner = CliRunner()
    result = runner.invoke(sandbox_cli, ["seed", "--crm", "pipedrive", "--contacts", "40", "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert "Pipedrive: loaded 40 records" in result.output
    again = runner.invoke(sandbox_cli, ["seed", "--crm", "pipedrive", "--contacts", "40", "--db", str(db)])
    assert again.exit_code != 0 and "already holds Pipedrive data" in again.output
    imported = runner.invoke(
        sandbox_cli,
        [
            "import",
            "--crm",
            "hubspot",
            "--csv",
            str(x_education_csv),
            "--mapping",
            str(X_EDUCATION_MAPPING),
            "--db",
            str(db),
        ],
    )
    assert imported.exit_code == 0, imported.output
    assert "Read 6,520 people" in imported.output and "HubSpot: loaded 6,520 records" in imported.output
    with run_subprocess(db_path=str(db), crm="pipedrive", contacts=5) as proc:
        people = _pipedrive_people(proc.pipedrive_url, proc.credentials("pipedrive")["api_token"])
        assert len(people) == 40  # the 40 seeded ones, not 5 new
    assert "serving the data already in" in proc.output()


# -- the sandbox's Python API --------------------------------------------------------------------------
def test_load_guards_unknown_crm_and_records_what_was_loaded(small_dataset: Any) -> None:
    sb = Sandbox(SandboxConfig(crms=("pipedrive",)))
    ids = sb.load(small_dataset)
    assert list(ids) == ["pipedrive"] and len(ids["pipedrive"]) == 120
    assert json.loads(sb.meta_get("loaded.pipedrive") or "{}")["people"] == 120
    with pytest.raises(ValueError, match="unknown CRM 'zoho'"):
        sb.load_into("zoho", small_dataset)
    with pytest.raises(ValueError, match="unknown CRM"):
        Sandbox(SandboxConfig(crms=("zoho",)))
