"""The sandbox platform: fault injection, clock, counters, the Python API (seeded data, CSV import and the CLI
are in test_sandbox_data.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.app import CRMS, Counters
from connectors.sandbox.clock import Clock
from connectors.sandbox.core import CRMApi, Request, Response, Route, route
from connectors.sandbox.faults import FaultConfig, Faults


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
