"""What leadsync wrote, read back from the audit trail: one run's changes, or one contact's history.

Each audit row names the contact by id only; the email and name come from the contact as it was last scored
(the stored scoring inputs), so listing a run's changes reads nothing from the CRM.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.records import FieldValue
from sync.csvsafe import safe_writer
from sync.state import AuditRow, RunRecord, StateStore

CHANGE_COLUMNS = ("run_id", "at", "contact_id", "email", "name", "field", "old", "new", "action", "status")


def text(value: FieldValue) -> str:
    return "" if value is None else str(value)


def contact_label(fields: Mapping[str, FieldValue]) -> tuple[str, str]:
    """(email, name) of a contact from its canonical fields; empty strings when the CRM had none."""
    name = " ".join(text(fields.get(part)).strip() for part in ("first_name", "last_name")).strip()
    return text(fields.get("email")).strip(), name or text(fields.get("name")).strip()


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One value leadsync wrote (or tried to, or restored) on one contact, with who the contact is."""

    run_id: int
    at: datetime
    contact_id: str
    email: str
    name: str
    field: str
    old: FieldValue
    new: FieldValue
    action: str  # write | revert
    status: str  # ok | failed (the CRM refused it)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "at": self.at.isoformat(),
            "contact_id": self.contact_id,
            "email": self.email,
            "name": self.name,
            "field": self.field,
            "old": self.old,
            "new": self.new,
            "action": self.action,
            "status": self.status,
        }

    def cells(self) -> list[str]:
        values = [str(self.run_id), self.at.isoformat(), self.contact_id, self.email, self.name, self.field]
        return [*values, text(self.old), text(self.new), self.action, self.status]


def labels(store: StateStore, crm: str, contact_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """(email, name) by contact id, from what each contact was last scored on."""
    inputs = store.load_inputs(crm, list(dict.fromkeys(contact_ids)))
    return {cid: contact_label(item.contact.fields) for cid, item in inputs.items()}


def _rows(store: StateStore, crm: str, audit: Iterable[AuditRow], chunk: int = 1000) -> Iterator[ChangeRow]:
    batch: list[AuditRow] = []

    def flush() -> Iterator[ChangeRow]:
        known = labels(store, crm, [row.contact_id for row in batch])
        for row in batch:
            email, name = known.get(row.contact_id, ("", ""))
            yield ChangeRow(
                row.run_id,
                row.at,
                row.contact_id,
                email,
                name,
                row.field,
                row.old_value,
                row.new_value,
                str(row.action),
                str(row.status),
            )

    for row in audit:
        batch.append(row)
        if len(batch) >= chunk:
            yield from flush()
            batch = []
    if batch:
        yield from flush()


def run_changes(store: StateStore, run: RunRecord) -> Iterator[ChangeRow]:
    """Every value run ``run`` wrote or tried to write (or restored, for a revert), in the order it did."""
    return _rows(store, run.crm, store.audit_for_run(run.id))


def contact_history(store: StateStore, crm: str, contact_id: str) -> list[ChangeRow]:
    """Every value leadsync wrote (or tried to, or restored) on one contact, oldest first."""
    return list(_rows(store, crm, store.audit_for_contact(crm, contact_id)))


def write_changes_csv(rows: Iterable[ChangeRow], path: Path) -> int:
    """Write ``rows`` to ``path`` (created 0600: it holds CRM data); returns how many rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    count = 0
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
        writer = safe_writer(fh)
        writer.writerow(CHANGE_COLUMNS)
        for row in rows:
            writer.writerow(row.cells())
            count += 1
    return count
