"""``/v1/users``: the company's users, who own persons, activities and deals."""

from __future__ import annotations

from connectors.sandbox.core import Request, Response
from connectors.sandbox.pipedrive.common import pick, v1_time
from connectors.sandbox.pipedrive.errors import ok
from connectors.sandbox.store import Store


class Users:
    def __init__(self, store: Store):
        self.store = store

    def v1_list(self, request: Request) -> Response:
        with self.store.read() as db:
            rows = list(db.execute("SELECT * FROM pd_users ORDER BY id"))
        you = rows[0]["id"] if rows else None  # the api_token belongs to the first user
        return ok(
            [
                pick(r, "id name email", "created", v1_time)
                | {"modified": v1_time(r["created"]), "active_flag": bool(r["active_flag"]), "activated": True}
                | {"is_admin": int(r["is_admin"]), "is_you": r["id"] == you, "default_currency": "USD"}
                | {"locale": "en_US", "timezone_name": "UTC", "role_id": 1, "access": []}
                for r in rows
            ]
        )
