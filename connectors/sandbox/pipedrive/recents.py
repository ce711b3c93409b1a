"""``GET /v1/recents``: every person, activity, deal, organization or user changed after a timestamp, in one list.

As Pipedrive's v1 definition has it: ``since_timestamp`` (UTC, ``YYYY-MM-DD HH:MM:SS``, required), ``items``
(item types, comma-separated here), ``start``/``limit`` offset paging, and items ``{item, id, data}`` with
``data`` in the v1 shape (v1 times).  "After" is taken as strictly after (the vendor does not say), oldest
change first; deleted records are left out, as the sandbox's lists do.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

from connectors.sandbox.core import BadRequest, Request, Response
from connectors.sandbox.pipedrive.common import loads, pick, v1_time
from connectors.sandbox.pipedrive.errors import ok
from connectors.sandbox.pipedrive.paging import pagination, start_limit
from connectors.sandbox.store import Store

ITEM_TYPES = (
    "activity", "activityType", "deal", "file", "filter", "note", "person", "organization", "pipeline", "product",
    "stage", "user",
)  # fmt: skip


def v1_person(r: sqlite3.Row) -> dict[str, Any]:
    data = pick(r, "id name first_name last_name org_id visible_to", "add_time update_time", v1_time)
    data |= {"owner_id": r["owner_id"], "active_flag": not r["is_deleted"]}
    if data.get("visible_to") is not None:
        data["visible_to"] = str(data["visible_to"])  # a string in v1 (v2 made it a number)
    data |= {"email": loads(r["emails"], []), "phone": loads(r["phones"], [])}
    return data | loads(r["custom"], {})  # v1 puts custom fields at the top level, keyed by field key


def _activity(r: sqlite3.Row) -> dict[str, Any]:
    data = pick(r, "id subject type deal_id person_id org_id due_date due_time duration note", "", v1_time)
    data |= {k: v1_time(r[k]) for k in ("add_time", "update_time", "marked_as_done_time")}
    data |= {"user_id": r["owner_id"], "done": bool(r["done"]), "active_flag": not r["is_deleted"]}
    return data | {"participants": [{"person_id": r["person_id"], "primary_flag": True}] if r["person_id"] else []}


def _deal(r: sqlite3.Row) -> dict[str, Any]:
    data = pick(r, "id title person_id org_id value currency status", "add_time update_time", v1_time)
    return data | {"user_id": r["owner_id"], "active": r["status"] == "open", "deleted": bool(r["is_deleted"])}


def _organization(r: sqlite3.Row) -> dict[str, Any]:
    return pick(r, "id name owner_id", "add_time update_time", v1_time) | {"active_flag": not r["is_deleted"]}


# item type -> (table, v1 rendering); the other item types have nothing the sandbox stores, so never change
SOURCES = {
    "person": ("pd_persons", v1_person),
    "activity": ("pd_activities", _activity),
    "deal": ("pd_deals", _deal),
    "organization": ("pd_orgs", _organization),
}


def _since(raw: str | None) -> int:
    if not raw:
        raise BadRequest("since_timestamp is required")
    try:
        parsed = datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError as exc:
        raise BadRequest("since_timestamp must be in the format YYYY-MM-DD HH:MM:SS") from exc
    return int(parsed.timestamp())


def _items(raw: str | None) -> list[str]:
    wanted = [v.strip() for v in (raw or "").split(",") if v.strip()] or list(ITEM_TYPES)
    if unknown := [v for v in wanted if v not in ITEM_TYPES]:
        raise BadRequest(f"items: unknown item type {unknown[0]!r}")
    return wanted


class Recents:
    def __init__(self, store: Store):
        self.store = store

    def v1_list(self, request: Request) -> Response:
        since, wanted = _since(request.arg("since_timestamp")), _items(request.arg("items"))
        start, limit = start_limit(request)
        parts = [(kind, *SOURCES[kind]) for kind in wanted if kind in SOURCES]
        union = " UNION ALL ".join(
            f"SELECT '{kind}' AS item, id, update_time FROM {table} WHERE is_deleted = 0 AND update_time > ?"
            for kind, table, _ in parts
        )
        if not union:
            return ok(
                [], {"since_timestamp": v1_time(since), "last_timestamp_on_page": None} | pagination(0, limit, False)
            )
        with self.store.read() as db:
            sql = f"SELECT * FROM ({union}) ORDER BY update_time, item, id LIMIT ? OFFSET ?"
            keys = list(db.execute(sql, [since] * len(parts) + [limit + 1, start]))
            render = {kind: (table, fn) for kind, table, fn in parts}
            page = []
            for key in keys[:limit]:
                table, fn = render[key["item"]]
                row = db.execute(f"SELECT * FROM {table} WHERE id = ?", (key["id"],)).fetchone()
                page.append({"item": key["item"], "id": key["id"], "data": fn(row)})
        last = v1_time(keys[:limit][-1]["update_time"]) if keys else None
        extra = {"since_timestamp": v1_time(since), "last_timestamp_on_page": last}
        return ok(page, extra | pagination(start, limit, len(keys) > limit))
