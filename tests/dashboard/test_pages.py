"""The dashboard through Starlette's TestClient: sign-in, each page, filters, CSV, CSRF and a revert."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from sync.cli import _register_optional_commands as main_commands
from sync.dashboard.auth import hash_password, verify_password
from sync.server import EventQueue, build_app
from sync.settings import SettingsError, load_settings
from sync.state import RunKind, open_store

from .conftest import PASSWORD, USER, Synced

PAGES = ("/", "/sla", "/runs", "/model")


class Client(TestClient):
    """Paths relative to /dashboard on the whole server app (webhooks, /healthz and the dashboard mounted)."""

    def request(self, method, url, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        return super().request(method, "/dashboard" + str(url), *args, **kwargs)


def server(synced: Synced) -> Client:
    return Client(build_app(synced.settings, queue=EventQueue(synced.settings.state_url)), base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def anonymous(synced: Synced) -> Iterator[Client]:
    with server(synced) as client:
        yield client


@pytest.fixture(scope="module")
def client(synced: Synced) -> Iterator[Client]:
    with server(synced) as client:
        answer = client.post("/sign-in", data={"user": USER, "password": PASSWORD, "next": "/dashboard/"})
        assert answer.status_code == 200 and "Hot leads" in answer.text
        yield client


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def test_settings_refuse_a_password_instead_of_a_hash(tmp_path) -> None:
    env = tmp_path / "x.env"
    env.write_text("LEADSYNC_DASHBOARD__PASSWORD_HASH=hunter2\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(env)
    assert "LEADSYNC_DASHBOARD__PASSWORD_HASH" in str(caught.value) and "hunter2" not in str(caught.value)
    env.write_text(f"LEADSYNC_DASHBOARD__PASSWORD_HASH={hash_password('long enough', n=2**10)}\n")
    assert load_settings(env).dashboard.password_hash is not None


def test_hash_password_command() -> None:
    from click.testing import CliRunner

    from sync.cli import cli

    main_commands()
    result = CliRunner().invoke(cli, ["dashboard", "hash-password"], input="a good password\na good password\n")
    assert result.exit_code == 0, result.output
    encoded = result.output.strip().splitlines()[-1]
    assert verify_password("a good password", encoded)
    short = CliRunner().invoke(cli, ["dashboard", "hash-password", "--password", "short"])
    assert short.exit_code == 2 and "at least 8" in short.output


def test_password_hash_round_trip() -> None:
    encoded = hash_password("s3cret-enough", n=2**10)
    assert verify_password("s3cret-enough", encoded) and not verify_password("s3cret-enougH", encoded)
    assert not verify_password("x", "scrypt$not$a$hash$at$all")


@pytest.mark.parametrize("path", [*PAGES, "/runs/1", "/contacts/1", "/runs/1/changes.csv"])
def test_every_page_needs_sign_in(anonymous: Client, path: str) -> None:
    answer = anonymous.get(path)
    assert answer.status_code == 401
    assert 'action="/dashboard/sign-in"' in answer.text and "Hot leads" not in answer.text


def test_wrong_password_is_refused(anonymous: Client) -> None:
    answer = anonymous.post("/sign-in", data={"user": USER, "password": "guess", "next": "/dashboard/"})
    assert answer.status_code == 401 and "Wrong user name or password" in answer.text
    assert "leadsync_dashboard" not in answer.cookies


def test_sign_in_never_redirects_outside(anonymous: Client) -> None:
    answer = anonymous.post(
        "/sign-in", data={"user": USER, "password": PASSWORD, "next": "https://evil.example/"}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"


@pytest.mark.parametrize("path", PAGES)
def test_pages_render(client: Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/html")


def test_hot_leads_are_ordered_and_filtered(client: Client, synced: Synced) -> None:
    html = client.get("/").text
    scores = [float(s) for s in re.findall(r'<td class="num">([0-9.]+)</td><td>', html)]
    assert scores and scores == sorted(scores, reverse=True)
    with open_store(synced.settings.state_url) as store:
        rows = store._execute(  # type: ignore[attr-defined]
            "SELECT contact_id, stage, tier, owner_id FROM scoring_inputs WHERE crm = 'hubspot' AND total IS NOT NULL"
        ).fetchall()
    stage = rows[0][1]
    shown = set(re.findall(r'<tr data-contact="([^"]+)">', client.get("/", params={"stage": stage}).text))
    assert shown and shown <= {r[0] for r in rows if r[1] == stage}
    owners = [r[3] for r in rows if r[3]]
    if owners:
        shown = set(re.findall(r'<tr data-contact="([^"]+)">', client.get("/", params={"owner": owners[0]}).text))
        assert shown and shown <= {r[0] for r in rows if r[3] == owners[0]}
    tiers = [r[2] for r in rows if r[2]]
    if tiers:
        shown = set(re.findall(r'<tr data-contact="([^"]+)">', client.get("/", params={"tier": tiers[0]}).text))
        assert shown == {r[0] for r in rows if r[2] == tiers[0]} or len(shown) == synced.settings.dashboard.page_size
    assert "No contacts match" in client.get("/", params={"owner": "nobody-owns-this"}).text


def test_run_changes_search_and_csv(client: Client, synced: Synced) -> None:
    run = synced.backfill_run
    page = client.get(f"/runs/{run}").text
    contact = re.search(r'<a href="/dashboard/contacts/([^"]+)">', page)
    assert contact
    cid = contact.group(1)
    searched = client.get(f"/runs/{run}", params={"q": cid}).text
    assert set(re.findall(r'<a href="/dashboard/contacts/([^"]+)">', searched)) == {cid}
    answer = client.get(f"/runs/{run}/changes.csv", params={"q": cid})
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert rows and {r["contact_id"] for r in rows} == {cid} and {r["run_id"] for r in rows} == {str(run)}
    full = list(csv.DictReader(io.StringIO(client.get(f"/runs/{run}/changes.csv").text)))
    assert len(full) > len(rows)


def test_contact_page_tells_its_story(client: Client, synced: Synced) -> None:
    page = client.get(f"/runs/{synced.backfill_run}").text
    cid = re.search(r'<a href="/dashboard/contacts/([^"]+)">', page).group(1)  # type: ignore[union-attr]
    html = client.get(f"/contacts/{cid}").text
    assert 'data-chart="score"' in html and "<circle" in html
    assert 'id="written"' in html and f"/dashboard/runs/{synced.backfill_run}" in html
    assert 'id="would-change"' in html and 'id="score-now"' in html
    assert client.get("/contacts/no-such-contact").status_code == 404


def test_model_page_shows_examples(client: Client) -> None:
    html = client.get("/model").text
    assert 'id="examples"' in html and "passes" in html and 'id="model-source"' in html


def test_revert_refused_without_csrf(client: Client, synced: Synced) -> None:
    for data in ({}, {"csrf": "forged"}):
        answer = client.post(f"/runs/{synced.backfill_run}/revert", data=data)
        assert answer.status_code == 403 and "CSRF" in answer.text
    with open_store(synced.settings.state_url) as store:
        assert not [r for r in store.list_runs("hubspot", kind=RunKind.REVERT) if not r.dry_run]


def test_sign_out_needs_csrf(synced: Synced) -> None:
    with server(synced) as client:
        client.post("/sign-in", data={"user": USER, "password": PASSWORD, "next": "/dashboard/"})
        assert client.post("/sign-out", data={}).status_code == 403
        csrf = csrf_of(client.get("/runs").text)
        assert client.post("/sign-out", data={"csrf": csrf}).status_code == 200
        assert client.get("/runs").status_code == 401


def test_sla_board_shows_waiting_leads_and_met_missed(client: Client, synced: Synced) -> None:
    from datetime import UTC, datetime, timedelta
    from html import unescape

    from sync.sla import report_for

    now = datetime.now(UTC)
    with open_store(synced.settings.state_url) as store:
        leads = store.sla_since("hubspot", now - timedelta(days=30))
        waiting = [lead for lead in leads if lead.touched_at is None and lead.due_at is not None]
        assert waiting, "the sandbox backfill should leave P1/P2 leads untouched"
        with store.transaction():
            store.sla_save("hubspot", [replace_escalated(waiting[0], now)])
        report = {(r.days, r.tier, r.owner_id): r for r in report_for(store, "hubspot", now)}
    html = client.get("/sla").text
    shown = re.findall(r'<tr data-contact="([^"]+)">', html)
    assert sorted(shown) == sorted(lead.contact_id for lead in waiting)
    row = re.search(rf'<tr data-contact="{re.escape(waiting[0].contact_id)}">(.*?)</tr>', html, re.S)
    assert row and 'class="escalated">yes' in row.group(1) and '<time class="due"' in row.group(1)
    for days in (7, 30):
        table = re.search(rf'<table id="outcomes-{days}".*?</table>', html, re.S)
        assert table, days
        cells = re.findall(
            r"<tr(?: class=\"total\")?><td>([^<]*)</td><td>([^<]*)</td>((?:<td[^>]*>[^<]*</td>)+)</tr>", table.group(0)
        )
        for tier, owner, numbers in cells:
            if owner == "all owners":
                continue
            expected = report[(days, tier, "" if owner == "(none)" else unescape(owner))]
            met, missed = re.findall(r">(\d+)<", numbers)[:2]
            assert (int(met), int(missed)) == (expected.met, expected.missed)
        assert len([c for c in cells if c[1] != "all owners"]) == len([k for k in report if k[0] == days])
    tier = waiting[0].tier
    narrowed = re.findall(r'<tr data-contact="([^"]+)">', client.get("/sla", params={"tier": tier}).text)
    assert sorted(narrowed) == sorted(lead.contact_id for lead in waiting if lead.tier == tier)


def replace_escalated(lead, at):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(lead, escalated_at=at)


def test_segment_filter_and_contact_segments(client: Client, synced: Synced) -> None:
    with open_store(synced.settings.state_url) as store:
        rows = store._execute(  # type: ignore[attr-defined]
            "SELECT contact_id, segments FROM scoring_inputs WHERE crm = 'hubspot' AND total IS NOT NULL"
        ).fetchall()
    members: dict[str, set[str]] = {}
    for cid, segments in rows:
        for name in json.loads(segments or "[]"):
            members.setdefault(name, set()).add(cid)
    assert members, "the starter model's segments should hold some of the sandbox's contacts"
    html = client.get("/").text
    assert '<select name="segment">' in html
    for name, ids in members.items():
        shown = set(re.findall(r'<tr data-contact="([^"]+)">', client.get("/", params={"segment": name}).text))
        assert shown == ids or (shown < ids and len(shown) == synced.settings.dashboard.page_size), name
    name, ids = next(iter(members.items()))
    contact = client.get(f"/contacts/{sorted(ids)[0]}").text
    segments = re.search(r'<p id="segments">(.*?)</p>', contact, re.S)
    assert segments and f'href="/dashboard/?segment={name}"' in segments.group(1)


def test_sign_in_attempts_are_limited(synced: Synced) -> None:
    with server(synced) as fresh:
        for _ in range(5):
            answer = fresh.post("/sign-in", data={"user": USER, "password": "guess", "next": "/dashboard/"})
            assert answer.status_code == 401
        refused = fresh.post("/sign-in", data={"user": USER, "password": PASSWORD, "next": "/dashboard/"})
        assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "leadsync_dashboard" not in refused.cookies and fresh.get("/runs").status_code == 401
    with server(synced) as other:  # a new process: its own count (the limiter is in memory)
        assert other.post("/sign-in", data={"user": USER, "password": PASSWORD}).status_code == 200


def test_sign_in_limiter_window() -> None:
    from sync.dashboard.auth import SignInLimiter

    now = [100.0]
    limiter = SignInLimiter(failures=3, window_seconds=60, clock=lambda: now[0])
    for step in (0, 10, 20):
        now[0] = 100.0 + step
        assert limiter.retry_after("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 40 and limiter.retry_after("10.0.0.2") == 0
    now[0] = 160.5  # the first failure has aged out: one more try
    assert limiter.retry_after("10.0.0.1") == 0
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 10  # until the failure at 110 s is a minute old
    limiter.succeeded("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 0
