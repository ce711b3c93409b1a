"""The sandbox's data and command line: seeded data, CSV import, the sandbox CLI (seed, import, serve)."""

from __future__ import annotations

import collections
import csv
import math
import statistics
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from connectors.records import ActivityType
from connectors.sandbox import run_subprocess
from connectors.sandbox.cli import sandbox as sandbox_cli
from connectors.sandbox.importer import MappingError, from_csv, load_mapping
from connectors.sandbox.seed import COMPETITOR_DOMAINS, FREE_MAIL_DOMAINS, generate
from tests.connectors.conftest import X_EDUCATION_MAPPING
from tests.harnesses import NOW


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
