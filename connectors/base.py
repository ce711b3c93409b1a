"""The ``CRMAdapter`` protocol: the few things every CRM connector does, and nothing else.

Cursors are opaque strings owned by the adapter (usually a small JSON document): the sync stores the cursor
of a page only after that page has been scored and written, and hands it back on the next run.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from connectors.records import (
    Activity,
    ApiUsage,
    Contact,
    ContactPage,
    FieldCheck,
    FieldSpec,
    FieldUpdate,
    Outcome,
    Owner,
    WriteResult,
)


@dataclass(frozen=True, slots=True)
class ActivityPage:
    """Activities changed since a cursor, and the cursor to store once they have been processed."""

    activities: tuple[Activity, ...]
    cursor: str | None
    done: bool = False


@runtime_checkable
class CRMAdapter(Protocol):
    """One CRM, seen as normalized records.  Implemented by the HubSpot, Salesforce and Pipedrive adapters."""

    crm: str

    def read_contacts(self, cursor: str | None) -> Iterator[ContactPage]:
        """Contacts changed since ``cursor`` (all of them when None), oldest change first, in pages."""
        ...

    def cursor_at(self, since: datetime) -> str:
        """A cursor valid for both ``read_contacts`` and ``read_activity_changes`` that starts at ``since``."""
        ...

    def get_contacts(self, ids: Sequence[str]) -> list[Contact]:
        """The given contacts, in as few calls as the CRM allows; unknown ids are left out."""
        ...

    def read_activities(self, contact_ids: Sequence[str]) -> Mapping[str, list[Activity]]:
        """Every activity of the given contacts, keyed by contact id, mapped to canonical types."""
        ...

    def read_activity_changes(self, cursor: str | None) -> Iterator[ActivityPage]:
        """Activities created or changed since ``cursor``, so the sync can rescore their contacts."""
        ...

    def read_outcomes(self) -> Iterator[Outcome]:
        """Won and lost outcomes per contact, for calibration."""
        ...

    def read_owners(self) -> list[Owner]:
        """Users who can own contacts."""
        ...

    def check_fields(self, specs: Sequence[FieldSpec], *, create: bool = False) -> FieldCheck:
        """Which write-back fields exist; with ``create``, create the missing ones where rights allow."""
        ...

    def write(self, updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        """Write in the largest batches the CRM allows; one result per update, in the same order."""
        ...

    def usage(self) -> ApiUsage:
        """Calls made by endpoint and the quota left, as last reported by the CRM."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class CountsContacts(Protocol):
    """Optional, beside ``CRMAdapter``: an adapter that can tell cheaply how many contacts a read will yield
    (the sync shows progress with it; HubSpot's search answers it in one call)."""

    def count_contacts(self, cursor: str | None) -> int:
        """How many contacts ``read_contacts(cursor)`` will yield."""
        ...
