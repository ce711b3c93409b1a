"""``POST /crm/v4/associations/{from}/{to}/batch/read``: a contact's engagements and deals, or an
engagement's or deal's contacts, up to 1,000 inputs, paged per input."""

from __future__ import annotations

from typing import Any

from connectors.sandbox.core import Request, Response
from connectors.sandbox.hubspot import records
from connectors.sandbox.hubspot.batch import batch_answer
from connectors.sandbox.hubspot.context import Context, int_id, json_body
from connectors.sandbox.hubspot.errors import HubSpotError, record_error
from connectors.sandbox.hubspot.model import ASSOC_BATCH_LIMIT, ASSOC_PAGE, ASSOCIATION_TYPE_IDS, iso


class Associations:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    def batch_read(self, request: Request) -> Response:
        from_type, to_type = request.params["from"], request.params["to"]
        body = json_body(request)
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            raise HubSpotError(400, "Invalid input JSON: 'inputs' is required.")
        if len(inputs) > ASSOC_BATCH_LIMIT:
            raise HubSpotError(400, f"Batch input size {len(inputs)} is over the limit of {ASSOC_BATCH_LIMIT}.")
        if "contacts" not in (from_type, to_type) or {from_type, to_type} == {"contacts"}:
            raise HubSpotError(400, f"Associations between {from_type} and {to_type} are not emulated.")
        started = iso(self.ctx.now_ms())
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        other = to_type if from_type == "contacts" else from_type
        type_id = ASSOCIATION_TYPE_IDS[other][0 if from_type == "contacts" else 1]
        with self.ctx.store.read() as conn:
            for item in inputs:
                raw = str(item.get("id", ""))
                after = int_id(item.get("after") or "0") or 0
                parsed = int_id(raw)
                object_id = records.resolve(conn, from_type, parsed) if parsed is not None else None
                ids = [] if object_id is None else self._page(conn, from_type, to_type, object_id, after)
                if not ids:
                    errors.append(
                        record_error(
                            f"No {to_type} is associated with {from_type[:-1]} {raw}.",
                            "OBJECT_NOT_FOUND",
                            [raw],
                            sub_category="crm.associations.NO_ASSOCIATIONS_FOUND",
                        )
                        | {"context": {"fromObjectId": [raw]}}
                    )
                    continue
                entry: dict[str, Any] = {
                    "from": {"id": str(object_id)},
                    "to": [
                        {
                            "toObjectId": i,
                            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}],
                        }
                        for i in ids[:ASSOC_PAGE]
                    ],
                }
                if len(ids) > ASSOC_PAGE:
                    entry["paging"] = {"next": {"after": str(ids[ASSOC_PAGE]), "link": None}}
                results.append(entry)
        return batch_answer(results, errors, started)

    @staticmethod
    def _page(conn: Any, from_type: str, to_type: str, object_id: int, after: int) -> list[int]:
        """One page of associated ids from ``after`` on, plus the first id of the next page if there is one."""
        if from_type == "contacts":
            sql = (
                "SELECT to_id FROM hs_assoc WHERE contact_id = ? AND to_type = ? AND to_id >= ? ORDER BY to_id LIMIT ?"
            )
            return [r[0] for r in conn.execute(sql, (object_id, to_type, after, ASSOC_PAGE + 1))]
        sql = (
            "SELECT contact_id FROM hs_assoc WHERE to_type = ? AND to_id = ? AND contact_id >= ? "
            "ORDER BY contact_id LIMIT ?"
        )
        return [r[0] for r in conn.execute(sql, (from_type, object_id, after, ASSOC_PAGE + 1))]
