"""Marketing email events: ``GET /email/public/v1/events`` (Email Analytics API v1, scope ``content``;
docs/crm-api/hubspot.md §2.5).

Parameters: ``startTimestamp`` / ``endTimestamp`` (epoch ms, both inclusive), ``recipient``, ``eventType``
(case-sensitive), ``campaignId``, ``appId``, ``limit`` (default 10, 1..1000 else 400), ``offset`` (an opaque
token from the previous answer, valid for the same query).  Answer ``{events, hasMore, offset}``, events
newest first, each ``{id, created, type, recipient, portalId, appId, appName, emailCampaignId, sentBy, ...}``
plus the type's own fields (CLICK ``url``; BOUNCE ``category``, ``response``; STATUSCHANGE ``source``,
``portalSubscriptionStatus``, ``subscriptions``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot.context import Context, position_token, read_position
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.store import run_ddl

EVENTS_PAGE_MAX = 1000
PORTAL_ID = 62515  # the sandbox portal's id in event bodies
MARKETING_EMAIL_APP = (113, "Batch")  # HubSpot's app id and name for marketing (batch) emails

_DDL = """
    CREATE TABLE IF NOT EXISTS hs_email_events (
        id TEXT NOT NULL, created_ms INTEGER NOT NULL, type TEXT NOT NULL, recipient TEXT NOT NULL,
        campaign_id INTEGER NOT NULL, extra TEXT NOT NULL,
        PRIMARY KEY (created_ms, id)) WITHOUT ROWID;
    CREATE INDEX IF NOT EXISTS hs_email_events_recipient ON hs_email_events (recipient, created_ms)
"""


def create_tables(conn: Any) -> None:
    run_ddl(conn, _DDL)


def _int_arg(request: Request, name: str) -> int | None:
    raw = request.arg(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise HubSpotError(400, f"{name} must be an integer, got {raw!r}.") from exc


class EmailEvents:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def events_page(self, request: Request) -> Response:
        limit = _int_arg(request, "limit") or 10
        if not 1 <= limit <= EVENTS_PAGE_MAX:
            raise HubSpotError(400, f"limit must be between 1 and {EVENTS_PAGE_MAX}, got {limit}.")
        sql = "SELECT * FROM hs_email_events WHERE 1 = 1"
        params: list[Any] = []
        for name, clause in (("startTimestamp", "created_ms >= ?"), ("endTimestamp", "created_ms <= ?")):
            value = _int_arg(request, name)
            if value is not None:
                sql += f" AND {clause}"
                params.append(value)
        for name, column in (("recipient", "recipient"), ("eventType", "type")):
            text = request.arg(name)
            if text:
                sql += f" AND {column} = ?" if column == "type" else f" AND lower({column}) = lower(?)"
                params.append(text)
        campaign = _int_arg(request, "campaignId")
        if campaign is not None:
            sql += " AND campaign_id = ?"
            params.append(campaign)
        offset = request.arg("offset")
        if offset:
            ms, eid = read_position(offset, f"Invalid offset {offset!r}.")
            sql += " AND (created_ms < ? OR (created_ms = ? AND id < ?))"
            params += [ms, ms, eid]
        with self.ctx.store.read() as conn:
            rows = conn.execute(sql + " ORDER BY created_ms DESC, id DESC LIMIT ?", [*params, limit + 1]).fetchall()
        page = rows[:limit]
        body: dict[str, Any] = {"events": [self._event(r) for r in page], "hasMore": len(rows) > limit}
        if page:
            last = page[-1]
            body["offset"] = position_token(last["created_ms"], last["id"])
        return Response(200, body)

    @staticmethod
    def _event(row: Any) -> dict[str, Any]:
        app_id, app_name = MARKETING_EMAIL_APP
        event: dict[str, Any] = {
            "id": row["id"],
            "created": row["created_ms"],
            "type": row["type"],
            "recipient": row["recipient"],
            "portalId": PORTAL_ID,
            "appId": app_id,
            "appName": app_name,
            "emailCampaignId": row["campaign_id"],
        }
        event.update(json.loads(row["extra"]))
        return event

    # -- loading and test helpers ----------------------------------------------------------------------------
    @staticmethod
    def event_row(
        kind: str, recipient: str, created_ms: int, campaign_id: int, extra: Mapping[str, Any], seq: int
    ) -> tuple[str, int, str, str, int, str]:
        """One ``hs_email_events`` row; ``seq`` makes the event id unique and deterministic."""
        eid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"leadsync-sandbox-email-event:{recipient}:{created_ms}:{seq}"))
        sent = {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"sent:{campaign_id}:{recipient}")), "created": created_ms}
        return (eid, created_ms, kind, recipient, campaign_id, json.dumps({"sentBy": sent, **extra}))

    @staticmethod
    def insert(conn: Any, rows: Sequence[tuple[str, int, str, str, int, str]]) -> None:
        conn.executemany("INSERT OR IGNORE INTO hs_email_events VALUES (?, ?, ?, ?, ?, ?)", rows)
