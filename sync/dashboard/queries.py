"""The dashboard's reads from the state database: paged, each answered from an index (migration ``dashboard``).

The store's public API serves the sync; these listings (top contacts within a filter, SLA tiers by owner, a
run's changes matching a search) are the dashboard's own, written in the SQL both databases share and run on
the store's connection.  Nothing here writes, except ``record_request`` (who asked for a run).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync.state import AuditAction, AuditRow, AuditStatus, RunRecord, ScoringInputs, StateStore
from sync.state._sql import _INPUT_COLUMNS, SqlStateStore

MAX_OFFSET = 10_000  # deeper pages would scan; filters narrow the list instead


@dataclass(frozen=True, slots=True)
class LeadFilter:
    owner: str | None = None
    tier: str | None = None
    stage: str | None = None


@dataclass(frozen=True, slots=True)
class OwnerLoad:
    owner_id: str | None
    tier: str
    waiting: int


def _sql(store: StateStore) -> SqlStateStore:
    if not isinstance(store, SqlStateStore):
        raise TypeError(f"the dashboard reads a SQL state store, not {type(store).__name__}")
    return store


def _columns(prefix: str = "") -> str:
    return ", ".join(f"{prefix}{c.strip()}" for c in _INPUT_COLUMNS.split(","))


def hot_leads(
    store: StateStore, crm: str, where: LeadFilter, *, limit: int, offset: int = 0
) -> tuple[list[ScoringInputs], bool]:
    """The highest scores first within the filter; the bool says whether there is a next page."""
    db = _sql(store)
    sql = f"SELECT {_columns()} FROM scoring_inputs WHERE crm = ? AND total IS NOT NULL"
    params: list[Any] = [crm]
    for column, value in (("owner_id", where.owner), ("tier", where.tier), ("stage", where.stage)):
        if value:
            sql += f" AND {column} = ?"
            params.append(value)
    sql += " ORDER BY total DESC, contact_id LIMIT ? OFFSET ?"
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


def sla_load(store: StateStore, crm: str, tiers: Sequence[str]) -> list[OwnerLoad]:
    """How many contacts wait in each SLA tier, by owner (the owner as last read)."""
    if not tiers:
        return []
    db = _sql(store)
    marks = ", ".join("?" * len(tiers))
    rows = db._execute(
        f"SELECT owner_id, tier, COUNT(*) FROM scoring_inputs WHERE crm = ? AND tier IN ({marks}) "
        "GROUP BY tier, owner_id ORDER BY tier, COUNT(*) DESC",
        (crm, *tiers),
    ).fetchall()
    return [OwnerLoad(row[0], row[1], int(row[2])) for row in rows]


def sla_waiting(
    store: StateStore, crm: str, tier: str, owner: str | None, *, limit: int, offset: int = 0
) -> tuple[list[ScoringInputs], bool]:
    """Contacts in one SLA tier (of one owner), longest scored first: the oldest are nearest their due time."""
    db = _sql(store)
    sql = f"SELECT {_columns()} FROM scoring_inputs WHERE crm = ? AND tier = ?"
    params: list[Any] = [crm, tier]
    if owner:
        sql += " AND owner_id = ?"
        params.append(owner)
    rows = db._execute(
        f"{sql} ORDER BY scored_at, contact_id LIMIT ? OFFSET ?", (*params, limit + 1, min(offset, MAX_OFFSET))
    ).fetchall()
    return [db._inputs(row) for row in rows[:limit]], len(rows) > limit


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
