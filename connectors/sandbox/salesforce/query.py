"""SOQL: ``GET .../query?q=`` and ``.../queryAll?q=`` (the subset ``soql.py`` parses; relationship fields one
level deep such as ``Owner.Name`` or ``Campaign.Type``, in SELECT and WHERE), compiled to SQL over
``sf_record``.  Batches of 2,000 (or ``Sforce-Query-Options: batchSize=200..2000``); ``nextRecordsUrl`` =
``.../query/01g...-<offset>``.  A locator holds the matching ids at query time (a snapshot); each batch is
read fresh.  Fetching the same ``nextRecordsUrl`` twice returns the same batch, so a client may retry it."""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.salesforce import soql
from connectors.sandbox.salesforce.errors import SfError
from connectors.sandbox.salesforce.ids import id18, make_id
from connectors.sandbox.salesforce.objects import FieldDef, ObjectSchema
from connectors.sandbox.salesforce.records import attributes
from connectors.sandbox.salesforce.security import Access

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.context import Context

QUERY_BATCH_MAX = 2000
QUERY_BATCH_MIN = 200


@dataclass
class _Plan:
    """What a SELECT returns: plain fields, and relationship fields grouped under their relationship."""

    sobject: str
    items: list[tuple[str, Any]]  # ("field", FieldDef) | ("rel", (rel_name, fk FieldDef, [FieldDef]))


@dataclass
class _Locator:
    ids: list[str]
    plan: _Plan
    kind: str
    batch: int


class Queries:
    """The query endpoints and the open query locators (the 200 most recently used)."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self._locators: OrderedDict[str, _Locator] = OrderedDict()
        self._opened = 0  # locators handed out so far: the next one's number
        self._lock = threading.Lock()

    def query(self, request: Request) -> Response:
        text = request.arg("q")
        if not text:
            raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
        include_deleted = "/queryAll" in request.path
        parsed = soql.parse(text)
        if len(text) > 100_000:
            raise SfError(
                400, "MALFORMED_QUERY", "Query too complicated: the SOQL statement exceeds 100,000 characters"
            )
        plan, sql, params = self._compile(parsed, include_deleted, self.ctx.access(request))
        with self.ctx.store.read() as conn:
            if parsed.count_only:
                count = conn.execute(sql.replace("SELECT r.id", "SELECT COUNT(*)", 1), params).fetchone()[0]
                return Response(200, {"totalSize": count, "done": True, "records": []})
            ids = [row[0] for row in conn.execute(sql, params)]
        batch = _batch_size(request.header("Sforce-Query-Options"))
        locator = _Locator(ids, plan, "queryAll" if include_deleted else "query", batch)
        return Response(200, self._batch(locator, 0, request.params["version"]))

    def query_more(self, request: Request) -> Response:
        with self._lock:
            locator = self._locators.get(request.params["locator"])
            if locator is not None:
                self._locators.move_to_end(request.params["locator"])
        pos = int(request.params["pos"])
        if locator is None or pos > len(locator.ids):
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return Response(200, self._batch(locator, pos, request.params["version"], request.params["locator"]))

    def _batch(self, locator: _Locator, pos: int, version: str, name: str | None = None) -> dict[str, Any]:
        ids = locator.ids[pos : pos + locator.batch]
        body: dict[str, Any] = {"totalSize": len(locator.ids), "done": pos + len(ids) >= len(locator.ids)}
        if not body["done"]:
            if name is None:
                name = make_id("01g", self._next_locator())[:15]
                with self._lock:
                    self._locators[name] = locator
                    while len(self._locators) > 200:  # Salesforce also drops the oldest open cursors
                        self._locators.popitem(last=False)
            body["nextRecordsUrl"] = f"/services/data/v{version}/{locator.kind}/{name}-{pos + len(ids)}"
        body["records"] = self._project(ids, locator.plan, version)
        return body

    def _next_locator(self) -> int:
        with self._lock:
            self._opened += 1
            return self._opened

    def _compile(self, query: soql.Query, include_deleted: bool, access: Access) -> tuple[_Plan, str, list[Any]]:
        schema = self.ctx.schemas.find(query.sobject)
        plan = _Plan(schema.name, [])
        rel_index: dict[str, int] = {}
        seen: set[str] = set()
        for name in query.fields:
            if name.lower() in seen:
                raise SfError(400, "MALFORMED_QUERY", f"duplicate field selected: {name}")
            seen.add(name.lower())
            if "." in name:
                rel, fk, sub = self._relationship(schema, name, access)
                if rel not in rel_index:
                    rel_index[rel] = len(plan.items)
                    plan.items.append(("rel", (rel, fk, [])))
                plan.items[rel_index[rel]][1][2].append(sub)
            else:
                plan.items.append(("field", self._field(schema, name, access)))
        params: list[Any] = [schema.name]
        sql = "SELECT r.id FROM sf_record r WHERE r.type = ?"
        if not include_deleted:
            sql += " AND r.deleted = 0"
        if query.where is not None:
            sql += " AND " + self._cond_sql(schema, query.where, params, access)
        order = []
        for item in query.order_by:
            expr, _ = self._expr(schema, item.field, access)
            clause = f"{expr} {'DESC' if item.descending else 'ASC'}"
            # SQLite's default null order is SOQL's (first when ascending); spell it out only when asked
            # otherwise, so the (type, sysmod, id) index still serves ORDER BY SystemModstamp, Id.
            if item.nulls_last is not None and item.nulls_last != item.descending:
                clause += f" NULLS {'LAST' if item.nulls_last else 'FIRST'}"
            order.append(clause)
        if not order or not order[-1].startswith("r.id "):
            order.append("r.id")
        sql += " ORDER BY " + ", ".join(order)
        if query.limit is not None:
            sql += f" LIMIT {int(query.limit)}"
            if query.offset:
                sql += f" OFFSET {int(query.offset)}"
        elif query.offset:
            sql += f" LIMIT -1 OFFSET {int(query.offset)}"
        return plan, sql, params

    def _field(self, schema: ObjectSchema, name: str, access: Access) -> FieldDef:
        found = schema.get(name)
        if found is None or not access.can_read(schema.name, found):  # a field hidden by FLS reads as unknown
            raise SfError(
                400,
                "INVALID_FIELD",
                f"No such column '{name}' on entity '{schema.name}'. If you are attempting to use a custom "
                "field, be sure to append the '__c' after the custom field name. Please reference your WSDL "
                "or the describe call for the appropriate names.",
            )
        return found

    def _relationship(self, schema: ObjectSchema, name: str, access: Access) -> tuple[str, FieldDef, FieldDef]:
        rel, _, sub = name.partition(".")
        fk = schema.relationship(rel)
        if fk is None or "." in sub:
            raise SfError(
                400,
                "INVALID_FIELD",
                f"Didn't understand relationship '{rel}' in field path '{name}' on '{schema.name}'",
            )
        for target in fk.reference_to:
            found = self.ctx.schemas.objects[target].get(sub) if target in self.ctx.schemas.objects else None
            if found is not None and access.can_read(target, found):
                return str(fk.relationship_name), fk, found
        if sub.lower() in ("id", "name"):  # polymorphic lookups (Owner -> Group) still have Id and Name
            return str(fk.relationship_name), fk, FieldDef("Id" if sub.lower() == "id" else "Name", "string")
        raise SfError(400, "INVALID_FIELD", f"No such column '{sub}' on entity '{'/'.join(fk.reference_to)}'.")

    def _expr(self, schema: ObjectSchema, name: str, access: Access) -> tuple[str, FieldDef]:
        if "." in name:
            _, fk, sub = self._relationship(schema, name, access)
            inner = _column("s", sub.name)
            return f"(SELECT {inner} FROM sf_record s WHERE s.id = {_column('r', fk.name)})", sub
        definition = self._field(schema, name, access)
        return _column("r", definition.name), definition

    def _cond_sql(self, schema: ObjectSchema, cond: soql.Condition, params: list[Any], access: Access) -> str:
        if isinstance(cond, soql.BoolOp):
            return "(" + f" {cond.op} ".join(self._cond_sql(schema, p, params, access) for p in cond.parts) + ")"
        if isinstance(cond, soql.Not):
            return f"NOT ({self._cond_sql(schema, cond.part, params, access)})"
        if isinstance(cond, soql.SemiJoin):
            return self._semi_join_sql(schema, cond, params, access)
        expr, definition = self._expr(schema, cond.field, access)
        text_field = definition.type not in (
            "id",
            "reference",
            "boolean",
            "int",
            "double",
            "currency",
            "date",
            "datetime",
        )
        collate = " COLLATE NOCASE" if text_field else ""
        if isinstance(cond, soql.InList):
            values = [_literal(definition, v) for v in cond.values]
            present = [v for v in values if v is not None]
            parts = []
            if present:
                params.extend(present)
                marks = ",".join("?" * len(present))
                parts.append(f"{expr}{collate} {'NOT IN' if cond.negate else 'IN'} ({marks})")
            has_null = len(present) != len(values)
            if cond.negate:
                clause = " AND ".join(parts) if parts else "1"
                return f"({expr} IS NOT NULL AND {clause})" if has_null else f"({expr} IS NULL OR {clause})"
            if has_null:
                parts.append(f"{expr} IS NULL")
            return "(" + " OR ".join(parts or ["0"]) + ")"
        value = _literal(definition, cond.value)
        if cond.op == "LIKE":
            params.append(value)
            if cond.negate:
                return f"({expr} IS NULL OR {expr} NOT LIKE ? ESCAPE '\\')"
            return f"{expr} LIKE ? ESCAPE '\\'"
        if value is None:
            if cond.op not in ("=", "!="):
                raise SfError(400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on null: {cond.op}")
            return f"{expr} IS {'NOT ' if cond.op == '!=' else ''}NULL"
        params.append(value)
        if cond.op == "!=":
            return f"({expr} IS NULL OR {expr}{collate} != ?)"
        return f"{expr}{collate} {cond.op} ?"

    def _semi_join_sql(self, schema: ObjectSchema, cond: soql.SemiJoin, params: list[Any], access: Access) -> str:
        """``field [NOT] IN (SELECT idField FROM Other WHERE ...)``: both sides Id or reference fields."""
        expr, definition = self._expr(schema, cond.field, access)
        inner_schema = self.ctx.schemas.find(cond.subquery.sobject)
        inner = self._field(inner_schema, cond.subquery.fields[0], access)
        for side in (definition, inner):
            if side.type not in ("id", "reference"):
                raise SfError(
                    400, "INVALID_FIELD", f"semi join sub selects can only query id fields, cannot use: '{side.name}'"
                )
        _, inner_sql, inner_params = self._compile(cond.subquery, False, access)
        inner_sql = inner_sql.replace("SELECT r.id FROM", f"SELECT {_column('r', inner.name)} AS v FROM", 1)
        params.extend(inner_params)
        values = f"(SELECT j.v FROM ({inner_sql}) j WHERE j.v IS NOT NULL)"
        # an anti-join keeps rows whose field is empty (vendor silent; SQL's NOT IN would drop them)
        return f"({expr} IS NULL OR {expr} NOT IN {values})" if cond.negate else f"{expr} IN {values}"

    def _project(self, ids: list[str], plan: _Plan, version: str) -> list[dict[str, Any]]:
        rows = self.ctx.records.fetch(ids)
        related_ids: set[str] = set()
        for kind, item in plan.items:
            if kind == "rel":
                fk_name = item[1].name
                related_ids.update(str(d[fk_name]) for _, d in rows.values() if d.get(fk_name))
        related = self.ctx.records.fetch(sorted(related_ids)) if related_ids else {}
        out: list[dict[str, Any]] = []
        for record_id in ids:
            if record_id not in rows:
                continue  # hard-deleted since the query ran
            sobject, data = rows[record_id]
            record: dict[str, Any] = {"attributes": attributes(sobject, record_id, version)}
            for kind, item in plan.items:
                if kind == "field":
                    record[item.name] = data.get(item.name)
                    continue
                rel, fk, subs = item
                target = related.get(str(data.get(fk.name) or ""))
                if target is None:
                    record[rel] = None
                    continue
                target_type, target_data = target
                nested: dict[str, Any] = {"attributes": attributes(target_type, str(target_data["Id"]), version)}
                for sub in subs:
                    nested[sub.name] = target_data.get(sub.name)
                record[rel] = nested
            out.append(record)
        return out


def _column(alias: str, name: str) -> str:
    if name == "Id":
        return f"{alias}.id"
    if name == "SystemModstamp":
        return f"{alias}.sysmod"
    if name == "IsDeleted":
        return f"{alias}.deleted"
    return f"json_extract({alias}.data, '$.{name}')"


def _literal(definition: FieldDef, value: soql.Literal) -> Any:
    """A SOQL literal as the SQL value to compare with, checking it suits the field's type."""
    kind = definition.type
    if value is None:
        return None
    if kind == "datetime":
        if not isinstance(value, soql.DateTimeLiteral):
            raise SfError(
                400,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{definition.name}' must be of type dateTime and should "
                "not be enclosed in quotes",
            )
        return value.value
    if kind == "date":
        if not isinstance(value, soql.DateLiteral):
            raise SfError(
                400,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{definition.name}' must be of type date and should not "
                "be enclosed in quotes",
            )
        return value.value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise SfError(
                400,
                "INVALID_QUERY_FILTER_OPERATOR",
                f"value of filter criterion for field '{definition.name}' must be of type boolean and should "
                "not be enclosed in quotes",
            )
        return int(value)
    if isinstance(value, soql.DateTimeLiteral | soql.DateLiteral):
        return value.value
    if kind in ("id", "reference") and isinstance(value, str) and len(value) == 15 and value.isalnum():
        return id18(value)
    if isinstance(value, bool):
        return int(value)
    return value


def _batch_size(header: str | None) -> int:
    m = re.search(r"batchSize\s*=\s*(\d+)", header or "")
    if not m:
        return QUERY_BATCH_MAX
    return max(QUERY_BATCH_MIN, min(QUERY_BATCH_MAX, int(m.group(1))))
