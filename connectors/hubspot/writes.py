"""HubSpot contact writes: ``POST /crm/v3/objects/contacts/batch/update``, 100 per call.

A 207 maps per record (matched through ``objectWriteTraceId``); a merged id is written to, and reported as,
the surviving contact.  A ``lifecyclestage`` HubSpot refuses because it would move backwards is cleared
(``""``) and set again for those records only (two more batch calls), since HubSpot only moves the stage
forward.  A 400 that refuses a whole batch for one bad value fails only the records that carry it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from connectors.errors import FatalApiError
from connectors.hubspot.client import HubSpotClient, body_json
from connectors.hubspot.config import HubSpotConfig
from connectors.hubspot.mapping import prop_value
from connectors.records import FieldUpdate, WriteResult, WriteStatus

BATCH = 100
_NAME_PROBLEMS = {"PROPERTY_DOESNT_EXIST", "READ_ONLY_VALUE"}


@dataclass(slots=True)
class _Pending:
    index: int
    contact_id: str
    properties: dict[str, str]


class ContactWriter:
    """Writes field updates to contacts in batches, one ``WriteResult`` per update, in order."""

    def __init__(self, config: HubSpotConfig, client: HubSpotClient):
        self.config = config
        self.client = client

    def write(self, updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        results: list[WriteResult | None] = [None] * len(updates)
        pending: list[_Pending] = []
        for i, update in enumerate(updates):
            props = {self.config.field_map.get(k, k): prop_value(v) for k, v in update.values.items()}
            if not props:
                results[i] = WriteResult(update.contact_id, WriteStatus.SKIPPED, requested_id=update.contact_id)
            else:
                pending.append(_Pending(i, str(update.contact_id), props))
        for batch in _batches_without_duplicates(pending, BATCH):
            self._write_batch(batch, results)
        return [
            r or WriteResult(u.contact_id, WriteStatus.RETRY, "no result from HubSpot", requested_id=u.contact_id)
            for r, u in zip(results, updates, strict=True)
        ]

    def _update(self, batch: Sequence[_Pending], values: Sequence[Mapping[str, str]] | None = None) -> Any:
        inputs = [
            {
                "id": p.contact_id,
                "properties": dict(values[n] if values else p.properties),
                "objectWriteTraceId": str(p.index),
            }
            for n, p in enumerate(batch)
        ]
        data, _, _ = self.client.call(
            "contacts.batch_update",
            partial(
                self.client.contacts_batch.update_with_http_info,
                {"inputs": inputs},
                _request_timeout=self.config.timeout,
            ),
        )
        return data

    def _write_batch(self, batch: list[_Pending], results: list[WriteResult | None]) -> None:
        try:
            data = self._update(batch)
        except FatalApiError as exc:
            if exc.status != 400:
                raise
            self._isolate_invalid(batch, results, exc)
            return
        refused = self._record_results(batch, data, results)
        backwards = [p for p in refused if p.properties.get("lifecyclestage")]
        if backwards and self.config.clear_lifecycle_to_move_back:
            # HubSpot only moves lifecyclestage forward: clear it, then set it, for those records only.
            self._update(backwards, [{"lifecyclestage": ""} for _ in backwards])
            self._record_results(backwards, self._update(backwards), results)

    def _record_results(
        self, batch: Sequence[_Pending], data: Any, results: list[WriteResult | None]
    ) -> list[_Pending]:
        """Fill ``results`` from one batch answer; returns the records refused for a backwards lifecyclestage."""
        by_trace = {str(p.index): p for p in batch}
        by_id = {p.contact_id: p for p in batch}
        for obj in data.results or []:
            p = by_trace.get(str(obj.object_write_trace_id)) or by_id.get(str(obj.id))
            if p is not None:
                results[p.index] = WriteResult(str(obj.id), WriteStatus.OK, requested_id=p.contact_id)
        backwards: list[_Pending] = []
        for err in getattr(data, "errors", None) or []:
            context = err.context or {}
            targets = [by_trace[t] for t in context.get("objectWriteTraceId") or [] if t in by_trace]
            targets = targets or [by_id[i] for i in context.get("ids") or [] if i in by_id]
            details = err.errors or []
            code = str(details[0].code) if details and details[0].code else str(err.category or "")
            for p in targets:
                if "lifecyclestage" in str(err.message) and "backward" in str(err.message):
                    backwards.append(p)
                results[p.index] = WriteResult(
                    p.contact_id, WriteStatus.FAILED, str(err.message or ""), code, requested_id=p.contact_id
                )
        return backwards

    def _isolate_invalid(self, batch: list[_Pending], results: list[WriteResult | None], exc: FatalApiError) -> None:
        """A 400 refuses the whole batch for one bad value: fail only the records that carry it.

        A property that does not exist or is read-only fails every record writing it (named in the answer);
        any other bad value is found by splitting the batch in halves (log2(100) extra calls at most).
        """
        body = body_json(self.client.last_body)
        message = str(body.get("message") or exc.message)
        named: dict[str, tuple[str, str]] = {}  # property -> (code, message)
        codes: list[str] = []
        for err in body.get("errors") or []:
            code = str(err.get("code") or "")
            codes.append(code)
            if code in _NAME_PROBLEMS:
                for name in (err.get("context") or {}).get("propertyName") or []:
                    named[str(name)] = (code, str(err.get("message") or message))
        bad: dict[int, tuple[str, str]] = {}
        for p in batch:
            hit = next((named[n] for n in p.properties if n in named), None)
            if hit is not None:
                bad[p.index] = hit
        if not bad and len(batch) > 1:  # a bad value somewhere: split the batch until the record is found
            half = len(batch) // 2
            self._write_batch(batch[:half], results)
            self._write_batch(batch[half:], results)
            return
        if not bad:
            bad[batch[0].index] = (codes[0] if codes else str(body.get("category") or "VALIDATION_ERROR"), message)
        for p in batch:
            if p.index in bad:
                code, why = bad[p.index]
                results[p.index] = WriteResult(p.contact_id, WriteStatus.FAILED, why, code, requested_id=p.contact_id)
        good = [p for p in batch if p.index not in bad]
        if good:
            self._write_batch(good, results)


def _batches_without_duplicates(items: Sequence[_Pending], size: int) -> Iterator[list[_Pending]]:
    """Batches of at most ``size`` with no contact twice (HubSpot refuses duplicate ids in one batch)."""
    remaining = list(items)
    while remaining:
        batch: list[_Pending] = []
        seen: set[str] = set()
        rest: list[_Pending] = []
        for item in remaining:
            if len(batch) < size and item.contact_id not in seen:
                batch.append(item)
                seen.add(item.contact_id)
            else:
                rest.append(item)
        yield batch
        remaining = rest
