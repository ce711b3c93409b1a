"""The dashboard's reads from the state database: paged, each answered from an index (migrations ``dashboard``
and ``segments``).

The store's public API serves the sync; these listings (top contacts within a filter or a segment, SLA leads
waiting by owner, a run's changes matching a search) are the dashboard's own, written in the SQL both
databases share and run on the store's connection.  Nothing here writes, except ``record_request`` (who
asked for a run).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.state import AuditAction, AuditRow, AuditStatus, RunRecord, ScoringInputs, SlaLead, StateStore
from sync.state._sql import _INPUT_COLUMNS, SqlStateStore
from sync.state._sql_sla import _SLA_COLUMNS

MAX_OFFSET = 10_000  # deeper pages would scan; filters narrow the list instead
NO_OWNER = "(none)"  # the owner filter's value for leads without an owner


@dataclass(frozen=True, slots=True)
class LeadFilter:
    owner: str | None = None
    tier: str | None = None
    stage: str | None = None
    segment: str | None = None


@dataclass(frozen=True, slots=True)
class OwnerLoad:
    """An owner's open SLA leads in one tier: how many wait, how many are past due, how many were escalated."""

    owner_id: str | None
    tier: str
    waiting: int
    overdue: int
    escalated: int
    next_due: datetime | None


def _sql(store: StateStore) -> SqlStateStore:
    if not isinstance(store, SqlStateStore):
        raise TypeError(f"the dashboard reads a SQL state store, not {type(store).__name__}")
    return store


def _columns(prefix: str = "") -> str:
    return ", ".join(f"{prefix}{c.strip()}" for c in _INPUT_COLUMNS.split(","))


def hot_leads(
    store: StateStore, crm: str, where: LeadFilter, *, limit: int, offset: int = 0
) -> tuple[list[ScoringInputs], bool]:
    """The highest scores first within the filter; the bool says whether there is a next page.

    A segment alone walks that segment's rows of ``input_segments`` in score order, joining each to its
    inputs.  With another filter too, that filter's index on ``scoring_inputs`` gives the order and each row's
    segment is one primary-key probe (walking the segment and filtering by owner read 40 times the rows).
    """
    db = _sql(store)
    others = where.owner or where.tier or where.stage
    if where.segment and not others:
        sql = (
            f"SELECT {_columns('s.')} FROM input_segments g JOIN scoring_inputs s "
            "ON s.crm = g.crm AND s.contact_id = g.contact_id "
            "WHERE g.crm = ? AND g.segment = ? AND g.total IS NOT NULL"
        )
        params: list[Any] = [crm, where.segment]
        order = "g.total DESC, g.contact_id"
    else:
        sql = f"SELECT {_columns('s.')} FROM scoring_inputs s WHERE s.crm = ? AND s.total IS NOT NULL"
        params = [crm]
        order = "s.total DESC, s.contact_id"
        if where.segment:
            sql += (
                " AND EXISTS (SELECT 1 FROM input_segments g WHERE g.crm = s.crm AND g.contact_id = s.contact_id "
                "AND g.segment = ?)"
            )
            params.append(where.segment)
    for column, value in (("owner_id", where.owner), ("tier", where.tier), ("stage", where.stage)):
        if value:
            sql += f" AND s.{column} = ?"
            params.append(value)
    sql += f" ORDER BY {order} LIMIT ? OFFSET ?"
    rows = db._execute(sql, (*params, limit + 1, min(offset, MAX_OFFSET))).fetchall()
    return [db._inputs(row) for row in rows[:limit]], len(rows) > limit


def owners_of(store: StateStore, crm: str, contact_ids: Sequence[str]) -> dict[str, str]:
    """Each contact's owner: the one leadsync assigned (sticky), else the one the CRM had when last read."""
    db = _sql(store)
    ids = list(contact_ids)
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    rows = db._execute(
        f"SELECT contact_id, owner_id FROM scoring_inputs WHERE crm = ? AND contact_id IN ({marks})", (crm, *ids)
    ).fetchall()
    found = {row[0]: row[1] for row in rows if row[1]}
    found.update({cid: a.owner_id for cid, a in store.get_assignments(crm, ids).items()})
    return found


def sla_load(store: StateStore, crm: str, since: datetime, now: datetime) -> list[OwnerLoad]:
    """Open SLA leads (no touch yet) prioritized since ``since``, by tier and owner."""
    db = _sql(store)
    rows = db._execute(
        "SELECT tier, owner_id, COUNT(*), SUM(CASE WHEN due_at <= ? THEN 1 ELSE 0 END), "
        "SUM(CASE WHEN escalated_at IS NOT NULL THEN 1 ELSE 0 END), MIN(due_at) FROM sla_leads "
        "WHERE crm = ? AND touched_at IS NULL AND prioritized_at >= ? AND due_at IS NOT NULL "
        "GROUP BY tier, owner_id ORDER BY tier, COUNT(*) DESC, owner_id",
        (db._now(now), crm, db._now(since, "since")),
    ).fetchall()
    return [OwnerLoad(row[1], row[0], int(row[2]), int(row[3]), int(row[4]), _ts_or_none(db, row[5])) for row in rows]


def _ts_or_none(db: SqlStateStore, value: Any) -> datetime | None:
    return None if value is None else db._read_ts(value)


def sla_waiting(
    store: StateStore,
    crm: str,
    since: datetime,
    *,
    tier: str | None,
    owner: str | None,
    limit: int,
    offset: int = 0,
) -> tuple[list[SlaLead], bool]:
    """Open SLA leads prioritized since ``since`` (of one tier, of one owner), the earliest due first."""
    db = _sql(store)
    sql = (
        f"SELECT {_SLA_COLUMNS} FROM sla_leads WHERE crm = ? AND touched_at IS NULL AND prioritized_at >= ? "
        "AND due_at IS NOT NULL"
    )
    params: list[Any] = [crm, db._now(since, "since")]
    if tier:
        sql += " AND tier = ?"
        params.append(tier)
    if owner == NO_OWNER:
        sql += " AND owner_id IS NULL"
    elif owner:
        sql += " AND owner_id = ?"
        params.append(owner)
    rows = db._execute(
        f"{sql} ORDER BY due_at, id LIMIT ? OFFSET ?", (*params, limit + 1, min(offset, MAX_OFFSET))
    ).fetchall()
    return [db._sla(row) for row in rows[:limit]], len(rows) > limit


def runs_page(store: StateStore, crm: str, *, before: int | None, limit: int) -> tuple[list[RunRecord], int | None]:
    """Runs newest first, ``limit`` of them older than run ``before``; and the id to page on, if any are left."""
    db = _sql(store)
    sql, params = "SELECT id FROM runs WHERE crm = ?", list[Any]([crm])
    if before is not None:
        sql += " AND id < ?"
        params.append(before)
    ids = [int(row[0]) for row in db._execute(f"{sql} ORDER BY id DESC LIMIT ?", (*params, limit + 1)).fetchall()]
    runs = [run for run in (store.get_run(i) for i in ids[:limit]) if run is not None]
    return runs, (ids[limit - 1] if len(ids) > limit else None)


def requests_for(store: StateStore, run_ids: Sequence[int]) -> dict[int, str]:
    """Who asked for each run, for the runs started from the dashboard."""
    if not run_ids:
        return {}
    db = _sql(store)
    marks = ", ".join("?" * len(run_ids))
    rows = db._execute(
        f"SELECT run_id, requested_by, origin FROM run_requests WHERE run_id IN ({marks})", tuple(run_ids)
    ).fetchall()
    return {int(row[0]): f"{row[1]} ({row[2]})" for row in rows}


def record_request(store: StateStore, run_id: int, requested_by: str, origin: str, now: datetime) -> None:
    db = _sql(store)
    with db.transaction():
        db._execute(
            "INSERT INTO run_requests (run_id, requested_by, origin, at) VALUES (?, ?, ?, ?)",
            (run_id, requested_by, origin, db._now(now)),
        )


def run_changes_page(
    store: StateStore, run_id: int, *, search: str, after: int, limit: int
) -> tuple[list[AuditRow], int | None]:
    """One run's audit rows after audit id ``after``, those whose contact id, field or values contain ``search``."""
    db = _sql(store)
    sql = (
        "SELECT id, run_id, crm, contact_id, field, old_value, new_value, at, action, status FROM audit "
        "WHERE run_id = ? AND id > ?"
    )
    params: list[Any] = [run_id, after]
    if search:
        like = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        sql += (
            " AND (contact_id LIKE ? ESCAPE '\\' OR field LIKE ? ESCAPE '\\' OR old_value LIKE ? ESCAPE '\\'"
            " OR new_value LIKE ? ESCAPE '\\')"
        )
        params += [like] * 4
    rows = db._execute(f"{sql} ORDER BY id LIMIT ?", (*params, limit + 1)).fetchall()
    out = [
        AuditRow(
            id=int(row[0]),
            run_id=int(row[1]),
            crm=row[2],
            contact_id=row[3],
            field=row[4],
            old_value=None if row[5] is None else json.loads(row[5]),
            new_value=None if row[6] is None else json.loads(row[6]),
            at=db._read_ts(row[7]),
            action=AuditAction(row[8]),
            status=AuditStatus(row[9]),
        )
        for row in rows[:limit]
    ]
    return out, (out[-1].id if len(rows) > limit else None)
