"""Field history: ``LeadHistory`` and ``ContactHistory`` (``Field``, ``OldValue``, ``NewValue``, ``CreatedDate``
per change), queried by SOQL for the fields the contacts hold.

Salesforce keeps history only for fields an admin turned field history tracking on for (up to 20 per
object), so fields without it simply have no rows: the calibration's list of fields set by the sale covers
them.  The id lists are cut to keep each query under the URI limit (``SalesforceClient.id_chunks``), and the
queries go several per Composite call (``query_all``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connectors.records import FieldChangeRecord, FieldValue
from connectors.salesforce.client import SalesforceClient
from connectors.salesforce.mapping import quote, sobject_of, to_datetime

# sObject -> (its history object, the history object's field naming the record)
HISTORY_OBJECTS = {"Lead": ("LeadHistory", "LeadId"), "Contact": ("ContactHistory", "ContactId")}


def history_soqls(client: SalesforceClient, sobject: str, ids: Sequence[str], api_names: Iterable[str]) -> list[str]:
    table, parent = HISTORY_OBJECTS[sobject]
    names = ", ".join(quote(n) for n in dict.fromkeys(api_names))
    select = f"SELECT {parent}, Field, OldValue, NewValue, CreatedDate FROM {table}"
    prefix = f"{select} WHERE Field IN ({names}) AND {parent} IN "
    return client.id_chunks(prefix, ids, " ORDER BY CreatedDate")


def to_changes(
    sobject: str, records: Iterable[dict[str, Any]], key_of: dict[str, str]
) -> dict[str, list[FieldChangeRecord]]:
    """History rows -> changes per record id; ``key_of`` maps a lower-cased API name to the contact field key."""
    _, parent = HISTORY_OBJECTS[sobject]
    out: dict[str, list[FieldChangeRecord]] = {}
    for record in records:
        key = key_of.get(str(record.get("Field") or "").lower())
        at = to_datetime(record.get("CreatedDate"))
        if key is None or at is None or not record.get(parent):
            continue
        change = FieldChangeRecord(key, at, _value(record.get("OldValue")), _value(record.get("NewValue")))
        out.setdefault(str(record[parent]), []).append(change)
    for changes in out.values():
        changes.sort(key=lambda c: (c.changed_at, c.field))
    return out


def _value(value: Any) -> FieldValue:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def read_history(
    client: SalesforceClient,
    read_maps: Mapping[str, Mapping[str, str]],
    contact_ids: Sequence[str],
    fields: Sequence[str],
) -> dict[str, list[FieldChangeRecord]]:
    """The history rows of ``fields`` for ``contact_ids``, per object's read map (field key -> API name)."""
    soqls: list[str] = []
    plans: list[tuple[str, dict[str, str]]] = []
    for sobject, read_map in read_maps.items():
        mine = [i for i in dict.fromkeys(contact_ids) if sobject_of(i) == sobject]
        api = {key: read_map[key] for key in fields if read_map.get(key) and "." not in read_map[key]}
        if not mine or not api:
            continue
        key_of = {name.lower(): key for key, name in api.items()}
        for soql in history_soqls(client, sobject, mine, api.values()):
            soqls.append(soql)
            plans.append((sobject, key_of))
    out: dict[str, list[FieldChangeRecord]] = {}
    for n, records in enumerate(client.query_all(soqls)):
        for record_id, changes in to_changes(plans[n][0], records, plans[n][1]).items():
            out.setdefault(record_id, []).extend(changes)
    return out
