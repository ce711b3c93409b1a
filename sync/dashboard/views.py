"""What each page shows, built from the state database and the model file; no CRM call anywhere here.

Each function takes the store (on the dashboard's reader thread) and returns the template's context.  A row's
grade, one-line reason and SLA due time come from scoring its stored inputs again at the time they were
scored, which reproduces the stored result exactly; "if scored now" scores them at ``now``.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from connectors.records import FieldValue
from scoring import Model, ScoreResult, explain, run_examples, score
from scoring.explain import reason_text
from sync import links
from sync.dashboard import queries
from sync.dashboard.charts import score_chart
from sync.history import ChangeRow, contact_label, run_changes, text
from sync.policies import FieldsConfig, Planner, Policies
from sync.settings import Settings
from sync.sla import REPORT_WINDOWS, SlaRow, report_for
from sync.state import AuditAction, AuditStatus, ScoringInputs, SlaLead, StateStore

STAGES = ("lead", "mql", "sql")


@dataclass(frozen=True)
class ModelParts:
    model: Model
    policies: Policies
    fields: FieldsConfig
    source: Path

    def planner(self, crm: str) -> Planner:
        return Planner(crm, self.fields, self.policies, owners=[])

    @property
    def tiers(self) -> list[str]:
        return [tier.tier for tier in self.model.tiers]

    @property
    def segments(self) -> list[str]:
        return list(self.model.segments)


def record_link(settings: Settings, contact_id: str, object_type: str = "contact") -> str | None:
    """The contact's page in the CRM (``sync.links``, as in notifications); None when it cannot be derived.

    ``LEADSYNC_DASHBOARD__RECORD_URL`` (a template with ``{id}``) overrides it.
    """
    template = settings.dashboard.record_url
    if template is not None:
        return template.replace("{id}", quote(contact_id, safe=""))
    return links.record_link(settings, contact_id, object_type) or None


def _lead_row(parts: ModelParts, item: ScoringInputs, owner: str | None, settings: Settings) -> dict[str, Any]:
    result = score(parts.model, item.contact, list(item.activities), item.scored_at)
    email, name = contact_label(item.contact.fields)
    return {
        "id": item.contact_id,
        "name": name or email or item.contact_id,
        "email": email,
        "total": item.total,
        "grade": result.grade,
        "stage": item.stage or result.stage,
        "tier": item.tier or "",
        "owner": owner or "",
        "sla_due_at": result.sla_due_at,
        "reason": explain(result, max_length=140, now=item.scored_at),
        "scored_at": item.scored_at,
        "segments": item.segments,
        "link": record_link(settings, item.contact_id, item.contact.object_type),
    }


def hot_leads(
    store: StateStore, settings: Settings, parts: ModelParts, where: queries.LeadFilter, page: int
) -> dict[str, Any]:
    size = settings.dashboard.page_size
    items, more = queries.hot_leads(store, settings.crm, where, limit=size, offset=page * size)
    owners = queries.owners_of(store, settings.crm, [i.contact_id for i in items])
    return {
        "rows": [_lead_row(parts, item, owners.get(item.contact_id), settings) for item in items],
        "filter": where,
        "tiers": parts.tiers,
        "stages": STAGES,
        "segments": parts.segments,
        "page": page,
        "more": more,
    }


def sla_board(
    store: StateStore,
    settings: Settings,
    tier: str | None,
    owner: str | None,
    page: int,
    now: datetime,
) -> dict[str, Any]:
    """Open P1/P2 leads by owner and due first (from ``sla_leads``), and met/missed over 7 and 30 days."""
    tiers = list(settings.sla.tiers)
    since = now - timedelta(days=max(REPORT_WINDOWS))
    chosen = tier if tier in tiers else None
    size = settings.dashboard.page_size
    leads, more = queries.sla_waiting(
        store, settings.crm, since, tier=chosen, owner=owner, limit=size, offset=page * size
    )
    return {
        "tracked": tiers,
        "load": queries.sla_load(store, settings.crm, since, now),
        "tier": chosen or "",
        "owner": owner or "",
        "no_owner": queries.NO_OWNER,
        "waiting": _waiting_rows(store, settings, leads),
        "page": page,
        "more": more,
        "windows": REPORT_WINDOWS,
        "outcomes": sla_outcomes(store, settings.crm, now),
    }


def _waiting_rows(store: StateStore, settings: Settings, leads: list[SlaLead]) -> list[dict[str, Any]]:
    inputs = store.load_inputs(settings.crm, [lead.contact_id for lead in leads])
    rows = []
    for lead in leads:
        item = inputs.get(lead.contact_id)
        email, name = contact_label(item.contact.fields) if item is not None else ("", "")
        object_type = item.contact.object_type if item is not None else "contact"
        rows.append(
            {
                "id": lead.contact_id,
                "name": name or email or lead.contact_id,
                "email": email,
                "tier": lead.tier,
                "owner": lead.owner_id or "",
                "prioritized_at": lead.prioritized_at,
                "due_at": lead.due_at,
                "escalated_at": lead.escalated_at,
                "total": item.total if item is not None else None,
                "now_tier": item.tier if item is not None else None,
                "link": record_link(settings, lead.contact_id, object_type),
            }
        )
    return rows


def sla_outcomes(store: StateStore, crm: str, now: datetime) -> dict[int, list[SlaRow]]:
    """Met, missed and pending per tier and owner over each report window (``sync.sla.report_for``), with a
    row per tier over all owners (owner ``*``) ahead of that tier's owners."""
    by_window: dict[int, list[SlaRow]] = {days: [] for days in REPORT_WINDOWS}
    for row in report_for(store, crm, now, REPORT_WINDOWS):
        by_window[row.days].append(row)
    out: dict[int, list[SlaRow]] = {}
    for days, rows in by_window.items():
        tiers = sorted({row.tier for row in rows})
        out[days] = []
        for tier in tiers:
            mine = [row for row in rows if row.tier == tier]
            total = SlaRow(
                days,
                tier,
                "*",
                sum(r.met for r in mine),
                sum(r.missed for r in mine),
                sum(r.pending for r in mine),
                sum(r.escalated for r in mine),
            )
            out[days] += [total, *mine]
    return out


def runs(store: StateStore, settings: Settings, before: int | None) -> dict[str, Any]:
    page, older = queries.runs_page(store, settings.crm, before=before, limit=settings.dashboard.page_size)
    return {"runs": page, "older": older, "requested": queries.requests_for(store, [r.id for r in page])}


def run_detail(store: StateStore, settings: Settings, run_id: int, search: str, after: int) -> dict[str, Any] | None:
    run = store.get_run(run_id)
    if run is None or run.crm != settings.crm:
        return None
    audit, next_after = queries.run_changes_page(
        store, run_id, search=search, after=after, limit=settings.dashboard.page_size
    )
    labels = {
        cid: contact_label(i.contact.fields)
        for cid, i in store.load_inputs(settings.crm, [a.contact_id for a in audit]).items()
    }
    return {
        "run": run,
        "changes": [
            {
                "row": a,
                "email": labels.get(a.contact_id, ("", ""))[0],
                "old": text(a.old_value),
                "new": text(a.new_value),
            }
            for a in audit
        ],
        "search": search,
        "after": after,
        "next_after": next_after,
        "requested": queries.requests_for(store, [run_id]).get(run_id),
        "revertable": run.kind != "revert" and not run.dry_run and run.status != "running",
    }


def changes_csv_rows(store: StateStore, settings: Settings, run_id: int, search: str) -> Iterator[ChangeRow] | None:
    run = store.get_run(run_id)
    if run is None or run.crm != settings.crm:
        return None
    needle = search.lower()
    return (row for row in run_changes(store, run) if not needle or needle in " ".join(row.cells()).lower())


def _age(now: datetime, then: datetime) -> str:
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _reasons(result: ScoreResult, now: datetime) -> list[dict[str, Any]]:
    out = []
    for reason in result.reasons:
        dates = [e.occurred_at for e in reason.evidence if e.occurred_at is not None]
        out.append(
            {
                "label": reason.label,
                "rule": reason.rule,
                "points": round(reason.points, 1),
                "text": reason_text(reason, now),
                "age": _age(now, max(dates)) if dates else "",
            }
        )
    return out


def contact(
    store: StateStore, settings: Settings, parts: ModelParts, contact_id: str, now: datetime
) -> dict[str, Any] | None:
    item = store.load_inputs(settings.crm, [contact_id]).get(contact_id)
    history = store.audit_for_contact(settings.crm, contact_id)
    if item is None and not history:
        return None
    planner = parts.planner(settings.crm)
    score_field = planner.read_fields[0] if planner.read_fields else None
    points = [
        (row.at, float(row.new_value))
        for row in history
        if row.field == score_field and row.status is AuditStatus.OK and isinstance(row.new_value, int | float)
    ]
    if item is not None and item.total is not None and (not points or points[-1][1] != item.total):
        points.append((item.scored_at, float(item.total)))  # the last score, also when it was never written
    context: dict[str, Any] = {
        "id": contact_id,
        "chart": score_chart(points),
        "history": history,
        "item": item,
        "link": record_link(settings, contact_id, item.contact.object_type if item is not None else "contact"),
        "segments": item.segments if item is not None else (),
        "texts": {row.id: (text(row.old_value), text(row.new_value)) for row in history},
        "revert_action": AuditAction.REVERT,
    }
    if item is None:
        return context
    then = score(parts.model, item.contact, list(item.activities), item.scored_at)
    current = score(parts.model, item.contact, list(item.activities), now)
    sticky = store.get_assignments(settings.crm, [contact_id]).get(contact_id)
    changes = planner.plan(item.contact, current, sticky_owner=sticky.owner_id if sticky else None)
    email, name = contact_label(item.contact.fields)
    context.update(
        name=name or email or contact_id,
        email=email,
        then=then,
        now_result=current,
        segments_now=current.segments,
        reasons=_reasons(current, now),
        would_change=[{"field": c.field, "old": _show(c.old), "new": _show(c.new), "kind": c.kind} for c in changes],
        owner=sticky.owner_id if sticky else item.contact.fields.get("owner_id"),
    )
    return context


def _show(value: FieldValue) -> str:
    return "(empty)" if value in (None, "") else str(value)


def model_page(settings: Settings, parts: ModelParts, load: Callable[[Path], Model]) -> dict[str, Any]:
    source = parts.source.read_text(encoding="utf-8")
    outcomes = run_examples(parts.model)
    report = latest_calibration(settings)
    diff = ""
    if report and report["proposed"] is not None:
        diff = "".join(
            difflib.unified_diff(
                source.splitlines(keepends=True),
                report["proposed"].read_text(encoding="utf-8").splitlines(keepends=True),
                fromfile=str(parts.source),
                tofile=str(report["proposed"].name),
            )
        )
    return {
        "source": source,
        "model_path": parts.source,
        "version": parts.model.version,
        "examples": [
            {
                "name": o.name,
                "passed": o.passed,
                "diff": o.diff,
                "total": o.result.total,
                "grade": o.result.grade,
                "tier": o.result.tier or "",
            }
            for o in outcomes
        ],
        "report": report,
        "diff": diff,
    }


def latest_calibration(settings: Settings) -> dict[str, Any] | None:
    """The newest calibration report the daemon wrote for this CRM, with its proposed model when there is one."""
    folder = settings.daemon.report_dir
    found = sorted(folder.glob(f"calibration-{settings.crm}-*.json")) if folder.is_dir() else []
    if not found:
        return None
    path = found[-1]
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"path": path, "error": f"cannot read {path.name}: {exc}", "summary": "", "proposed": None}
    proposed = path.with_suffix(".proposed.yaml")
    summary = data.get("summary") if isinstance(data, dict) else None
    return {
        "path": path,
        "error": None,
        "summary": summary if isinstance(summary, str) else json.dumps(summary, indent=2, default=str)[:4000],
        "proposed": proposed if proposed.exists() else None,
    }
