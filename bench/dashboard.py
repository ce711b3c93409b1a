"""The dashboard's response times with 1,000,000 contacts in a SQLite state database.

Fills a fresh state database by bulk insert (each contact's scoring inputs packed as the store packs them,
with a few activities and its segments; owners, tiers and stages spread as a real install's would be; an SLA
lead for each contact in a tier, over 40 days, met, missed or waiting; 200 runs, one of them with 100,000 audit
rows), serves the dashboard on 127.0.0.1 and times each page over HTTP, signed in.
Prints the figures and writes them to bench/RESULTS.md under "Dashboard".  No pass/fail.

    .venv/bin/python bench/dashboard.py [--contacts 1000000] [--db PATH] [--keep]
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import random
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, write_section
from connectors.records import Activity, Contact
from scoring import STARTER_MODEL_PATH, load_model, score
from sync.dashboard import hash_password
from sync.server import EventQueue, ServerThread, build_app
from sync.settings import DashboardSettings, Settings
from sync.state import open_store
from sync.state._sql import _pack_inputs
from sync.state._sqlite import _ts

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OWNERS = [f"70000{i:02d}" for i in range(40)]
TYPES = ("page_view", "email_open", "email_click", "form_submission", "webinar_registration", "demo_request")
BIG_RUN_ROWS = 100_000
REPEATS = 7


def sla_row(rng: random.Random, cid: str, tier: str, owner: str) -> tuple[object, ...]:
    """One SLA stretch: prioritized in the last 40 days, met (60%), missed late (15%), or left untouched."""
    prioritized = NOW - timedelta(hours=rng.uniform(0, 24 * 40))
    due = prioritized + (timedelta(hours=1) if tier == "P1" else timedelta(hours=24))
    luck = rng.random()
    touched = None
    if luck < 0.6:
        touched = prioritized + (due - prioritized) * rng.uniform(0.05, 0.95)
    elif luck < 0.75:
        touched = due + timedelta(hours=rng.uniform(0.5, 30))
    escalated = due if touched is None and due <= NOW else None
    return (
        "hubspot",
        cid,
        tier,
        owner,
        _ts(prioritized),
        _ts(due),
        None if touched is None or touched > NOW else _ts(touched),
        None,
        None if escalated is None else _ts(escalated),
    )


def flush(
    db: Any, inputs: list[tuple[object, ...]], segments: list[tuple[object, ...]], sla: list[tuple[object, ...]]
) -> None:
    db.executemany(
        "INSERT INTO scoring_inputs (crm, contact_id, payload, model_version, scored_at, next_change_at, total, "
        "stage, tier, owner_id, segments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        inputs,
    )
    db.executemany("INSERT INTO input_segments (crm, contact_id, segment, total) VALUES (?, ?, ?, ?)", segments)
    db.executemany(
        "INSERT INTO sla_leads (crm, contact_id, tier, owner_id, prioritized_at, due_at, touched_at, "
        "touch_activity_id, escalated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        sla,
    )
    for rows in (inputs, segments, sla):
        rows.clear()


def fill(path: Path, contacts: int, seed: int = 7) -> dict[str, str]:
    """A state database with ``contacts`` scored contacts; returns ids worth asking for."""
    store = open_store(path)  # creates and migrates it
    store.close()
    import sqlite3

    model = load_model(STARTER_MODEL_PATH)
    rng = random.Random(seed)
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    t0 = time.monotonic()
    batch: list[tuple[object, ...]] = []
    seg_batch: list[tuple[object, ...]] = []
    sla_batch: list[tuple[object, ...]] = []
    sample: dict[str, str] = {}
    # a few hundred scored templates: scoring a million contacts here would measure the engine, not the pages
    templates = []
    for i in range(500):
        acts = tuple(
            Activity(f"a{i}-{k}", "x", rng.choice(TYPES), NOW - timedelta(hours=rng.uniform(1, 24 * 60)), {})
            for k in range(rng.randint(0, 6))
        )
        fields = {"email": f"p{i}@example.com", "first_name": f"P{i}", "title": rng.choice(["VP Sales", "Intern"])}
        result = score(model, Contact("x", NOW, fields), list(acts), NOW)
        templates.append((fields, acts, result))
    for n in range(contacts):
        cid = str(1_000_000 + n)
        fields, acts, result = templates[n % len(templates)]
        owner = rng.choice(OWNERS)
        contact = Contact(cid, NOW, {**fields, "owner_id": owner})
        activities = [Activity(a.id, cid, a.type, a.occurred_at, a.attributes) for a in acts]
        total = max(0.0, min(100.0, result.total + rng.uniform(-20, 20)))
        tier = result.tier if rng.random() < 0.5 else None
        stage = "sql" if total >= 75 else "mql" if total >= 40 else "lead"
        segments = sorted(result.segments)
        batch.append(
            (
                "hubspot",
                cid,
                _pack_inputs(contact, activities),
                model.version,
                _ts(NOW - timedelta(minutes=rng.uniform(0, 60 * 24 * 30))),
                None,
                round(total, 1),
                stage,
                tier,
                owner,
                json.dumps(segments) if segments else None,
            )
        )
        seg_batch.extend(("hubspot", cid, name, round(total, 1)) for name in segments)
        if tier is not None:
            sla_batch.append(sla_row(rng, cid, tier, owner))
        if len(batch) >= 20_000:
            flush(db, batch, seg_batch, sla_batch)
    flush(db, batch, seg_batch, sla_batch)
    for run in range(1, 201):
        started = NOW - timedelta(minutes=15 * (200 - run))
        db.execute(
            "INSERT INTO runs (crm, kind, status, started_at, finished_at, duration_seconds, model_version, dry_run, "
            "counts, api_calls, quota_left, pid, host) VALUES ('hubspot', 'sync', 'ok', ?, ?, 12.5, ?, 0, ?, ?, ?, 1, "
            "'bench')",
            (
                _ts(started),
                _ts(started + timedelta(seconds=12)),
                model.version,
                '{"read": 500, "written": 120}',
                '{"GET /crm/v3/objects/contacts": 5}',
                250_000 - run,
            ),
        )
    big_run = 1
    audit = [
        (
            big_run,
            "hubspot",
            str(1_000_000 + i % contacts),
            "leadsync_score",
            "10",
            str(i % 100),
            _ts(NOW),
            "write",
            "ok",
        )
        for i in range(BIG_RUN_ROWS)
    ]
    db.executemany(
        "INSERT INTO audit (run_id, crm, contact_id, field, old_value, new_value, at, action, status) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        audit,
    )
    db.commit()
    db.execute("ANALYZE")
    db.close()
    print(f"filled {contacts:,} contacts, 200 runs, {BIG_RUN_ROWS:,} audit rows in {time.monotonic() - t0:.1f} s")
    sample["contact"] = str(1_000_000 + contacts // 2)
    sample["owner"] = OWNERS[3]
    sample["big_run"] = str(big_run)
    return sample


def measure(base: str, opener: urllib.request.OpenerDirector, path: str) -> tuple[float, float, int]:
    timings = []
    size = 0
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        with opener.open(base + path) as answer:
            size = len(answer.read())
            assert answer.status == 200, (path, answer.status)
        timings.append((time.perf_counter() - t0) * 1000)
    return statistics.median(timings), max(timings[1:]), size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=None, help="reuse (or keep) this database file")
    parser.add_argument("--no-results", action="store_true", help="do not write bench/RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadsync-bench-dashboard-") as tmp:
        path = args.db or Path(tmp) / "state.db"
        sample = {"contact": str(1_000_000 + args.contacts // 2), "owner": OWNERS[3], "big_run": "1"}
        if not path.exists():
            sample = fill(path, args.contacts)
        password = "bench-password"
        settings = Settings(
            state_url=f"sqlite:///{path}",
            model_file=STARTER_MODEL_PATH,
            dashboard=DashboardSettings(password_hash=SecretStr(hash_password(password))),
        )
        with open_store(path) as store:
            tiers = dict(store._execute("SELECT tier, COUNT(*) FROM scoring_inputs GROUP BY tier").fetchall())  # type: ignore[attr-defined]
            groups = dict(store._execute("SELECT segment, COUNT(*) FROM input_segments GROUP BY segment").fetchall())  # type: ignore[attr-defined]
            sla_open = store._execute("SELECT COUNT(*) FROM sla_leads WHERE touched_at IS NULL").fetchone()[0]  # type: ignore[attr-defined]
            sla_all = store._execute("SELECT COUNT(*) FROM sla_leads").fetchone()[0]  # type: ignore[attr-defined]
        queue = EventQueue(settings.state_url)
        server = ServerThread(build_app(settings, queue=queue), settings.server, port=0).start()
        try:
            base = f"{server.url}/dashboard"
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
            form = urllib.parse.urlencode({"user": "admin", "password": password, "next": "/dashboard/"}).encode()
            opener.open(base + "/sign-in", data=form).read()
            pages = [
                ("Hot leads, first page", "/"),
                ("Hot leads, page 21", "/?page=20"),
                ("Hot leads, tier P1", "/?tier=P1"),
                ("Hot leads, stage mql", "/?stage=mql"),
                ("Hot leads, one owner", f"/?owner={sample['owner']}"),
                ("Hot leads, owner + tier P2", f"/?owner={sample['owner']}&tier=P2"),
                ("Hot leads, segment nurture", "/?segment=nurture"),
                ("Hot leads, segment hot_not_contacted", "/?segment=hot_not_contacted"),
                ("Hot leads, segment + owner", f"/?segment=nurture&owner={sample['owner']}"),
                ("SLA board", "/sla"),
                ("SLA board, P2 of one owner", f"/sla?tier=P2&owner={sample['owner']}"),
                ("Runs", "/runs"),
                (f"Run with {BIG_RUN_ROWS:,} changes", f"/runs/{sample['big_run']}"),
                ("Run changes, search a contact id", f"/runs/{sample['big_run']}?q={sample['contact']}"),
                ("Contact", f"/contacts/{sample['contact']}"),
                ("Model", "/model"),
            ]
            rows = []
            for name, page in pages:
                median, worst, size = measure(base, opener, page)
                rows.append(f"| {name} | `{page}` | {median:.1f} ms | {worst:.1f} ms | {size // 1024} KiB |")
                print(f"{name:40s} median {median:7.1f} ms  max {worst:7.1f} ms  {size // 1024} KiB")
        finally:
            server.stop()
            queue.close()
    segment_sizes = ", ".join(f"{name} {size:,}" for name, size in sorted(groups.items()))
    body = "\n".join(
        [
            f"`bench/dashboard.py`, {datetime.now(UTC):%Y-%m-%d}, {machine()}; SQLite state database with "
            f"{args.contacts:,} contacts (40 owners; {tiers.get('P1', 0):,} in P1 and {tiers.get('P2', 0):,} in P2, as "
            f"the starter model's recent-activity tiers give them; segments {segment_sizes}; "
            f"{sla_all:,} SLA leads over 40 days, {sla_open:,} of them untouched), 200 runs, one run of "
            f"{BIG_RUN_ROWS:,} changes. "
            f"Each page fetched {REPEATS} times over HTTP on 127.0.0.1, signed in; max leaves out the first (cold) "
            "fetch.",
            "",
            "| Page | Path | Median | Max | Size |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "Each listing reads one index range (the `dashboard` migration: scoring inputs by total, by tier, by "
            "stage, by owner; the `segments` migration: a segment's contacts by score, open SLA leads by time), "
            "then scores the page's 50 rows again from their stored inputs for the grade, reason and SLA due time "
            "(about 10-20 ms of each page). The SLA board's met/missed tables are `sync.sla.report_for` over the "
            "last 30 days' SLA leads, read in full on each view. "
            "A search in a run's changes reads that run's audit rows until it has a page of matches: one that "
            "matches little reads the whole run (100,000 rows here).",
        ]
    )
    if not args.no_results:
        write_section("Dashboard", body)


if __name__ == "__main__":
    main()
