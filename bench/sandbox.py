"""Sandbox throughput: seed 100,000 contacts x 10 activities, then list them in full through each CRM's list
endpoint with plain ``requests`` (HubSpot list 100/page, Salesforce query 2,000/batch, Pipedrive v2 500/page),
rate limits off.  Prints seeding time and records/s served per CRM, and writes them to the ``## Sandbox``
section of ``bench/RESULTS.md``.  Figures, never pass/fail.

    .venv/bin/python bench/sandbox.py [--contacts 100000] [--crm hubspot]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from connectors.paging import HubSpotAfter, Paginator, PipedriveCursor, SalesforceNextUrl, pages
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.app import CRMS
from connectors.sandbox.seed import generate

RESULTS = Path(__file__).with_name("RESULTS.md")
NOW = datetime(2025, 6, 2, tzinfo=UTC)


def _getter(session: requests.Session, url: str) -> Callable[[dict[str, Any]], Any]:
    return lambda params: session.get(url, params=params, timeout=60).json()


def _count(
    fetch: Callable[[dict[str, Any]], Any], paginator: Paginator, items: str, params: dict[str, str] | None = None
) -> tuple[int, int]:
    """Records and calls of one listing walked to its end."""
    records = calls = 0
    for body in pages(fetch, paginator, params):
        calls += 1
        records += len(body[items] or [])
    return records, calls


def list_hubspot(sb: Sandbox, session: requests.Session) -> tuple[int, int]:
    token = sb.credentials("hubspot")["private_app_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    url = f"{sb.hubspot_url}/crm/v3/objects/contacts"
    return _count(_getter(session, url), HubSpotAfter(), "results", {"limit": "100"})


def list_salesforce(sb: Sandbox, session: requests.Session) -> tuple[int, int]:
    token = sb.credentials("salesforce")["session_id"]
    session.headers.update({"Authorization": f"Bearer {token}", "Sforce-Query-Options": "batchSize=2000"})
    # verify per request: a session-level ``verify`` loses to REQUESTS_CA_BUNDLE in the environment
    ca = str(sb.ca_path)
    soql = (
        "SELECT Id, FirstName, LastName, Email, Company, Title, Industry, LeadSource, Status, OwnerId, "
        "IsConverted, CreatedDate, LastModifiedDate, SystemModstamp FROM Lead"
    )

    def fetch(request: dict[str, Any]) -> Any:
        if "next_url" in request:
            return session.get(f"{sb.salesforce_url}{request['next_url']}", timeout=60, verify=ca).json()
        query = f"{sb.salesforce_url}/services/data/v59.0/query"
        return session.get(query, params={"q": soql}, timeout=60, verify=ca).json()

    return _count(fetch, SalesforceNextUrl(), "records")


def list_pipedrive(sb: Sandbox, session: requests.Session) -> tuple[int, int]:
    token = sb.credentials("pipedrive")["api_token"]
    url = f"{sb.pipedrive_url}/api/v2/persons"
    return _count(_getter(session, url), PipedriveCursor(), "data", {"limit": "500", "api_token": token})


LISTERS: dict[str, tuple[str, Callable[[Sandbox, requests.Session], tuple[int, int]]]] = {
    "hubspot": ("HubSpot `GET /crm/v3/objects/contacts` (100/page)", list_hubspot),
    "salesforce": ("Salesforce `GET /query` on Lead + `nextRecordsUrl` (2,000/batch, TLS)", list_salesforce),
    "pipedrive": ("Pipedrive `GET /api/v2/persons` (500/page)", list_pipedrive),
}


def write_results(section: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find("## Sandbox")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section.rstrip("\n") + "\n" + ("\n" + text[end + 1 :] if end != -1 else "")
    RESULTS.write_text(text.rstrip("\n") + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--activities", type=float, default=10.0)
    parser.add_argument("--crm", choices=["all", *CRMS], default="all")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = parser.parse_args()
    crms = CRMS if args.crm == "all" else (args.crm,)
    load_before = os.getloadavg()[0]

    started = time.perf_counter()
    dataset = generate(args.contacts, seed=7, now=NOW, activities_per_contact=args.activities)
    seed_s = time.perf_counter() - started
    print(
        f"seed: {len(dataset.people):,} people, {len(dataset.activities):,} activities, "
        f"{len(dataset.outcomes):,} outcomes in {seed_s:.1f} s",
        flush=True,
    )
    rows = []
    with Sandbox(SandboxConfig(rate_limits=False, crms=crms)) as sb:
        for crm in crms:
            label, lister = LISTERS[crm]
            started = time.perf_counter()
            try:
                sb.load_into(crm, dataset)
            except NotImplementedError as exc:
                print(f"{crm}: skipped: {exc}")
                continue
            load_s = time.perf_counter() - started
            with requests.Session() as session:
                started = time.perf_counter()
                records, calls = lister(sb, session)
                list_s = time.perf_counter() - started
            rate = records / list_s if list_s else float("inf")
            print(
                f"{crm}: load {load_s:.1f} s; listed {records:,} records in {calls:,} calls, {list_s:.1f} s "
                f"= {rate:,.0f} records/s ({list_s / calls * 1000:.1f} ms/call)",
                flush=True,
            )
            rows.append(
                f"| {label} | {load_s:.1f} s | {records:,} | {calls:,} | {list_s:.1f} s | {rate:,.0f} | "
                f"{list_s / calls * 1000:.1f} ms |"
            )
            if records != len(dataset.people):
                print(f"{crm}: WARNING listed {records:,} records, seeded {len(dataset.people):,}", file=sys.stderr)
    section = "\n".join(
        [
            "## Sandbox",
            "",
            f"`bench/sandbox.py`, {datetime.now(UTC):%Y-%m-%d}, Python {platform.python_version()}, "
            f"{platform.machine()} with {os.cpu_count()} CPUs (load average {load_before:.1f} at start), "
            "rate limits off, one client thread over 127.0.0.1.",
            "",
            f"Seeding `generate({args.contacts:,} contacts, {args.activities:g} activities each)`: "
            f"{seed_s:.1f} s ({len(dataset.people):,} people, {len(dataset.activities):,} activities, "
            f"{len(dataset.outcomes):,} outcomes).",
            "",
            "| Listing | Load into the CRM | Records | Calls | Time | Records/s | Per call |",
            "|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    if not args.no_write:
        write_results(section)
        print(f"wrote the Sandbox section of {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
