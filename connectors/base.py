"""The ``CRMAdapter`` protocol: the few things every CRM connector does, and nothing else.

Cursors are opaque strings owned by the adapter (usually a small JSON document): the sync stores the cursor
of a page only after that page has been scored and written, and hands it back on the next run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from connectors.fields import FieldSchema
from connectors.records import (
    Activity,
    ApiUsage,
    Contact,
    ContactPage,
    FieldChangeRecord,
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

    def contact_field_names(self) -> list[FieldSchema]:
        """The fields of each contact object the adapter reads (names, labels, types), for ``check``."""
        ...

    def write(self, updates: Sequence[FieldUpdate]) -> list[WriteResult]:
        """Write in the largest batches the CRM allows; one result per update, in the same order."""
        ...

    def usage(self) -> ApiUsage:
        """Calls made by endpoint and the quota left, as last reported by the CRM."""
        ...

    def close(self) -> None: ...


class FieldsCache(Protocol):
    """Where an adapter keeps its CRM's field definitions between runs (sync backs it with the state store), so
    a run need not read them again; the adapter re-reads and puts them back when a field it needs is missing."""

    def get(self) -> str | None:
        """The JSON the adapter last put, or None."""
        ...

    def put(self, blob: str) -> None: ...


@runtime_checkable
class ReportsListingPages(Protocol):
    """Optional, beside ``CRMAdapter``: an adapter whose pages of contacts gather several API pages (HubSpot:
    100 contacts a call, up to ``page_size`` a page) calls ``on_listing_page`` with the contacts of each API
    page as it arrives, so progress moves per call rather than per page of contacts."""

    on_listing_page: Callable[[int], None] | None


@runtime_checkable
class CountsContacts(Protocol):
    """Optional, beside ``CRMAdapter``: an adapter that can tell cheaply how many contacts a read will yield
    (the sync shows progress with it; HubSpot's search answers it in one call)."""

    def count_contacts(self, cursor: str | None) -> int:
        """How many contacts ``read_contacts(cursor)`` will yield."""
        ...


@runtime_checkable
class ForgetsRunCaches(Protocol):
    """Optional, beside ``CRMAdapter``: an adapter that keeps what one run read for the next (Pipedrive's
    streamed activities) and drops it when told a run that reads no listing starts (the webhook worker's)."""

    def forget_run_caches(self) -> None: ...


@runtime_checkable
class DescribesBehaviour(Protocol):
    """Optional, beside ``CRMAdapter``: an adapter that can say where this account's behaviour (page views,
    e-mail events...) is read from, one sentence each, for ``leadsync check``."""

    def behaviour_sources(self) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Removal:
    """A contact id that no longer exists in the CRM: deleted (``survivor_id`` None) or merged into another.

    ``removed_at`` is when the CRM says it happened (the deletion or merge time), for ordering and reports.
    """

    id: str
    survivor_id: str | None = None
    removed_at: datetime | None = None
    object_type: str = "contact"

    @property
    def merged(self) -> bool:
        return self.survivor_id is not None


@dataclass(frozen=True, slots=True)
class RemovalPage:
    """Removals found since a cursor, and the cursor to store once they have been processed."""

    removals: tuple[Removal, ...]
    cursor: str | None
    done: bool = False


@runtime_checkable
class ReadsRemovals(Protocol):
    """Optional, beside ``CRMAdapter``: an adapter that can list contacts deleted or merged away since a cursor
    (HubSpot's archived contacts).  Salesforce's incremental read returns them with the changes instead
    (``ContactPage.deleted_ids``, ``Contact.merged_from``); Pipedrive's reads show neither (a write answers 404).

    A survivor's merges may also arrive on the contacts read (``Contact.merged_from``); the sync treats both
    the same, so an adapter may report a merge either way or both.  ``read_removals(None)`` starts from now
    (nothing older is needed: a first backfill never saw the removed ids).  The cursor is opaque, like the
    contact cursor; ``removals_cursor_at(since)`` gives one that starts at ``since``.
    """

    def read_removals(self, cursor: str | None) -> Iterator[RemovalPage]:
        """Contacts deleted or merged away since ``cursor``, oldest first, in pages."""
        ...

    def removals_cursor_at(self, since: datetime) -> str:
        """A cursor for ``read_removals`` that starts at ``since``."""
        ...


@runtime_checkable
class ReadsFieldHistory(Protocol):
    """Optional, beside ``CRMAdapter``: an adapter that can read the history of contact fields (HubSpot's
    ``propertiesWithHistory``, Salesforce's ``LeadHistory``/``ContactHistory``), so calibration can take each
    contact's fields as they stood when its outcome was decided."""

    def field_history(self, contact_ids: Sequence[str], fields: Sequence[str]) -> Mapping[str, list[FieldChangeRecord]]:
        """Changes of ``fields`` (``Contact.fields`` keys) per contact id, oldest first; fields the CRM keeps
        no history for (or the adapter cannot map) are left out, and so are contacts without any change."""
        ...
