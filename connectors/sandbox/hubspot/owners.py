"""``GET /crm/v3/owners``: the account's users that records can be assigned to."""

from __future__ import annotations

import json
from typing import Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot.context import Context, int_id, next_link
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.hubspot.model import iso


def _owner(row: Any) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "email": row["email"],
        "firstName": row["first_name"],
        "lastName": row["last_name"],
        "userId": row["user_id"],
        "userIdIncludingInactive": row["user_id"],
        "type": "PERSON",
        "createdAt": iso(row["created_ms"]),
        "updatedAt": iso(row["created_ms"]),
        "archived": bool(row["archived"]),
        "teams": json.loads(row["teams"]),
    }


class Owners:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def page(self, request: Request) -> Response:
        limit = int(request.arg("limit") or 100)
        if not 1 <= limit <= 500:
            raise HubSpotError(400, f"limit must be between 1 and 500, got {limit}.")
        after = int_id(request.arg("after") or "0") or 0
        archived = (request.arg("archived") or "false").lower() == "true"
        email = request.arg("email")
        sql = "SELECT * FROM hs_owners WHERE archived = ? AND id >= ?"
        params: list[Any] = [int(archived), after]
        if email:
            sql += " AND lower(email) = lower(?)"
            params.append(email)
        with self.ctx.store.read() as conn:
            rows = conn.execute(sql + " ORDER BY id LIMIT ?", [*params, limit + 1]).fetchall()
        body: dict[str, Any] = {"results": [_owner(r) for r in rows[:limit]]}
        if len(rows) > limit:
            body["paging"] = next_link(self.ctx.base_url(), request, str(rows[limit]["id"]))
        return Response(200, body)
