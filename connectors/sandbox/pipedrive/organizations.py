"""``/v2/organizations``: the companies persons belong to (Pipedrive keeps the company name here)."""

from __future__ import annotations

import sqlite3

from connectors.sandbox.core import Request, Response
from connectors.sandbox.pipedrive.common import insert_one, pick
from connectors.sandbox.pipedrive.errors import ok
from connectors.sandbox.pipedrive.paging import cursor_page, filters
from connectors.sandbox.store import Store


def org_id(db: sqlite3.Connection, name: str, owner_id: int | None, at: int) -> int | None:
    """The organization named ``name``, created (owned by ``owner_id``, at ``at``) if there is none."""
    if not name:
        return None
    if hit := db.execute("SELECT id FROM pd_orgs WHERE name = ?", (name,)).fetchone():
        return int(hit[0])
    return insert_one(db, "pd_orgs", {"name": name, "owner_id": owner_id, "add_time": at, "update_time": at})


class Organizations:
    def __init__(self, store: Store):
        self.store = store

    def v2_list(self, request: Request) -> Response:
        with self.store.read() as db:
            rows, next_cursor = cursor_page(db, request, "pd_orgs", *filters(request, ("owner_id",)))
        extra = {"is_deleted": False, "visible_to": 3, "label_ids": [], "address": None, "custom_fields": {}}
        return ok(
            [pick(r, "id name owner_id", "add_time update_time") | extra for r in rows], {"next_cursor": next_cursor}
        )
