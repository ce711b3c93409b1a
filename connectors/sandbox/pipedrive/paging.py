"""List machinery: v1 ``start``/``limit`` paging, v2 cursor paging with ``updated_since`` / ``ids`` / sorting."""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from connectors.sandbox.core import BadRequest, Request
from connectors.sandbox.pipedrive.common import parse_rfc3339

MAX_LIMIT, DEFAULT_LIMIT, MAX_IDS = 500, 100, 100


def pagination(start: int, limit: int, more: bool) -> dict[str, Any]:
    """The ``additional_data`` of a v1 list page."""
    out: dict[str, Any] = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        out["next_start"] = start + limit
    return {"pagination": out}


def int_arg(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer") from exc


def limit_arg(request: Request) -> int:
    limit = int_arg(request.arg("limit"), "limit")
    if limit is not None and not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}")
    return limit or DEFAULT_LIMIT


def start_limit(request: Request) -> tuple[int, int]:
    start = int_arg(request.arg("start"), "start") or 0
    if start < 0:
        raise BadRequest("start must not be negative")
    return start, limit_arg(request)


def filters(request: Request, names: Sequence[str]) -> tuple[list[str], list[Any]]:
    """Equality filters on integer columns (owner_id, person_id, ...) given as query parameters."""
    where, params = [], []
    for name in names:
        value = int_arg(request.arg(name), name)
        if value is not None:
            where.append(f"{name} = ?")
            params.append(value)
    return where, params


def decode_cursor(cursor: str, sort_by: str, direction: str) -> tuple[Any, int]:
    try:
        payload = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        value, ident, same = payload["v"], int(payload["id"]), (payload["s"], payload["d"]) == (sort_by, direction)
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise BadRequest("Invalid cursor") from exc
    if not same:
        raise BadRequest("The cursor does not match the sort_by / sort_direction of the request")
    return value, ident


def cursor_page(
    db: sqlite3.Connection, request: Request, table: str, where: list[str], params: list[Any]
) -> tuple[list[sqlite3.Row], str | None]:
    """One page of a v2 list: filters, then keyset paging on (sort column, id) behind an opaque cursor."""
    limit = limit_arg(request)
    sort_by, direction = request.arg("sort_by") or "id", (request.arg("sort_direction") or "asc").lower()
    if sort_by not in ("id", "update_time", "add_time"):
        raise BadRequest("sort_by must be one of: id, update_time, add_time")
    if direction not in ("asc", "desc"):
        raise BadRequest("sort_direction must be asc or desc")
    where, params = ["is_deleted = 0", *where], list(params)
    for name, op in (("updated_since", ">="), ("updated_until", "<")):
        if raw := request.arg(name):
            where.append(f"update_time {op} ?")
            params.append(parse_rfc3339(raw, name))
    if raw := request.arg("ids"):
        try:
            ids = [int(v) for v in raw.split(",") if v.strip()]
        except ValueError as exc:
            raise BadRequest("ids must be a comma separated list of integers") from exc
        if len(ids) > MAX_IDS:
            raise BadRequest(f"ids accepts at most {MAX_IDS} values")
        where.append(f"id IN ({','.join('?' * len(ids))})")
        params.extend(ids)
    op = ">" if direction == "asc" else "<"
    if cursor := request.arg("cursor"):
        value, ident = decode_cursor(cursor, sort_by, direction)
        where.append(f"id {op} ?" if sort_by == "id" else f"({sort_by}, id) {op} (?, ?)")
        params.extend([ident] if sort_by == "id" else [value, ident])
    order = f"id {direction}" if sort_by == "id" else f"{sort_by} {direction}, id {direction}"
    sql = f"SELECT * FROM {table} WHERE {' AND '.join(where)} ORDER BY {order} LIMIT ?"
    rows = list(db.execute(sql, [*params, limit + 1]))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    payload = {"s": sort_by, "d": direction, "v": last[sort_by], "id": last["id"]}
    return rows[:limit], base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
