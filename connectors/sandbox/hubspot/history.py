"""Property history: every value a property takes is kept as a version, and ``POST .../batch/read`` with
``propertiesWithHistory`` answers them per object, newest first, as HubSpot's ``ValueWithTimestamp``
(``value``, ``timestamp``, ``sourceType``, ``sourceId``), beside the plain ``properties``.

- ``record`` is called by ``records.patch`` for each value that changes; the first change of a property that
  held a value since the object was created first keeps that value as a version at the creation time
  (source ``IMPORT``), so history reads back what the object held before any change.
- A property never changed since creation answers one version at the creation time.
- More than 50 inputs with ``propertiesWithHistory`` is a 400 ``VALIDATION_ERROR`` (the message HubSpot sends).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot.context import Context, json_body
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.hubspot.model import iso

HISTORY_BATCH_LIMIT = 50

_DDL = """
    CREATE TABLE IF NOT EXISTS hs_history (
        type TEXT NOT NULL, id INTEGER NOT NULL, prop TEXT NOT NULL, seq INTEGER NOT NULL,
        ts_ms INTEGER NOT NULL, value TEXT NOT NULL, source TEXT NOT NULL,
        PRIMARY KEY (type, id, prop, seq)) WITHOUT ROWID
"""


def create_table(conn: Any) -> None:
    conn.execute(_DDL)


def record(
    conn: Any, otype: str, object_id: int, before: Mapping[str, Any], changes: Mapping[str, str | None], now_ms: int
) -> None:
    """Keep a version for each changed property (``None`` or ``""``: cleared, kept as ``""``)."""
    for prop, value in changes.items():
        seq = conn.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM hs_history WHERE type = ? AND id = ? AND prop = ?",
            (otype, object_id, prop),
        ).fetchone()[0]
        if seq == 0 and before.get(prop) not in (None, ""):
            created = conn.execute(
                "SELECT created_ms FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id)
            ).fetchone()[0]
            seq += 1
            conn.execute(
                "INSERT INTO hs_history VALUES (?, ?, ?, ?, ?, ?, 'IMPORT')",
                (otype, object_id, prop, seq, int(created), str(before[prop])),
            )
        conn.execute(
            "INSERT INTO hs_history VALUES (?, ?, ?, ?, ?, ?, 'API')",
            (otype, object_id, prop, seq + 1, now_ms, value or ""),
        )


def _version(value: str, ts_ms: int, source: str) -> dict[str, Any]:
    return {"value": value, "timestamp": iso(ts_ms), "sourceType": source, "sourceId": "leadsync-sandbox"}


class History:
    """``batch/read`` with property history, around the plain ``Batch.read``."""

    def __init__(self, ctx: Context, read: Any):
        self.ctx = ctx
        self.read = read  # Batch.read(otype, request)

    def batch_read(self, otype: str, request: Request) -> Response:
        body = json_body(request)
        names = [str(n) for n in body.get("propertiesWithHistory") or []]
        inputs = body.get("inputs")
        if names and isinstance(inputs, list) and len(inputs) > HISTORY_BATCH_LIMIT:
            raise HubSpotError(
                400,
                f"The maximum number of inputs supported in a batch request for property histories is "
                f"{HISTORY_BATCH_LIMIT}. Please reduce the number of items and try again",
            )
        response: Response = self.read(otype, request)
        if not names or not isinstance(response.body, dict):
            return response
        with self.ctx.store.read() as conn:
            for result in response.body.get("results", []):
                result["propertiesWithHistory"] = self._versions(conn, otype, int(result["id"]), names)
        return response

    @staticmethod
    def _versions(conn: Any, otype: str, object_id: int, names: list[str]) -> dict[str, list[dict[str, Any]]]:
        row = conn.execute("SELECT created_ms, props FROM hs_objects WHERE type = ? AND id = ?", (otype, object_id))
        created_ms, props_text = row.fetchone()
        props = json.loads(props_text)
        out: dict[str, list[dict[str, Any]]] = {}
        for name in dict.fromkeys(names):
            kept = conn.execute(
                "SELECT ts_ms, value, source FROM hs_history WHERE type = ? AND id = ? AND prop = ? ORDER BY seq DESC",
                (otype, object_id, name),
            ).fetchall()
            if kept:
                out[name] = [_version(str(v), int(ts), str(src)) for ts, v, src in kept]
            elif props.get(name) not in (None, ""):
                out[name] = [_version(str(props[name]), int(created_ms), "IMPORT")]
        return out
