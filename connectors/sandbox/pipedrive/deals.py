"""``/v2/deals``: the won and lost deals that tell which leads bought."""

from __future__ import annotations

import sqlite3
from typing import Any

from connectors.sandbox.core import BadRequest, Request, Response
from connectors.sandbox.pipedrive.common import pick
from connectors.sandbox.pipedrive.errors import ok
from connectors.sandbox.pipedrive.paging import cursor_page, filters
from connectors.sandbox.store import Store


def deal_row(person: sqlite3.Row, won: bool, amount: float, closed: int, title: str = "") -> dict[str, Any]:
    """A closed deal of ``person`` as a ``pd_deals`` row."""
    return {
        "title": title or f"{person['name']} deal", "owner_id": person["owner_id"], "person_id": person["id"],
        "org_id": person["org_id"], "value": amount, "currency": "USD", "status": "won" if won else "lost",
        "lost_reason": None if won else "No budget", "add_time": closed - 30 * 86400, "update_time": closed,
        "won_time": closed if won else None, "lost_time": None if won else closed, "close_time": closed,
    }  # fmt: skip


class Deals:
    def __init__(self, store: Store):
        self.store = store

    def v2_list(self, request: Request) -> Response:
        where, params = filters(request, ("owner_id", "person_id", "org_id"))
        if status := request.arg("status"):
            statuses = [s.strip() for s in status.split(",") if s.strip()]
            if any(s not in ("open", "won", "lost") for s in statuses):
                raise BadRequest("status must be open, won or lost (comma separated)")
            where.append(f"status IN ({','.join('?' * len(statuses))})")
            params.extend(statuses)
        with self.store.read() as db:
            rows, next_cursor = cursor_page(db, request, "pd_deals", where, params)
        keys, times = "id title owner_id value person_id org_id currency status lost_reason", "add_time update_time"
        extra = {"stage_id": 1, "pipeline_id": 1, "is_archived": False, "is_deleted": False, "label_ids": []}
        data = [
            pick(r, keys, f"{times} won_time lost_time close_time") | extra | {"creator_user_id": r["owner_id"]}
            for r in rows
        ]
        return ok(data, {"next_cursor": next_cursor})
