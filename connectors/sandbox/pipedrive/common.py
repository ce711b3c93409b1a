"""What every Pipedrive section shares: the tables, row helpers and Pipedrive's two time formats."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from connectors.sandbox.clock import Clock
from connectors.sandbox.core import BadRequest
from connectors.sandbox.store import run_ddl

SCHEMA = """
CREATE TABLE IF NOT EXISTS pd_users (id INTEGER PRIMARY KEY, name TEXT, email TEXT, active_flag INTEGER,
    is_admin INTEGER, created INTEGER, owner_key TEXT);
CREATE TABLE IF NOT EXISTS pd_orgs (id INTEGER PRIMARY KEY, name TEXT, owner_id INTEGER, add_time INTEGER,
    update_time INTEGER, is_deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS pd_orgs_name ON pd_orgs(name);
CREATE INDEX IF NOT EXISTS pd_orgs_update ON pd_orgs(update_time, id);
CREATE TABLE IF NOT EXISTS pd_person_fields (id INTEGER PRIMARY KEY, key TEXT UNIQUE, name TEXT, field_type TEXT,
    options TEXT, edit_flag INTEGER, order_nr INTEGER, add_time INTEGER, update_time INTEGER);
CREATE TABLE IF NOT EXISTS pd_persons (id INTEGER PRIMARY KEY, name TEXT, first_name TEXT, last_name TEXT,
    emails TEXT, phones TEXT, owner_id INTEGER, org_id INTEGER, label_ids TEXT, visible_to INTEGER,
    add_time INTEGER, update_time INTEGER, custom TEXT, is_deleted INTEGER NOT NULL DEFAULT 0, person_key TEXT,
    marketing_status TEXT);
CREATE INDEX IF NOT EXISTS pd_persons_update ON pd_persons(update_time, id);
CREATE INDEX IF NOT EXISTS pd_persons_add ON pd_persons(add_time, id);
CREATE TABLE IF NOT EXISTS pd_activities (id INTEGER PRIMARY KEY, type TEXT, subject TEXT, owner_id INTEGER,
    person_id INTEGER, org_id INTEGER, deal_id INTEGER, done INTEGER, due_date TEXT, due_time TEXT,
    duration TEXT, add_time INTEGER, update_time INTEGER, marked_as_done_time INTEGER, note TEXT,
    is_deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS pd_activities_update ON pd_activities(update_time, id);
CREATE INDEX IF NOT EXISTS pd_activities_person ON pd_activities(person_id, id);
CREATE TABLE IF NOT EXISTS pd_deals (id INTEGER PRIMARY KEY, title TEXT, owner_id INTEGER, person_id INTEGER,
    org_id INTEGER, value REAL, currency TEXT, status TEXT, lost_reason TEXT, add_time INTEGER,
    update_time INTEGER, won_time INTEGER, lost_time INTEGER, close_time INTEGER,
    is_deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS pd_deals_update ON pd_deals(update_time, id);
CREATE INDEX IF NOT EXISTS pd_deals_person ON pd_deals(person_id, id);
"""


def create_tables(db: sqlite3.Connection) -> None:
    run_ddl(db, SCHEMA)


# -- times ----------------------------------------------------------------------------------------------------
@lru_cache(maxsize=65536)  # listing 100k persons formats the same seconds over and over
def rfc3339(ts: int | None) -> str | None:
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def v1_time(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def parse_rfc3339(value: str, name: str) -> int:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"Invalid {name}: expected RFC3339, e.g. 2025-01-01T10:20:00Z") from exc
    if parsed.tzinfo is None:
        raise BadRequest(f"Invalid {name}: RFC3339 needs a time zone, e.g. 2025-01-01T10:20:00Z")
    return math.floor(parsed.timestamp())


def epoch(dt: datetime) -> int:
    return math.floor((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp())  # naive sample data = UTC


def unix_now(clock: Clock) -> int:
    """The sandbox clock's now, in whole seconds (Pipedrive's granularity)."""
    return math.floor(clock.now().timestamp())


# -- rows -----------------------------------------------------------------------------------------------------
def loads(text: str | None, empty: Any) -> Any:
    """A JSON column's value, or an empty value of ``empty``'s type."""
    return json.loads(text) if text and text not in ("[]", "{}") else type(empty)()


def defined(data: Mapping[str, Any], nullable: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``data`` without the unset values of properties Pipedrive's v2 definition does not mark ``nullable``."""
    return {k: v for k, v in data.items() if v is not None or k in nullable}


def pick(row: sqlite3.Row, keys: str, times: str = "", fmt: Any = rfc3339) -> dict[str, Any]:
    """Columns of ``row`` named in ``keys``, plus time columns in ``times`` formatted by ``fmt``."""
    out = {k: row[k] for k in keys.split()}
    out.update({k: fmt(row[k]) for k in times.split()})
    return out


def insert(db: sqlite3.Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        cols = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
        db.executemany(sql, rows)


def insert_one(db: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> int:
    cols = list(row)
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(':' + c for c in cols)})"
    return int(db.execute(sql, row).lastrowid or 0)


def person_row(db: sqlite3.Connection, person_id: int) -> sqlite3.Row | None:
    found: sqlite3.Row | None = db.execute(
        "SELECT * FROM pd_persons WHERE id = ? AND is_deleted = 0", (person_id,)
    ).fetchone()
    return found
