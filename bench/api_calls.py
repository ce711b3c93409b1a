"""API calls leadsync spends per CRM, next to the fewest calls each API allows (CRM_API_NOTES.md section 8).

For each CRM and size: seed the sandbox with N contacts x ~10 activities, create the write-back fields, then
run the real pipeline four times, each from a fresh ``App`` as the CLI would (``leadsync backfill`` / ``sync``):

1. backfill: read every contact and its activities, score, write back what differs;
2. echo sync: the first incremental run lists again the contacts the backfill wrote (every CRM bumps the
   change timestamp on our own writes); it recognises them as echoes and does not read them (target: at most
   the contact listing pages + 2 calls);
3. unchanged sync: nothing changed since (target: at most 2 calls, 0 writes);
4. 1% sync: 1% of the contacts get a new job title in the CRM (the sandbox's ``touch``) first.

Then a daemon runs 10 sync jobs and the sandbox counts its logins (target: one).  Calls are counted by the
sandbox (what the CRM saw), rate limits off.  The minimum of each run is computed from the sandbox's own data:
the contacts the run listed, the activities per object of those it read, the contacts it wrote.  Figures,
never pass/fail.

    .venv/bin/python bench/api_calls.py [--contacts 2000,10000] [--crm hubspot] [--no-write] [--nurture]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import create_writeback_fields, machine, write_section
from connectors.base import CRMAdapter
from connectors.records import Activity
from connectors.registry import crm_info
from connectors.sandbox import Sandbox, SandboxConfig
from connectors.sandbox.app import CRMS
from connectors.sandbox.pipedrive import DEFAULT_TOKEN_COSTS
from connectors.sandbox.salesforce import SANDBOX_CREDENTIALS
from connectors.sandbox.seed import default_now, generate
from sync.app import App
from sync.daemon import Daemon
from sync.demo import sandbox_env_file
from sync.settings import Settings, load_settings
from sync.wiring import build_adapter

LABELS = {name: crm_info(name).label for name in CRMS}
RUNS = ("backfill", "echo sync", "unchanged sync", "1% sync")
DAEMON_JOBS = 10
SYNC_INTERVAL = 15 * 60  # seconds between the runs: the daemon's default sync interval
TOKEN_COSTS = DEFAULT_TOKEN_COSTS  # Pipedrive's x-token-cost per sandbox endpoint, from its published definitions
# the change made to 1% of the contacts before the last run, in each CRM's own field names
TOUCH: dict[str, dict[str, str]] = {
    "hubspot": {"jobtitle": "VP Sales"},
    "salesforce": {"Title": "VP Sales"},
    "pipedrive": {"title": "VP Sales"},
}
HUBSPOT_ENGAGEMENTS = ("emails", "meetings", "calls", "notes")
HUBSPOT_BEHAVIOUR = ("forms.list", "form_submissions.list", "email_events.list", "events.list")
HUBSPOT_BEHAVIOUR_ROW = "behaviour: " + ", ".join(HUBSPOT_BEHAVIOUR)
SALESFORCE_ACTIVITIES = ("Task", "Event", "CampaignMember")
# endpoint rows of each CRM's table: (label, endpoints counted in it); what no row names goes to "other"
ROWS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "hubspot": [
        ("contacts.list", ("contacts.list",)),
        ("contacts.search", ("contacts.search",)),
        ("associations.batch_read", ("associations.batch_read",)),
        *[(f"{t}.batch_read", (f"{t}.batch_read",)) for t in HUBSPOT_ENGAGEMENTS],
        ("contacts.batch_update", ("contacts.batch_update",)),
        (HUBSPOT_BEHAVIOUR_ROW, HUBSPOT_BEHAVIOUR),
    ],
    "salesforce": [
        ("reads: query, queryAll, query_more, composite_read", ("query", "queryAll", "query_more", "composite_read")),
        ("writes: composite.sobjects, composite", ("composite.sobjects", "composite")),
    ],
    "pipedrive": [
        ("persons.list", ("persons.list",)),
        ("activities.list", ("activities.list",)),
        ("persons.update", ("persons.update",)),
        ("personFields.list", ("personFields.list",)),
        ("organizations.list", ("organizations.list",)),
    ],
}


@dataclass
class Minimum:
    """The fewest calls for a run, by table row; Salesforce also packs 5 queries or collections per call."""

    by_row: dict[str, int]
    composite: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_row.values())

    @property
    def composite_total(self) -> int | None:
        return sum(self.composite.values()) if self.composite else None


@dataclass
class RunFigures:
    label: str
    calls: dict[str, int]  # endpoint without the CRM prefix -> calls (all statuses)
    read: int
    written: int
    minimum: Minimum
    seconds: float
    echoes: int = 0  # contacts listed as echoes of leadsync's own writes, not read again
    # Pipedrive: tokens spent at the definition's x-token-cost per operation, all and by the person writes
    tokens: int | None = None
    write_tokens: int | None = None

    @property
    def total(self) -> int:
        return sum(self.calls.values())


class _Recorder:
    """The real adapter, remembering whose activities the run read (to size the minimum from the CRM's data)."""

    def __init__(self, inner: CRMAdapter) -> None:
        self.inner = inner
        self.activity_ids: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def read_activities(self, contact_ids: Sequence[str]) -> Mapping[str, list[Activity]]:
        self.activity_ids.update(contact_ids)
        return self.inner.read_activities(contact_ids)


# -- what the CRM holds: activities per contact, by object ---------------------------------------------------
def activity_counts(sb: Sandbox, crm: str) -> dict[str, Counter[str]]:
    """Contact id -> activities by the object they are read from (HubSpot engagement type, Salesforce sObject)."""
    out: dict[str, Counter[str]] = {}
    with sb.store.read() as conn:
        if crm == "hubspot":
            types = ",".join(f"'{t}'" for t in HUBSPOT_ENGAGEMENTS)
            rows = conn.execute(f"SELECT contact_id, to_type FROM hs_assoc WHERE to_type IN ({types})")
        elif crm == "salesforce":
            rows = conn.execute(
                "SELECT COALESCE(json_extract(data, '$.WhoId'), json_extract(data, '$.LeadId'),"
                " json_extract(data, '$.ContactId')), type FROM sf_record"
                " WHERE type IN ('Task', 'Event', 'CampaignMember') AND deleted = 0"
            )
        else:
            rows = conn.execute("SELECT person_id, 'activities' FROM pd_activities WHERE is_deleted = 0")
        for contact_id, kind in rows:
            if contact_id is not None:
                out.setdefault(str(contact_id), Counter())[str(kind)] += 1
        if crm == "salesforce":  # a converted lead's activities sit on its Contact and are read for the lead
            for lead_id, kind in conn.execute(SF_CONVERTED_ACTIVITIES):
                out.setdefault(str(lead_id), Counter())[f"{kind} (converted)"] += 1
    return out


def hubspot_behaviour_calls(sb: Sandbox, now: datetime, lookback_days: float, contacts_read: int) -> int:
    """The fewest calls that read the behaviour of ``contacts_read`` contacts over the lookback window
    (docs/crm-api.md 2.5).  Submissions have no contact filter: every form is paged newest first (50 a call)
    until a page shows one older than the window or the form ends.  Email events (1,000 a call) and page views
    (100 a call, after one probe of the Enterprise-only API) are listed for the window, or read one contact
    at a time (``recipient`` / ``objectId``) when that is fewer."""
    if contacts_read == 0:
        return 0
    start = round(now.timestamp() * 1000 - lookback_days * 86_400_000)
    with sb.store.read() as conn:
        forms = conn.execute("SELECT COUNT(*) FROM hs_forms WHERE archived = 0").fetchone()[0]
        per_form = conn.execute(
            "SELECT SUM(submitted_ms >= ?), SUM(submitted_ms < ?) FROM hs_form_submissions GROUP BY form_id",
            (start, start),
        ).fetchall()
        email_events = conn.execute("SELECT COUNT(*) FROM hs_email_events WHERE created_ms >= ?", (start,)).fetchone()
        page_views = conn.execute("SELECT COUNT(*) FROM hs_web_events WHERE occurred_ms >= ?", (start,)).fetchone()
    calls = max(1, math.ceil(forms / 50))
    for inside, older in per_form:
        calls += inside // 50 + 1 if older else max(1, math.ceil(inside / 50))
    calls += min(max(1, math.ceil(email_events[0] / 1000)), contacts_read)
    hubspot: Any = sb.apis["hubspot"]
    if hubspot.portal_tier == "enterprise":
        calls += 1 + min(max(1, math.ceil(page_views[0] / 100)), contacts_read)
    return calls


# Task/Event by WhoId, CampaignMember by ContactId, on the Contact a lead was converted into: a query of its own
SF_CONVERTED_ACTIVITIES = """
SELECT l.id, a.type FROM sf_record l JOIN sf_record a
  ON a.type IN ('Task', 'Event', 'CampaignMember') AND a.deleted = 0
 AND json_extract(a.data, CASE a.type WHEN 'CampaignMember' THEN '$.ContactId' ELSE '$.WhoId' END)
     = json_extract(l.data, '$.ConvertedContactId')
WHERE l.type = 'Lead' AND l.deleted = 0 AND json_extract(l.data, '$.IsConverted')
"""


def minimum(
    crm: str,
    kind: str,
    read: int,
    acts: Counter[str],
    per_contact: Sequence[int],
    total_acts: int,
    written: int,
    listed: int | None = None,
    behaviour: int = 0,
) -> Minimum:
    """The fewest calls for a run that lists ``listed`` contacts (default ``read``), reads ``read`` of them
    (``acts`` activities by object; ``per_contact``: each one's count) and writes ``written``, per
    CRM_API_NOTES.md section 8.  The echo sync's minimum (``kind`` "echo") is its contact listing pages alone:
    nothing it lists needs reading, and the activity-change feed is left out.  ``behaviour``: HubSpot's
    behaviour reads (``hubspot_behaviour_calls``)."""
    backfill = kind == "backfill"
    echo = kind == "echo"
    listed = read if listed is None else listed
    if crm == "hubspot":
        # a backfill lists 100 per call; a sync searches 200 per call (one call to learn nothing changed)
        rows = {"contacts.list": math.ceil(listed / 100)}
        if not backfill:
            rows = {"contacts.search": max(1, math.ceil(listed / 200))}
        rows["associations.batch_read"] = len(HUBSPOT_ENGAGEMENTS) * math.ceil(read / 1000)
        rows |= {f"{t}.batch_read": math.ceil(acts[t] / 100) for t in HUBSPOT_ENGAGEMENTS}
        rows["contacts.batch_update"] = math.ceil(written / 100)
        rows[HUBSPOT_BEHAVIOUR_ROW] = behaviour
        return Minimum(rows)
    if crm == "salesforce":
        contacts = max(1, math.ceil(listed / 2000))
        # a converted lead's activities are read from its Contact, by queries of their own
        batches = sum(
            math.ceil(acts[o] / 2000) + math.ceil(acts[f"{o} (converted)"] / 2000) for o in SALESFORCE_ACTIVITIES
        )
        # Task, Event, CampaignMember changed since
        changes = 0 if backfill or echo else len(SALESFORCE_ACTIVITIES)
        reads, writes = ROWS["salesforce"][0][0], ROWS["salesforce"][1][0]
        simple = {reads: contacts + batches + changes, writes: math.ceil(written / 200)}
        packed = {reads: contacts + math.ceil((batches + changes) / 5), writes: math.ceil(written / 1000)}
        return Minimum(simple, packed)
    stream = math.ceil(total_acts / 500)
    # a sync: each person's own list or one stream of every activity, whichever is fewer, + the changes feed
    own_lists = sum(max(1, math.ceil(n / 500)) for n in per_contact)
    activities = stream if backfill else min(own_lists, stream) + (0 if echo else 1)
    rows = {
        "persons.list": max(1, math.ceil(listed / 500)),
        "activities.list": activities,
        "persons.update": written,
    }
    return Minimum(rows)


# -- one CRM --------------------------------------------------------------------------------------------------
def bench_crm(crm: str, contacts: int, now: datetime) -> tuple[list[RunFigures], int]:
    dataset = generate(contacts, seed=7, now=now)
    # rate limits off; Pipedrive still sends its burst headers, which pace the client: a huge burst and budget
    limits = {"pipedrive": {"burst": 10**9, "daily_budget": 10**12}}
    config = SandboxConfig(rate_limits=False, crms=(crm,), limits=limits)
    with tempfile.TemporaryDirectory(prefix="leadsync-bench-") as tmp, Sandbox(config) as sb:
        ids = sb.load_into(crm, dataset)
        counts = activity_counts(sb, crm)
        total_acts = sum(sum(c.values()) for c in counts.values())
        settings = load_settings(sandbox_env_file(sb, crm, Path(tmp)))
        create_writeback_fields(settings, sb)
        runs: list[RunFigures] = []
        for label in RUNS:
            if label == "1% sync":
                api: Any = sb.apis[crm]
                for contact_id in list(ids.values())[::100]:
                    api.touch(contact_id, **TOUCH[crm])
            if label != "backfill":
                sb.clock.advance(SYNC_INTERVAL)  # the next scheduled sync, past HubSpot's default search lag (60 s)
            runs.append(one_run(sb, crm, settings, label, counts, total_acts))
            print(describe_run(crm, runs[-1]), flush=True)
        logins = daemon_logins(sb, crm, Path(tmp))
        print(f"{crm} daemon, {DAEMON_JOBS} sync jobs: {logins} login(s)", flush=True)
    return runs, logins


def daemon_logins(sb: Sandbox, crm: str, workdir: Path) -> int:
    """Token requests of a daemon running ``DAEMON_JOBS`` syncs (Salesforce through its password flow; the
    other CRMs' sandbox set-ups use static tokens, which never log in)."""
    extra: list[str] = []
    if crm == "salesforce":
        creds = {k: v for k, v in SANDBOX_CREDENTIALS.items() if k != "session_id"}
        extra = [
            "LEADSYNC_SALESFORCE__AUTH=password",
            *[f"LEADSYNC_SALESFORCE__{k.upper()}={v}" for k, v in creds.items()],
        ]
    settings = load_settings(sandbox_env_file(sb, crm, workdir, extra=extra))  # the runs' state: syncs stay cheap
    daemon = Daemon(settings, app_factory=lambda: App(settings), calibrate=None)
    before = sb.counters.snapshot()
    try:
        for _ in range(DAEMON_JOBS):
            daemon.run_job("sync")
    finally:
        daemon.shutdown()
    delta = sb.counters.delta(before)
    return sum(sum(per.values()) for endpoint, per in delta.items() if "oauth" in endpoint and "token" in endpoint)


def one_run(
    sb: Sandbox, crm: str, settings: Settings, label: str, counts: Mapping[str, Counter[str]], total_acts: int
) -> RunFigures:
    recorders: list[_Recorder] = []

    def factory(s: Settings, read_fields: list[str]) -> CRMAdapter:
        # the CRM's own clock for the adapter (HubSpot's search lag is measured on it), and the field cache a
        # default install keeps in the state store
        adapter = build_adapter(s, read_fields, fields_cache=app.fields_cache(), now=sb.clock.now)
        recorders.append(_Recorder(adapter))
        return cast(CRMAdapter, recorders[-1])

    kind = "backfill" if label == "backfill" else "sync"
    before = sb.counters.snapshot()
    started = time.perf_counter()
    app = App(settings, adapter_factory=factory)
    try:
        summary = app.run(kind)
    finally:
        app.close()
    seconds = time.perf_counter() - started
    if summary.error:
        print(f"{crm} {label}: {summary.status}: {summary.error}", file=sys.stderr)
    calls: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for endpoint, statuses in sb.counters.delta(before).items():
        tokens[endpoint] += sum(statuses.values()) * TOKEN_COSTS.get(endpoint, 0)
        # Pipedrive's counters name the API version (persons.v2.list): the table does not
        name = endpoint.removeprefix(f"{crm}.").replace(".v1.", ".").replace(".v2.", ".")
        calls[name] += sum(statuses.values())
    read_ids = recorders[0].activity_ids if recorders else set()
    acts: Counter[str] = Counter()
    for cid in read_ids:
        acts.update(counts.get(cid, Counter()))
    per_contact = [sum(counts.get(cid, Counter()).values()) for cid in read_ids]
    written = summary.counts["written"]
    listed = summary.counts["read"] + summary.counts["echoes"]
    need_kind = "echo" if label == "echo sync" else kind
    behaviour = 0
    if crm == "hubspot":
        lookback = settings.hubspot.behaviour_lookback_days
        behaviour = hubspot_behaviour_calls(sb, sb.clock.now(), lookback, len(read_ids))
    need = minimum(crm, need_kind, summary.counts["read"], acts, per_contact, total_acts, written, listed, behaviour)
    figures = RunFigures(label, dict(calls), summary.counts["read"], written, need, seconds, summary.counts["echoes"])
    if crm == "pipedrive":
        figures.tokens, figures.write_tokens = sum(tokens.values()), tokens["pipedrive.persons.v2.update"]
    return figures


NOTES = (
    "HubSpot's behaviour (form submissions, marketing email events, page views) has no per-contact read for "
    "submissions, so a run that reads activities pages every form over the lookback window (newest first, "
    "stopping at the window) and lists the window's email events and page views, or reads those per contact "
    "when fewer calls do: that is counted in its minimum. "
    "Outside the minimum: HubSpot's one `contacts.search` in a backfill counts the contacts for the progress "
    "bar; Pipedrive reads `personFields` once per run (the custom fields' hash keys) and `organizations` for "
    "company names, and a sync's activity-change feed costs one call per CRM (Salesforce: one Composite call of "
    "Task, Event and CampaignMember). The few writes a sync may make beyond the touched contacts are scores that "
    "decayed between the runs (an activity's age crossed a decay step)."
)


# -- output ---------------------------------------------------------------------------------------------------
def table_rows(crm: str, runs: Sequence[RunFigures]) -> list[list[str]]:
    rows = ROWS[crm]
    named = {e for _, eps in rows for e in eps}
    out: list[list[str]] = []
    for label, endpoints in rows:
        cells = []
        for run in runs:
            actual = sum(run.calls.get(e, 0) for e in endpoints)
            need = run.minimum.by_row.get(label, 0)
            packed = run.minimum.composite.get(label)
            cells.append(f"{actual:,} / {need:,}" + (f" ({packed:,})" if packed is not None else ""))
        out.append([f"`{label}`", *cells])
    other: list[Counter[str]] = [Counter({e: n for e, n in run.calls.items() if e not in named}) for run in runs]
    if any(other):
        names = sorted({e for c in other for e in c})
        out.append([f"other: {', '.join(f'`{n}`' for n in names)}", *[f"{sum(c.values()):,} / 0" for c in other]])
    totals = []
    for run in runs:
        need = run.minimum.total
        ratio = f"{run.total / need:.2f}x" if need else "-"
        packed = run.minimum.composite_total
        if packed is not None:
            ratio += f"; {run.total / packed:.2f}x of {packed:,} packed" if packed else ""
        totals.append(f"**{run.total:,}** / {need:,} = {ratio}")
    out.append(["**total**", *totals])
    if crm == "pipedrive":
        out.append(["tokens (x-token-cost): run / per written person", *[_tokens(r) for r in runs]])
    out.append(["contacts read / written / echoes", *[f"{r.read:,} / {r.written:,} / {r.echoes:,}" for r in runs]])
    out.append(["time", *[f"{r.seconds:.1f} s" for r in runs]])
    return out


def describe_run(crm: str, run: RunFigures) -> str:
    calls = ", ".join(f"{e} {n:,}" for e, n in sorted(run.calls.items()))
    need = ", ".join(f"{k} {v:,}" for k, v in run.minimum.by_row.items())
    line = (
        f"{crm} {run.label}: read {run.read:,}, wrote {run.written:,}, {run.total:,} calls in {run.seconds:.1f} s"
        f" [{calls}]; minimum {run.minimum.total:,} [{need}]"
    )
    if run.minimum.composite_total is not None:
        line += f"; packed 5 per Composite call: {run.minimum.composite_total:,}"
    if run.tokens is not None:
        line += f"; {_tokens(run)} tokens (run / per written person)"
    return line


def _tokens(run: RunFigures) -> str:
    """Pipedrive's tokens for a run, and the writes' tokens per person written (the definition's costs)."""
    if run.tokens is None:
        return "-"
    per_person = f"{(run.write_tokens or 0) / run.written:.1f}" if run.written else "-"
    return f"{run.tokens:,} / {per_person}"


Sized = tuple[int, Mapping[str, Sequence[RunFigures]], Mapping[str, int]]  # contacts, runs by CRM, logins by CRM


def section(sizes: Sequence[Sized], header: str) -> str:
    counts = ",".join(str(contacts) for contacts, _, _ in sizes)
    lines = [
        f"`bench/api_calls.py --contacts {counts}`, {datetime.now(UTC):%Y-%m-%d}, {header}; sandbox in-process, "
        "rate limits off. N contacts with about 10 activities each (seed 7). Four runs through the real pipeline "
        "(a fresh `App` each, as the CLI): backfill; the first sync, which lists again what the backfill wrote "
        "(**echo**: recognised as leadsync's own writes and not read again); a sync with nothing changed; a sync "
        "after 1% of the contacts got a new job title. Then a daemon runs 10 sync jobs (Salesforce through the "
        "password flow) and the sandbox counts its logins (OAuth token requests).",
        "",
        "Cells: calls made / the minimum the API allows for what the run read and wrote "
        "(CRM_API_NOTES.md section 8, computed from the sandbox's data: contacts listed, the activities per "
        "object of those read, contacts written); the echo sync's minimum is its contact listing pages alone. "
        "Salesforce's minimum is REST queries of 2,000 + Collections of 200, and in brackets with Composite "
        "packing 5 queries or collections per call. Targets: backfill <= 1.05x the minimum (Salesforce: of the "
        "packed minimum); echo sync <= the listing pages + 2; unchanged sync <= 2 calls and 0 writes; a daemon "
        "running 10 jobs logs in once.",
        "",
    ]
    for contacts, results, logins in sizes:
        lines += [f"### {contacts:,} contacts", ""]
        for crm, runs in results.items():
            lines += [
                f"**{LABELS[crm]}** (daemon, {DAEMON_JOBS} sync jobs: {logins[crm]} login(s))",
                "",
                "| Endpoint | " + " | ".join(RUNS) + " |",
                "|---" * (len(RUNS) + 1) + "|",
            ]
            lines += ["| " + " | ".join(row) + " |" for row in table_rows(crm, runs)]
            lines.append("")
    lines += [NOTES, ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", default="10000", help="contacts to seed; several sizes comma-separated")
    parser.add_argument("--crm", choices=["all", *CRMS], default="all")
    parser.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    parser.add_argument(
        "--nurture", action="store_true", help="also the nurture hand-off to Mailchimp and ActiveCampaign (each size)"
    )
    args = parser.parse_args()
    crms = CRMS if args.crm == "all" else (args.crm,)
    header = machine()
    now = default_now()
    sizes: list[Sized] = []
    for contacts in [int(n) for n in str(args.contacts).split(",")]:
        results: dict[str, list[RunFigures]] = {}
        logins: dict[str, int] = {}
        for crm in crms:
            results[crm], logins[crm] = bench_crm(crm, contacts, now)
            for row in table_rows(crm, results[crm]):
                print("  " + " | ".join(row))
            unchanged = results[crm][RUNS.index("unchanged sync")]
            print(f"  {crm} unchanged sync: {unchanged.total} calls, {unchanged.written} writes (target <= 2, 0)")
        sizes.append((contacts, results, logins))
    if not args.no_write:
        write_section("API calls", section(sizes, header))
        print("wrote the API calls section of bench/RESULTS.md")
    if args.nurture:
        from bench.nurture_calls import hand_off

        for contacts in [int(n) for n in str(args.contacts).split(",")]:
            hand_off(contacts, write=not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
