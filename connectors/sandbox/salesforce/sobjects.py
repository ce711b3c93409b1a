"""sObject rows: ``GET`` and ``PATCH .../sobjects/{type}/{id}``, and the update path every write shares (the
sObject Collections of ``composite.py`` too): field checks, per-record errors, ``allOrNone``, the org's
lead assignment rule and the per-record failures the fault injector asks for.

``Sforce-Auto-Assign``: absent or TRUE, an updated Lead is re-routed by the org's assignment rule to the
"Lead Routing" queue (``QUEUE_ID``); FALSE leaves the owner alone.  Each value received is logged in
``auto_assign_log``.

Per-record failures injected by ``faults.record_fails``: records in ``fail_records`` (always failing) get
``record_failure_code`` (FIELD_CUSTOM_VALIDATION_EXCEPTION, a validation rule); drawn ones (which usually
pass on retry) get UNABLE_TO_LOCK_ROW.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.salesforce.errors import SfError, record_error
from connectors.sandbox.salesforce.ids import KEY_PREFIXES, QUEUE_ID, id18, looks_like_id
from connectors.sandbox.salesforce.objects import LEAD_STATUSES, FieldDef, ObjectSchema, field_label
from connectors.sandbox.salesforce.records import full_name
from connectors.sandbox.salesforce.schema import coerce
from connectors.sandbox.salesforce.security import OPEN, Access, check_setup_record

if TYPE_CHECKING:
    from connectors.sandbox.salesforce.context import Context


@dataclass
class _Staged:
    id: str
    type: str
    data: dict[str, Any]


class SObjects:
    """Single-record reads and updates; ``update`` also serves sObject Collections."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.auto_assign_log: list[str | None] = []
        self.record_failure_code = "FIELD_CUSTOM_VALIDATION_EXCEPTION"

    def retrieve(self, request: Request) -> Response:
        schema = self.ctx.schemas.find(request.params["sobject"], status=404)
        found = self.ctx.records.get(id18(request.params["id"]))
        if found is None or found[0] != schema.name or found[2]:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        record = self.ctx.records.full_record(found[0], found[1], request.params["version"])
        access = self.ctx.access(request)
        hidden = [f.name for f in schema.fields.values() if not access.can_read(schema.name, f)]
        return Response(200, {k: v for k, v in record.items() if k not in hidden})

    def create(self, request: Request) -> Response:
        """``POST .../sobjects/{type}``: one new record; 201 ``{id, success, errors}`` or 400 with the errors."""
        schema = self.ctx.schemas.find(request.params["sobject"], status=404)
        body = request.json()
        if not isinstance(body, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        access = self.ctx.access(request)
        values: dict[str, Any] = {}
        for key, value in body.items():
            if key == "attributes":
                continue
            definition = self._field_for_write(schema, key, access)
            if not definition.can_create:
                raise SfError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {definition.name}. Please check the security settings of this "
                    "field and verify that it is read/write for your profile or permission set.",
                )
            values[definition.name] = coerce(definition, value)
        error = self._check_new(schema, values) or check_setup_record(self.ctx, schema.name, values)
        if error:
            first = error["errors"][0]
            return Response(
                400, [{"message": first["message"], "errorCode": first["statusCode"], "fields": first["fields"]}]
            )
        for definition in schema.fields.values():
            if definition.type == "boolean" and definition.can_create and definition.name not in values:
                values[definition.name] = False  # checkboxes default to false on create
        if schema.get("OwnerId") is not None and "OwnerId" not in values:
            values["OwnerId"] = self.ctx.user_of(request)  # the creating user owns the record
        if schema.name == "Lead":
            values.setdefault("Status", next(v for v, _, default in LEAD_STATUSES if default))
        record_id = self.ctx.records.insert(schema.name, values)
        return Response(201, {"id": record_id, "success": True, "errors": []})

    def _check_new(self, schema: ObjectSchema, values: dict[str, Any]) -> dict[str, Any] | None:
        defaulted = {"Status"} if schema.name == "Lead" else set()
        required = [
            f.name
            for f in schema.fields.values()
            if not f.nillable and f.can_create and f.type != "boolean" and f.name not in defaulted
        ]
        missing = [name for name in required if values.get(name) in (None, "")]
        if missing:
            return record_error(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )
        for name, value in values.items():
            definition = schema.fields[name.lower()]
            if definition.type == "reference" and value is not None:
                error = self._check_reference(definition, str(value), schema.name)
                if error:
                    return error
        return None

    def delete_one(self, request: Request) -> Response:
        """``DELETE /sobjects/{type}/{id}``: to the Recycle Bin (``IsDeleted``, seen by ``queryAll`` only); 204."""
        schema = self.ctx.schemas.find(request.params["sobject"], status=404)
        found = self.ctx.records.get(id18(request.params["id"]))
        if found is None or found[0] != schema.name:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        if found[2]:
            raise SfError(404, "ENTITY_IS_DELETED", "entity is deleted")
        now = self.ctx.records.now()
        found[1].update({"IsDeleted": True, "LastModifiedDate": now, "SystemModstamp": now})
        self.ctx.records.write([(schema.name, found[1])])
        return Response(204)

    def update_one(self, request: Request) -> Response:
        schema = self.ctx.schemas.find(request.params["sobject"], status=404)
        body = request.json()
        if not isinstance(body, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        record = {**body, "attributes": {"type": schema.name}, "Id": request.params["id"]}
        result = self.update([record], request.header("Sforce-Auto-Assign"), True, self.ctx.access(request))[0]
        if result["success"]:
            return Response(204)
        error = result["errors"][0]
        status = 404 if error["statusCode"] == "INVALID_CROSS_REFERENCE_KEY" else 400
        return Response(
            status, [{"message": error["message"], "errorCode": error["statusCode"], "fields": error["fields"]}]
        )

    def update(
        self, records: list[Any], auto_assign_header: str | None, all_or_none: bool, access: Access = OPEN
    ) -> list[dict[str, Any]]:
        """Update ``records`` as one call received with ``auto_assign_header``; one result per record."""
        self.auto_assign_log.append(auto_assign_header)
        return self._update(records, _auto_assign(auto_assign_header), all_or_none, access)

    def _update(self, records: list[Any], auto_assign: bool, all_or_none: bool, access: Access) -> list[dict[str, Any]]:
        now = self.ctx.records.now()
        staged: list[_Staged | None] = []
        results: list[dict[str, Any]] = []
        for raw in records:
            if not isinstance(raw, dict):
                raise SfError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
            attributes = raw.get("attributes")
            if not isinstance(attributes, dict) or not attributes.get("type"):
                raise SfError(400, "INVALID_TYPE", "Must send a concrete entity type.")
            schema = self.ctx.schemas.find(str(attributes["type"]))
            values = {k: v for k, v in raw.items() if k not in ("attributes", "id", "Id")}
            coerced = {self._field_for_write(schema, k, access).name: v for k, v in values.items()}
            coerced = {k: coerce(schema.get(k), v) for k, v in coerced.items()}
            outcome = self._check_record(schema, raw.get("id") or raw.get("Id"), coerced, access)
            if isinstance(outcome, dict):
                staged.append(None)
                results.append(outcome)
                continue
            record_id, data = outcome
            data.update(coerced)
            if schema.name in ("Lead", "Contact"):
                data["Name"] = full_name(data)
            if schema.name == "Lead" and auto_assign:
                data["OwnerId"] = QUEUE_ID  # the org's active lead assignment rule
            data["LastModifiedDate"] = data["SystemModstamp"] = now
            staged.append(_Staged(record_id, schema.name, data))
            results.append({"id": record_id, "success": True, "errors": []})
        if all_or_none and any(not r["success"] for r in results):
            rolled = record_error(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all records were valid and the request was using AllOrNone header",
            )
            return [r if not r["success"] else {**rolled, "id": r["id"]} for r in results]
        self.ctx.records.write((s.type, s.data) for s in staged if s is not None)
        return results

    def _field_for_write(self, schema: ObjectSchema, name: str, access: Access) -> FieldDef:
        found = schema.get(name)
        if found is None or not access.can_read(schema.name, found):
            raise SfError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {schema.name}")
        return found

    def _check_record(
        self, schema: ObjectSchema, raw_id: Any, values: dict[str, Any], access: Access
    ) -> dict[str, Any] | tuple[str, dict[str, Any]]:
        if not raw_id:
            return record_error("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        text = str(raw_id)
        prefix = KEY_PREFIXES.get(schema.name, "")
        if not looks_like_id(text) or not text.startswith(prefix):
            return record_error("MALFORMED_ID", f"{schema.name} ID: id value of incorrect type: {text}", ["Id"])
        record_id = id18(text)
        found = self.ctx.records.get(record_id)
        if found is None:
            return {**record_error("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id"), "id": record_id}
        _, data, deleted = found
        if deleted:
            return {**record_error("ENTITY_IS_DELETED", "entity is deleted"), "id": record_id}
        if schema.name == "Lead" and data.get("IsConverted"):
            return {**record_error("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead"), "id": record_id}
        readonly = [name for name in values if not access.can_edit(schema.name, schema.fields[name.lower()])]
        if readonly:
            return {
                **record_error(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {', '.join(readonly)}. Please check the security settings "
                    "of this field and verify that it is read/write for your profile or permission set.",
                    readonly,
                ),
                "id": record_id,
            }
        for name, value in values.items():
            definition = schema.fields[name.lower()]
            if isinstance(value, str) and definition.length and len(value) > definition.length:
                return {
                    **record_error(
                        "STRING_TOO_LONG",
                        f"{definition.label or field_label(name)}: data value too large: {value[:40]} "
                        f"(max length={definition.length})",
                        [name],
                    ),
                    "id": record_id,
                }
            if definition.type == "reference" and value is not None:
                error = self._check_reference(definition, str(value), schema.name)
                if error:
                    return {**error, "id": record_id}
        if self.ctx.sandbox.faults.record_fails("salesforce", record_id):
            if record_id in self.ctx.sandbox.faults.config.fail_records:
                code, message = self.record_failure_code, f"Validation rule rejected {record_id} (injected)"
            else:  # a drawn failure usually passes when retried: Salesforce's row-lock contention
                code, message = "UNABLE_TO_LOCK_ROW", f"unable to obtain exclusive access to this record: {record_id}"
            return {**record_error(code, message, []), "id": record_id}
        return record_id, data

    def _check_reference(self, definition: FieldDef, value: str, sobject: str) -> dict[str, Any] | None:
        if value == QUEUE_ID and "Group" in definition.reference_to:
            return None
        target = self.ctx.records.get(id18(value)) if looks_like_id(value) else None
        if target is None or target[0] not in definition.reference_to:
            return record_error(
                "INVALID_CROSS_REFERENCE_KEY",
                f"{field_label(definition.name)} ID: id value of incorrect type: {value}",
                [definition.name],
            )
        if target[0] == "User" and not target[1].get("IsActive"):
            return record_error(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{value}] as owner of {sobject.lower()}",
                [definition.name],
            )
        return None


def _auto_assign(header: str | None) -> bool:
    # Absent or TRUE (or an AssignmentRule id): assignment rules run.  FALSE: they do not.
    return header is None or header.strip().upper() != "FALSE"
