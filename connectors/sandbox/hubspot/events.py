"""Event analytics: ``GET /events/v3/events`` (docs/crm-api/hubspot.md §2.5), served only to an Enterprise portal.

Parameters: ``objectType`` (``contact`` or ``0-1``), ``objectId`` (needs ``objectType``), ``eventType``,
``occurredAfter`` / ``occurredBefore`` (ISO 8601, exclusive), ``after`` / ``before`` (paging tokens),
``limit``, ``sort`` (``ASCENDING`` / ``DESCENDING`` on ``occurredAt``), ``id``.  Answer ``{results:
[ExternalUnifiedEvent], paging: {next: {after, link}}}``; a page view is ``eventType`` ``e_visited_page`` with
``hs_url``, ``hs_title``, ``hs_referrer`` properties.

The portal's tier is ``sandbox.config.limits["hubspot"]["portal_tier"]`` (``free``, ``starter``,
``professional``, ``enterprise``; default ``enterprise``) or ``HubSpotApi.portal_tier``.  Assumptions where
HubSpot documents nothing: below Enterprise the endpoint answers 403 (category ``FORBIDDEN``, a message naming
the tier); ``limit`` defaults to 100 and takes at most 100 (400 above); the default sort is DESCENDING.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot.context import Context, next_link, position_token, read_position
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.hubspot.model import iso, parse_ms
from connectors.sandbox.store import run_ddl

EVENTS_PAGE_MAX = 100
PAGE_VIEW = "e_visited_page"
TIERS = ("free", "starter", "professional", "enterprise")

_DDL = """
    CREATE TABLE IF NOT EXISTS hs_web_events (
        id TEXT NOT NULL, object_id INTEGER NOT NULL, event_type TEXT NOT NULL, occurred_ms INTEGER NOT NULL,
        properties TEXT NOT NULL,
        PRIMARY KEY (occurred_ms, id)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS hs_web_events_object ON hs_web_events (object_id, occurred_ms)
"""


def create_tables(conn: Any) -> None:
    run_ddl(conn, _DDL)


class WebEvents:
    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._tier: str | None = None

    @property
    def tier(self) -> str:
        tier = self._tier or str(self.ctx.sandbox.config.limits.get("hubspot", {}).get("portal_tier", "enterprise"))
        return tier.lower()

    @tier.setter
    def tier(self, value: str) -> None:
        if value.lower() not in TIERS:
            raise ValueError(f"portal tier must be one of {', '.join(TIERS)}, got {value!r}")
        self._tier = value.lower()

    def events_page(self, request: Request) -> Response:
        if self.tier != "enterprise":
            raise HubSpotError(
                403,
                f"The event analytics API needs an Enterprise subscription; this portal is {self.tier.title()}.",
                "FORBIDDEN",
            )
        raw_limit = request.arg("limit") or "100"
        limit = int(raw_limit) if raw_limit.isdigit() else 0
        if not 1 <= limit <= EVENTS_PAGE_MAX:
            raise HubSpotError(400, f"limit must be between 1 and {EVENTS_PAGE_MAX}, got {raw_limit}.")
        object_type = (request.arg("objectType") or "").lower()
        object_id = request.arg("objectId")
        if object_id and not object_type:
            raise HubSpotError(400, "objectId needs objectType.")
        if object_type and object_type not in ("contact", "contacts", "0-1"):
            return Response(200, {"results": []})  # the sandbox records events on contacts only
        sort = (request.arg("sort") or "DESCENDING").upper()
        if sort not in ("ASCENDING", "DESCENDING"):
            raise HubSpotError(400, f"sort must be ASCENDING or DESCENDING, got {sort!r}.")
        sql = "SELECT * FROM hs_web_events WHERE 1 = 1"
        params: list[Any] = []
        if object_id:
            if not object_id.isdigit():
                raise HubSpotError(400, f"objectId must be a number, got {object_id!r}.")
            sql += " AND object_id = ?"
            params.append(int(object_id))
        if request.arg("eventType"):
            sql += " AND event_type = ?"
            params.append(request.arg("eventType"))
        ids = [i for v in request.query.get("id", []) for i in v.split(",") if i]
        if ids:
            sql += f" AND id IN ({', '.join('?' for _ in ids)})"
            params += ids
        for name, op in (("occurredAfter", ">"), ("occurredBefore", "<")):
            value = request.arg(name)
            if value:
                sql += f" AND occurred_ms {op} ?"
                params.append(parse_ms(value))
        after = request.arg("after")
        if after:
            ms, eid = read_position(after, f"Invalid paging cursor after={after!r}.")
            cmp = ">" if sort == "ASCENDING" else "<"
            sql += f" AND (occurred_ms {cmp} ? OR (occurred_ms = ? AND id {cmp} ?))"
            params += [ms, ms, eid]
        direction = "ASC" if sort == "ASCENDING" else "DESC"
        with self.ctx.store.read() as conn:
            rows = conn.execute(
                sql + f" ORDER BY occurred_ms {direction}, id {direction} LIMIT ?", [*params, limit + 1]
            ).fetchall()
        page = rows[:limit]
        body: dict[str, Any] = {"results": [self._event(r) for r in page]}
        if len(rows) > limit:
            last = page[-1]
            body["paging"] = next_link(self.ctx.base_url(), request, position_token(last["occurred_ms"], last["id"]))
        return Response(200, body)

    @staticmethod
    def _event(row: Any) -> dict[str, Any]:
        return {
            "objectType": "CONTACT",
            "objectId": str(row["object_id"]),
            "eventType": row["event_type"],
            "occurredAt": iso(row["occurred_ms"]),
            "id": row["id"],
            "properties": json.loads(row["properties"]),
        }

    # -- loading and test helpers ----------------------------------------------------------------------------
    @staticmethod
    def event_row(
        contact_id: int, event_type: str, occurred_ms: int, properties: Mapping[str, str], seq: int
    ) -> tuple[str, int, str, int, str]:
        eid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"leadsync-sandbox-web-event:{contact_id}:{occurred_ms}:{seq}"))
        return (eid, contact_id, event_type, occurred_ms, json.dumps(dict(properties)))

    @staticmethod
    def insert(conn: Any, rows: Sequence[tuple[str, int, str, int, str]]) -> None:
        conn.executemany("INSERT OR IGNORE INTO hs_web_events VALUES (?, ?, ?, ?, ?)", rows)
