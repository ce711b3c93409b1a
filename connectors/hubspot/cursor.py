"""HubSpot cursors: where a read of contacts stands, as the opaque JSON string the sync stores.

``Position`` (incremental): every contact with (lastmodifieddate, id) up to it has been handed out; the next
search asks for what comes after it (``search_filters``).  Its ``checked`` (ms) is how far the search index
has been read after it had matured: every contact changed before it was in a read made at least
``search_lag_seconds + search_overlap_seconds`` after the change, so the overlap never re-reads it.
``Listing`` (backfill): the listing resumes at ``after`` and hands over to incremental reads at ``since`` when
it ends.  ``Archived`` (removals): contacts archived since ``since`` are still to be reported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connectors.errors import FatalApiError
from connectors.hubspot.mapping import contact_key
from connectors.records import Contact

CURSOR_VERSION = 1


@dataclass(frozen=True, slots=True)
class Position:
    """Incremental cursor: every contact with (lastmodifieddate, id) <= (ts, id) has been yielded, and every one
    changed before ``checked`` (ms) will never show in search later (see the module docstring)."""

    ts: int
    id: int
    checked: int = 0

    def json(self) -> str:
        data: dict[str, Any] = {"v": CURSOR_VERSION, "ts": self.ts, "id": str(self.id)}
        if self.checked:
            data["checked"] = self.checked
        return json.dumps(data)


@dataclass(frozen=True, slots=True)
class Listing:
    """Backfill cursor: list from ``after``; hand over to incremental reads at ``since`` when done."""

    after: str | None
    since: int

    def json(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "list_after": self.after, "since": self.since})


@dataclass(frozen=True, slots=True)
class Archived:
    """Removals cursor: every contact archived before ``since`` (ms) has been reported."""

    since: int

    def json(self) -> str:
        return json.dumps({"v": CURSOR_VERSION, "archived_since": self.since})


def parse_removals_cursor(cursor: str) -> Archived:
    try:
        return Archived(int(json.loads(cursor)["archived_since"]))
    except (ValueError, TypeError, KeyError) as exc:
        raise FatalApiError(
            f"The stored HubSpot removals cursor {cursor!r} is not one this adapter wrote.", crm="hubspot"
        ) from exc


def parse_cursor(cursor: str) -> Position | Listing:
    try:
        data = json.loads(cursor)
        if "list_after" in data:
            return Listing(data["list_after"], int(data["since"]))
        return Position(int(data["ts"]), int(data.get("id") or 0), int(data.get("checked") or 0))
    except (ValueError, TypeError, KeyError) as exc:
        raise FatalApiError(
            f"The stored HubSpot cursor {cursor!r} is not one this adapter wrote.", crm="hubspot"
        ) from exc


def search_filters(pos: Position, held: Sequence[Contact] = (), until_ms: int | None = None) -> list[dict[str, Any]]:
    """Search filter groups for "after ``pos``", or, with ``held``, "after the held records' timestamp, or at it
    but not one of them" (the held records are a timestamp group that may continue past the last page);
    with ``until_ms``, only contacts changed before it."""
    groups: list[list[dict[str, Any]]]
    if held:
        ts = str(contact_key(held[0])[0])
        groups = [
            [{"propertyName": "lastmodifieddate", "operator": "GT", "value": ts}],
            [
                {"propertyName": "lastmodifieddate", "operator": "EQ", "value": ts},
                {"propertyName": "hs_object_id", "operator": "NOT_IN", "values": [c.id for c in held]},
            ],
        ]
    elif pos.id == 0:
        groups = [[{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(pos.ts)}]]
    else:
        groups = [
            [{"propertyName": "lastmodifieddate", "operator": "GT", "value": str(pos.ts)}],
            [
                {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(pos.ts)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(pos.id)},
            ],
        ]
    if until_ms is not None:
        bound = {"propertyName": "lastmodifieddate", "operator": "LT", "value": str(until_ms)}
        groups = [[*g, bound] for g in groups]
    return [{"filters": g} for g in groups]
