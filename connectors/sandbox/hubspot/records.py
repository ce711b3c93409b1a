"""The stored CRM objects: tables, ids, merged-id resolution, property patches, associations and the
rendering of a row as HubSpot's ``SimplePublicObject``.  Functions over an open connection, no state."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.hubspot import history
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.hubspot.model import (
    CHANGE_PROP,
    CREATE_PROP,
    DEFAULT_PROPS,
    ENGAGEMENT_TYPES,
    PROP_NAME,
    iso,
)
from connectors.sandbox.store import Change, listening, note_change, run_ddl

_DDL = """
    CREATE TABLE IF NOT EXISTS hs_objects (
        type TEXT NOT NULL, id INTEGER NOT NULL, created_ms INTEGER NOT NULL,
        modified_ms INTEGER NOT NULL, archived INTEGER NOT NULL DEFAULT 0, props TEXT NOT NULL,
        PRIMARY KEY (type, id)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS hs_objects_modified ON hs_objects (type, archived, modified_ms, id);
    CREATE TABLE IF NOT EXISTS hs_merged (
        type TEXT NOT NULL, old_id INTEGER NOT NULL, new_id INTEGER NOT NULL,
        PRIMARY KEY (type, old_id));
    CREATE TABLE IF NOT EXISTS hs_assoc (
        contact_id INTEGER NOT NULL, to_type TEXT NOT NULL, to_id INTEGER NOT NULL,
        PRIMARY KEY (contact_id, to_type, to_id)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS hs_assoc_to ON hs_assoc (to_type, to_id);
    CREATE TABLE IF NOT EXISTS hs_owners (
        id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, email TEXT NOT NULL,
        first_name TEXT NOT NULL, last_name TEXT NOT NULL, archived INTEGER NOT NULL,
        teams TEXT NOT NULL, created_ms INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS hs_properties (
        type TEXT NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,
        PRIMARY KEY (type, name));
    CREATE TABLE IF NOT EXISTS hs_property_groups (
        type TEXT NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, display_order INTEGER NOT NULL,
        PRIMARY KEY (type, name));
    CREATE TABLE IF NOT EXISTS hs_seq (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS hs_unindexed (
        type TEXT NOT NULL, id INTEGER NOT NULL, visible_ms INTEGER NOT NULL,
        PRIMARY KEY (type, id)) WITHOUT ROWID;
"""


def create_tables(conn: Any) -> None:
    run_ddl(conn, _DDL)
    history.create_table(conn)
    conn.execute("INSERT OR IGNORE INTO hs_seq VALUES ('object', 100000), ('owner', 7000000), ('index_delay_ms', 0)")


def index_delay_ms(conn: Any) -> int:
    return int(conn.execute("SELECT value FROM hs_seq WHERE name = 'index_delay_ms'").fetchone()[0])


def set_index_delay_ms(conn: Any, delay_ms: int) -> None:
    conn.execute("UPDATE hs_seq SET value = ? WHERE name = 'index_delay_ms'", (delay_ms,))


def mark_changed(conn: Any, otype: str, object_id: int, now_ms: int) -> None:
    """A change search sees only once the index delay in force when it was made has passed."""
    delay = index_delay_ms(conn)
    if delay > 0:
        conn.execute("INSERT OR REPLACE INTO hs_unindexed VALUES (?, ?, ?)", (otype, object_id, now_ms + delay))


def next_ids(conn: Any, n: int, seq: str = "object") -> range:
    start = conn.execute("SELECT value FROM hs_seq WHERE name = ?", (seq,)).fetchone()[0] + 1
    conn.execute("UPDATE hs_seq SET value = ? WHERE name = ?", (start + n - 1, seq))
    return range(start, start + n)


def resolve(conn: Any, otype: str, object_id: int) -> int | None:
    """The id an object lives under now: itself, the record it was merged into, or None."""
    row = conn.execute("SELECT id FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id)).fetchone()
    if row is not None:
        return int(row[0])
    merged = conn.execute("SELECT new_id FROM hs_merged WHERE type = ? AND old_id = ?", (otype, object_id)).fetchone()
    return int(merged[0]) if merged is not None else None


def fetch(conn: Any, otype: str, object_id: int) -> Any:
    return conn.execute("SELECT * FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id)).fetchone()


def find_by_property(conn: Any, otype: str, prop: str, value: str) -> int | None:
    if not PROP_NAME.match(prop):
        raise HubSpotError(400, f"Invalid idProperty {prop!r}.")
    row = conn.execute(
        f"SELECT id FROM hs_objects WHERE type = ? AND archived = 0 "
        f"AND lower(json_extract(props, '$.\"{prop}\"')) = lower(?) ORDER BY id LIMIT 1",
        (otype, value),
    ).fetchone()
    return None if row is None else int(row[0])


def props_of(otype: str, row: Any) -> dict[str, Any]:
    props: dict[str, Any] = json.loads(row["props"])
    props[CHANGE_PROP[otype]] = iso(row["modified_ms"])
    props[CREATE_PROP[otype]] = iso(row["created_ms"])
    props["hs_object_id"] = str(row["id"])
    return props


def render(otype: str, row: Any, wanted: Sequence[str] | None) -> dict[str, Any]:
    props = props_of(otype, row)
    names = list(DEFAULT_PROPS[otype]) if not wanted else list(dict.fromkeys(wanted))
    out: dict[str, Any] = {
        "id": str(row["id"]),
        "properties": {name: props.get(name) for name in names},
        "createdAt": iso(row["created_ms"]),
        "updatedAt": iso(row["modified_ms"]),
        "archived": bool(row["archived"]),
    }
    if row["archived"]:
        out["archivedAt"] = iso(row["modified_ms"])
    return out


def patch(conn: Any, otype: str, object_id: int, updates: Mapping[str, str | None], now_ms: int) -> bool:
    """Apply property values (``""``/None clears); bump the change timestamp when something changed."""
    row = conn.execute("SELECT props FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id)).fetchone()
    if row is None:
        return False
    props = json.loads(row[0])
    before = dict(props)
    changed = False
    for key, value in updates.items():
        if value in (None, ""):
            changed |= props.pop(key, None) is not None
        elif props.get(key) != value:
            props[key] = value
            changed = True
    if changed:
        history.record(
            conn, otype, object_id, before, {k: props.get(k) for k in updates if before.get(k) != props.get(k)}, now_ms
        )
        conn.execute(
            "UPDATE hs_objects SET props = ?, modified_ms = ? WHERE type = ? AND id = ?",
            (json.dumps(props), now_ms, otype, object_id),
        )
        mark_changed(conn, otype, object_id, now_ms)
        if otype == "contacts" and listening(conn):
            names = [k for k in updates if before.get(k) != props.get(k)]
            change = Change(
                "hubspot",
                "change",
                otype,
                str(object_id),
                datetime.fromtimestamp(now_ms / 1000, UTC),
                {k: props.get(k) for k in names},
                {k: before.get(k) for k in names},
            )
            note_change(conn, change)
    return changed


def associate(conn: Any, contact_id: int, otype: str, object_id: int, now_ms: int) -> None:
    conn.execute("INSERT OR IGNORE INTO hs_assoc VALUES (?, ?, ?)", (contact_id, otype, object_id))
    if otype not in ENGAGEMENT_TYPES:
        return
    # An engagement on a contact updates its activity rollups, hence its lastmodifieddate.
    updates = {"notes_last_updated": iso(now_ms)}
    if otype in ("emails", "meetings", "calls"):  # sales activities
        updates["hs_last_sales_activity_timestamp"] = iso(now_ms)
    patch(conn, "contacts", contact_id, updates, now_ms)
