"""Single objects of ``/crm/v3/objects/{type}``: list (with ``associations``), get (by id or
``idProperty``) and create (with associations to contacts)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot import records
from connectors.sandbox.hubspot.context import Context, int_id, json_body, next_link, wanted
from connectors.sandbox.hubspot.errors import HubSpotError, error_body
from connectors.sandbox.hubspot.model import (
    ASSOCIATION_TYPE_IDS,
    ENGAGEMENT_TYPES,
    LIST_LIMIT,
    READ_ONLY,
    parse_ms,
    prop_str,
)
from connectors.sandbox.hubspot.schema import Schema
from connectors.sandbox.store import Change, note_change


class Objects:
    def __init__(self, ctx: Context, schema: Schema):
        self.ctx = ctx
        self.schema = schema

    def page(self, otype: str, request: Request) -> Response:
        limit = int(request.arg("limit") or 10)
        if limit > LIST_LIMIT or limit < 1:
            raise HubSpotError(
                400, f"limit must be between 1 and {LIST_LIMIT}, got {limit}.", context={"limit": [str(limit)]}
            )
        after_raw = request.arg("after")
        after = 0
        if after_raw:
            parsed = int_id(after_raw)
            if parsed is None:
                raise HubSpotError(400, f"Invalid paging cursor after={after_raw!r}.")
            after = parsed
        archived = (request.arg("archived") or "false").lower() == "true"
        names = wanted(request)
        associations = [a for v in request.query.get("associations", []) for a in v.split(",") if a]
        with self.ctx.store.read() as conn:
            rows = conn.execute(
                "SELECT * FROM hs_objects WHERE type = ? AND archived = ? AND id >= ? ORDER BY id LIMIT ?",
                (otype, int(archived), after, limit + 1),
            ).fetchall()
            results = [records.render(otype, row, names) for row in rows[:limit]]
            if associations:
                self._attach_associations(conn, otype, results, associations)
        body: dict[str, Any] = {"results": results}
        if len(rows) > limit:
            body["paging"] = next_link(self.ctx.base_url(), request, str(rows[limit]["id"]))
        return Response(200, body)

    @staticmethod
    def _attach_associations(conn: Any, otype: str, results: list[dict[str, Any]], to: Sequence[str]) -> None:
        for item in results:
            oid = int(item["id"])
            assoc: dict[str, Any] = {}
            for to_type in to:
                if otype == "contacts" and to_type in ASSOCIATION_TYPE_IDS:
                    ids = [
                        r[0]
                        for r in conn.execute(
                            "SELECT to_id FROM hs_assoc WHERE contact_id = ? AND to_type = ? ORDER BY to_id",
                            (oid, to_type),
                        )
                    ]
                    label = f"contact_to_{to_type[:-1]}"
                elif to_type == "contacts" and otype in ASSOCIATION_TYPE_IDS:
                    ids = [
                        r[0]
                        for r in conn.execute(
                            "SELECT contact_id FROM hs_assoc WHERE to_type = ? AND to_id = ? ORDER BY contact_id",
                            (otype, oid),
                        )
                    ]
                    label = f"{otype[:-1]}_to_contact"
                else:
                    continue
                if ids:
                    assoc[to_type] = {"results": [{"id": str(i), "type": label} for i in ids]}
            if assoc:
                item["associations"] = assoc

    def get(self, otype: str, request: Request) -> Response:
        raw_id = unquote(request.params["id"])
        id_property = request.arg("idProperty")
        names = wanted(request)
        with self.ctx.store.read() as conn:
            object_id: int | None
            if id_property:
                object_id = records.find_by_property(conn, otype, id_property, raw_id)
            else:
                parsed = int_id(raw_id)
                object_id = records.resolve(conn, otype, parsed) if parsed is not None else None
            row = None if object_id is None else records.fetch(conn, otype, object_id)
        if row is None:
            return Response(
                404, error_body(f"Object not found.  objectId are usually numeric. ({raw_id})", "OBJECT_NOT_FOUND")
            )
        return Response(200, records.render(otype, row, names))

    def create(self, otype: str, request: Request) -> Response:
        body = json_body(request)
        props = {k: prop_str(v) for k, v in (body.get("properties") or {}).items()}
        self.schema.validate(otype, [props])
        contact_ids: list[int] = []
        for assoc in body.get("associations") or []:
            cid = int_id((assoc.get("to") or {}).get("id", ""))
            if cid is not None:
                contact_ids.append(cid)
        now = self.ctx.now_ms()
        with self.ctx.store.tx() as conn:
            if otype == "contacts" and props.get("email"):
                existing = records.find_by_property(conn, "contacts", "email", str(props["email"]))
                if existing is not None:
                    raise HubSpotError(409, f"Contact already exists. Existing ID: {existing}", "CONFLICT")
            (new_id,) = records.next_ids(conn, 1)
            stored = {k: v for k, v in props.items() if v not in (None, "") and k not in READ_ONLY}
            created = now
            if otype in ENGAGEMENT_TYPES and stored.get("hs_timestamp"):
                created = min(now, parse_ms(stored["hs_timestamp"]))
            conn.execute(
                "INSERT INTO hs_objects VALUES (?, ?, ?, ?, 0, ?)", (otype, new_id, created, now, json.dumps(stored))
            )
            for cid in contact_ids:
                resolved = records.resolve(conn, "contacts", cid)
                if resolved is not None and otype in ASSOCIATION_TYPE_IDS:
                    records.associate(conn, resolved, otype, new_id, now)
            row = records.fetch(conn, otype, new_id)
            if otype == "contacts":
                at = datetime.fromtimestamp(now / 1000, UTC)
                note_change(conn, Change("hubspot", "create", otype, str(new_id), at, dict(stored)))
        return Response(201, records.render(otype, row, list(props) or None))
