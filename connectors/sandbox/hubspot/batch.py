"""``POST /crm/v3/objects/{type}/batch/read`` and ``.../batch/update``: up to 100 inputs, answered 200 or
207 with per-record ``errors[]`` (unknown ids, injected failures, a ``lifecyclestage`` moved backwards)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot import records
from connectors.sandbox.hubspot.context import Context, int_id, json_body, wanted
from connectors.sandbox.hubspot.errors import HubSpotError, record_error
from connectors.sandbox.hubspot.model import BATCH_LIMIT, DEFAULT_PROPS, iso, prop_str
from connectors.sandbox.hubspot.schema import Schema


def batch_answer(results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str) -> Response:
    """A batch response: 200 when every input succeeded, else 207 with ``numErrors`` and ``errors``."""
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "requestedAt": started,
        "startedAt": started,
        "completedAt": started,
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
        return Response(207, body)
    return Response(200, body)


def _inputs(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise HubSpotError(400, "Invalid input JSON: 'inputs' is required.")
    if len(inputs) > BATCH_LIMIT:
        raise HubSpotError(
            400,
            f"Batch input size {len(inputs)} is over the limit of {BATCH_LIMIT} inputs.",
            context={"inputs": [str(len(inputs))]},
        )
    return inputs


def _backwards_stage(old_stage: str, new_stage: str, raw: str, trace: str | None) -> dict[str, Any]:
    message = (
        f"lifecyclestage can only move forward: {old_stage!r} -> {new_stage!r} is backwards. "
        'Clear it first (set it to "") and then set the new stage.'
    )
    return record_error(
        message,
        "VALIDATION_ERROR",
        [raw],
        trace,
        errors=[{"message": message, "code": "INVALID_OPTION", "context": {"propertyName": ["lifecyclestage"]}}],
    )


class Batch:
    def __init__(self, ctx: Context, schema: Schema):
        self.ctx = ctx
        self.schema = schema
        self.fail_records: set[str] = set()  # test-only: ids whose batch writes always fail

    def read(self, otype: str, request: Request) -> Response:
        body = json_body(request)
        inputs = _inputs(body)
        names = wanted(request, body)
        id_property = body.get("idProperty")
        archived = (request.arg("archived") or "false").lower() == "true"
        started = iso(self.ctx.now_ms())
        results: list[dict[str, Any]] = []
        missing: list[str] = []
        seen: set[int] = set()
        with self.ctx.store.read() as conn:
            for item in inputs:
                raw = str(item.get("id", ""))
                object_id: int | None
                if id_property:
                    object_id = records.find_by_property(conn, otype, str(id_property), raw)
                else:
                    parsed = int_id(raw)
                    object_id = records.resolve(conn, otype, parsed) if parsed is not None else None
                row = (
                    None
                    if object_id is None
                    else conn.execute(
                        "SELECT * FROM hs_objects WHERE type = ? AND id = ? AND archived = ?",
                        (otype, object_id, int(archived)),
                    ).fetchone()
                )
                if row is None:
                    missing.append(raw)
                elif object_id not in seen:
                    seen.add(int(row["id"]))
                    results.append(records.render(otype, row, names))
        errors = []
        if missing:
            errors.append(
                record_error(
                    f"Could not get some {otype[:-1].upper()} objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    "OBJECT_NOT_FOUND",
                    missing,
                )
            )
        return batch_answer(results, errors, started)

    def update(self, otype: str, request: Request) -> Response:
        body = json_body(request)
        inputs = _inputs(body)
        ids = [str(i.get("id", "")) for i in inputs]
        if len(set(ids)) != len(ids):
            raise HubSpotError(
                400, "Duplicate IDs found in batch input: " + ", ".join(sorted({i for i in ids if ids.count(i) > 1}))
            )
        prepared = [{k: prop_str(v) for k, v in (i.get("properties") or {}).items()} for i in inputs]
        self.schema.validate(otype, prepared)
        stages = self.schema.stage_order() if otype == "contacts" else {}
        now = self.ctx.now_ms()
        started = iso(now)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        with self.ctx.store.tx() as conn:
            for item, props in zip(inputs, prepared, strict=True):
                raw = str(item.get("id", ""))
                trace = item.get("objectWriteTraceId")
                parsed = int_id(raw)
                object_id = records.resolve(conn, otype, parsed) if parsed is not None else None
                if object_id is not None and records.fetch(conn, otype, object_id)["archived"]:
                    object_id = None  # archived: not found for updates until restored
                if object_id is None:
                    errors.append(
                        record_error(
                            f"Object not found.  objectId are usually numeric. ({raw})",
                            "OBJECT_NOT_FOUND",
                            [raw],
                            trace,
                        )
                    )
                    continue
                if raw in self.fail_records or self.ctx.sandbox.faults.record_fails("hubspot", raw):
                    errors.append(
                        record_error(
                            "Property values were not valid (failure injected by the sandbox).",
                            "VALIDATION_ERROR",
                            [raw],
                            trace,
                            errors=[{"message": "Injected per-record failure", "code": "INVALID_RECORD"}],
                        )
                    )
                    continue
                current = json.loads(records.fetch(conn, otype, object_id)["props"])
                new_stage = props.get("lifecyclestage")
                old_stage = current.get("lifecyclestage")
                if (
                    otype == "contacts"
                    and new_stage
                    and old_stage
                    and new_stage != old_stage
                    and stages.get(new_stage, 0) < stages.get(old_stage, 0)
                ):
                    errors.append(_backwards_stage(old_stage, new_stage, raw, trace))
                    continue
                if otype == "contacts" and new_stage == "customer" and old_stage != "customer":
                    props = {**props, "hs_lifecyclestage_customer_date": iso(now)}
                records.patch(conn, otype, object_id, props, now)
                row = records.fetch(conn, otype, object_id)
                rendered = records.render(otype, row, [*DEFAULT_PROPS[otype], *props])
                if trace:
                    rendered["objectWriteTraceId"] = trace
                results.append(rendered)
        return batch_answer(results, errors, started)
