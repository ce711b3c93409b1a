"""Contact property history: ``POST /crm/v3/objects/contacts/batch/read`` with ``propertiesWithHistory``.

HubSpot answers every version of each asked property (value, timestamp, source), and refuses more than 50
inputs per batch read when history is asked ("The maximum number of inputs supported in a batch request for
property histories is 50"), so the ids go 50 per call.  A property's versions become changes oldest first:
each version's value is the new value, the version before it the old one (empty before the first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import coerce, parse_time
from connectors.paging import chunks
from connectors.records import FieldChangeRecord, FieldValue

HISTORY_BATCH = 50


def read_field_history(
    client: HubSpotClient,
    contact_ids: Sequence[str],
    properties: Mapping[str, str],
    *,
    timeout: float | None,
) -> dict[str, list[FieldChangeRecord]]:
    """Changes per contact id of the ``properties`` (contact field key -> HubSpot property name)."""
    key_of = {prop: key for key, prop in reversed(list(properties.items())) if prop}
    out: dict[str, list[FieldChangeRecord]] = {}
    if not key_of:
        return out
    for chunk in chunks(dict.fromkeys(str(i) for i in contact_ids), HISTORY_BATCH):
        body = {
            "inputs": [{"id": i} for i in chunk],
            "properties": ["hs_object_id"],
            "propertiesWithHistory": list(key_of),
        }
        data, _, _ = client.call(
            "contacts.batch_read_history",
            partial(client.contacts_batch.read_with_http_info, body, archived=False, _request_timeout=timeout),
        )
        for obj in data.results or []:  # unknown ids come back in errors[]: left out
            changes = _changes(obj.properties_with_history or {}, key_of)
            if changes:
                out[str(obj.id)] = changes
    return out


def _changes(history: Mapping[str, Any], key_of: Mapping[str, str]) -> list[FieldChangeRecord]:
    changes: list[FieldChangeRecord] = []
    for prop, versions in history.items():
        key = key_of.get(prop)
        if key is None:
            continue
        dated = [(parse_time(v.timestamp), v.value) for v in versions or []]
        previous: FieldValue = None
        for at, value in sorted(((at, v) for at, v in dated if at is not None), key=lambda item: item[0]):
            new = coerce(prop, value)
            changes.append(FieldChangeRecord(key, at, previous, new))
            previous = new
    changes.sort(key=lambda c: (c.changed_at, c.field))
    return changes
