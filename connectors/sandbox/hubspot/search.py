"""``POST /crm/v3/objects/{type}/search``: filterGroups, sorts and ``query`` turned into SQL over the
stored objects, with HubSpot's limits (body size, filter counts, 10,000 results) and its index lag: a
change shows in search only once the index delay in force when it was made has passed."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot import records
from connectors.sandbox.hubspot.context import Context, int_id, json_body, next_link, wanted
from connectors.sandbox.hubspot.errors import HubSpotError
from connectors.sandbox.hubspot.model import (
    CHANGE_PROP,
    CREATE_PROP,
    PROP_NAME,
    SEARCH_LIMIT,
    SEARCH_MAX_BODY,
    SEARCH_MAX_RESULTS,
    iso,
    parse_ms,
)
from connectors.sandbox.hubspot.schema import Schema

Definitions = Mapping[str, Mapping[str, Any]]
_QUERY_PROPS = ("email", "firstname", "lastname", "company", "phone", "hs_note_body", "dealname")
_COMPARISONS = {"EQ": "=", "NEQ": "!=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}


def _column(otype: str, prop: str, defs: Definitions) -> tuple[str, str]:
    """(SQL expression, kind) for a property: kind id | ms | num | dt | bool | text."""
    if not PROP_NAME.match(prop):
        raise HubSpotError(400, f"Invalid property name {prop!r}.")
    if prop == "hs_object_id":
        return "id", "id"
    if prop == CHANGE_PROP[otype]:
        return "modified_ms", "ms"
    if prop == CREATE_PROP[otype]:
        return "created_ms", "ms"
    expr = f"json_extract(props, '$.\"{prop}\"')"
    ptype = (defs.get(prop) or {}).get("type")
    if ptype == "number":
        return f"CAST({expr} AS REAL)", "num"
    if ptype in ("datetime", "date"):
        return expr, "dt"
    return expr, "text"


def _value(kind: str, value: Any) -> Any:
    if kind == "id":
        return int(float(str(value)))
    if kind == "ms":
        return parse_ms(value)
    if kind == "num":
        return float(str(value))
    if kind == "dt":
        return iso(parse_ms(value))
    return str(value)


def _filter_sql(otype: str, flt: Mapping[str, Any], defs: Definitions) -> tuple[str, list[Any]]:
    prop = str(flt.get("propertyName") or "")
    op = str(flt.get("operator") or "EQ").upper()
    expr, kind = _column(otype, prop, defs)
    nocase = " COLLATE NOCASE" if kind == "text" else ""
    has = f"({expr} IS NOT NULL AND {expr} != '')"
    try:
        if op == "HAS_PROPERTY":
            return has, []
        if op == "NOT_HAS_PROPERTY":
            return f"NOT {has}", []
        if op in ("IN", "NOT_IN"):
            values = [_value(kind, v) for v in (flt.get("values") or [])]
            if not values:
                raise HubSpotError(400, f"Operator {op} needs 'values'.")
            marks = ", ".join("?" * len(values))
            if op == "IN":
                return f"{expr}{nocase} IN ({marks})", values
            return f"({expr} IS NULL OR {expr}{nocase} NOT IN ({marks}))", values
        if op == "BETWEEN":
            return f"{expr} BETWEEN ? AND ?", [_value(kind, flt.get("value")), _value(kind, flt.get("highValue"))]
        if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
            token = "%" + str(flt.get("value") or "").replace("*", "%") + "%"
            sql = f"{expr} LIKE ?"
            return (sql, [token]) if op == "CONTAINS_TOKEN" else (f"({expr} IS NULL OR NOT {sql})", [token])
        sql_op = _COMPARISONS.get(op)
        if sql_op is None:
            raise HubSpotError(400, f"Unknown filter operator {op!r}.")
        value = _value(kind, flt.get("value"))
    except (TypeError, ValueError) as exc:
        raise HubSpotError(400, f"Invalid filter value for {prop}: {exc}") from exc
    if op == "NEQ":
        return f"({expr} IS NULL OR {expr}{nocase} != ?)", [value]
    return f"{expr}{nocase} {sql_op} ?", [value]


class Search:
    def __init__(self, ctx: Context, schema: Schema):
        self.ctx = ctx
        self.schema = schema

    def search(self, otype: str, request: Request) -> Response:
        if len(request.body) > SEARCH_MAX_BODY:
            raise HubSpotError(
                400,
                f"The request body is {len(request.body)} characters long; search requests "
                f"are limited to {SEARCH_MAX_BODY}.",
            )
        body = json_body(request)
        limit = int(body.get("limit") or 10)
        if not 1 <= limit <= SEARCH_LIMIT:
            raise HubSpotError(400, f"limit must be between 1 and {SEARCH_LIMIT}, got {limit}.")
        after_raw = body.get("after") or "0"
        offset = int_id(after_raw)
        if offset is None:
            raise HubSpotError(400, f"Invalid paging cursor after={after_raw!r}.")
        if offset >= SEARCH_MAX_RESULTS:
            # HubSpot: the search endpoints return at most 10,000 results per query; paging past them is a 400.
            raise HubSpotError(
                400,
                f"There was a problem with the request: after={offset} is beyond the "
                f"{SEARCH_MAX_RESULTS} results a search can return; narrow the query instead.",
                context={"after": [str(offset)]},
            )
        where, params = self._where(otype, body)
        order = self._order(otype, body.get("sorts") or [])
        names = wanted(request, body)
        take = min(limit, SEARCH_MAX_RESULTS - offset)
        with self.ctx.store.read() as conn:
            total = conn.execute(f"SELECT COUNT(*) FROM hs_objects WHERE {where}", params).fetchone()[0]
            rows = conn.execute(
                f"SELECT * FROM hs_objects WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?", [*params, take, offset]
            ).fetchall()
        out: dict[str, Any] = {"total": total, "results": [records.render(otype, r, names) for r in rows]}
        if offset + len(rows) < total:
            out["paging"] = next_link(self.ctx.base_url(), request, str(offset + len(rows)))
        return Response(200, out)

    def _where(self, otype: str, body: Mapping[str, Any]) -> tuple[str, list[Any]]:
        groups = body.get("filterGroups") or []
        if (
            len(groups) > 5
            or sum(len(g.get("filters") or []) for g in groups) > 18
            or any(len(g.get("filters") or []) > 6 for g in groups)
        ):
            raise HubSpotError(400, "Too many filters: at most 5 filterGroups of at most 6 filters, 18 in total.")
        defs = self.schema.definitions(otype)
        params: list[Any] = [otype]
        clauses = ["type = ?", "archived = 0"]  # search never returns archived records
        # not indexed yet: a change still within its index delay is invisible (its older version too), so a
        # cursor that passes its timestamp meanwhile skips it for good, as on a real portal
        clauses.append(
            "NOT EXISTS (SELECT 1 FROM hs_unindexed u WHERE u.type = hs_objects.type AND u.id = hs_objects.id "
            "AND u.visible_ms > ?)"
        )
        params.append(self.ctx.now_ms())
        ors: list[str] = []
        for group in groups:
            ands: list[str] = []
            for flt in group.get("filters") or []:
                sql, values = _filter_sql(otype, flt, defs)
                ands.append(sql)
                params.extend(values)
            if ands:
                ors.append("(" + " AND ".join(ands) + ")")
        if ors:
            clauses.append("(" + " OR ".join(ors) + ")")
        query = str(body.get("query") or "").strip()
        if query:
            like = f"%{query}%"
            clauses.append("(" + " OR ".join(f"json_extract(props, '$.{p}') LIKE ?" for p in _QUERY_PROPS) + ")")
            params.extend([like] * len(_QUERY_PROPS))
        return " AND ".join(clauses), params

    def _order(self, otype: str, sorts: Sequence[Any]) -> str:
        # Ties keep a stable but arbitrary order (HubSpot documents none): a hash of the id.
        tie = "((id * 2654435761) % 4294967296)"
        if not sorts:
            return "id"
        first = sorts[0]
        if isinstance(first, str):
            try:
                first = json.loads(first)
            except ValueError:
                first = {
                    "propertyName": first.lstrip("-"),
                    "direction": "DESCENDING" if first.startswith("-") else "ASCENDING",
                }
        if not isinstance(first, Mapping):
            raise HubSpotError(400, "Invalid sort.")
        expr, _ = _column(otype, str(first.get("propertyName") or ""), self.schema.definitions(otype))
        direction = "DESC" if str(first.get("direction", "ASCENDING")).upper().startswith("DESC") else "ASC"
        if expr == "id":
            return f"id {direction}"
        return f"{expr} {direction}, {tie}"
